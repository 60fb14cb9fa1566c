"""Match a column against thousands of keys in one statement on SQLite and PostgreSQL.

An IN list of 50,000 bound parameters is slow to compile and hits SQLite's variable limit, so
keys travel as one parameter: a JSON array on SQLite (json_each), an array on PostgreSQL (ANY).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def in_keys(session: Session, column: Any, keys: Sequence[str | int]) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        element_type = String() if keys and isinstance(keys[0], str) else column.type
        param = bindparam(None, list(keys), type_=ARRAY(element_type))
        return column == any_(param)
    values = func.json_each(bindparam(None, json.dumps(list(keys)))).table_valued("value")
    return column.in_(select(values.c.value))
