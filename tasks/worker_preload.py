"""Imported by the forkserver of the confirmation workers (tasks/own_process.py), after the
confirmation code: what every worker would otherwise do again on its first call is done here
once, before the fork.

A deliver run forks a worker per portal pass, some twenty for 10,000 orders. Each one used to
import psycopg on its first query (SQLAlchemy loads the driver with the first engine), build
the TLS context (reading and parsing the CA bundle), configure the mappers and import uvloop
and the carrier tables. On a 2-core machine that was a fifth of the workers' CPU: 18.8-22.4 s
for a 10,000-order chain on PostgreSQL, 15.1-15.4 s with psycopg, TLS context and mappers
loaded here (bench/deliver_chain.py). The CA bundle is read once per run, when the forkserver
starts (SSL_CERT_FILE as it is then).
"""

from __future__ import annotations

import encodings.idna  # noqa: F401  (host names in URLs)
import gc

import psycopg  # noqa: F401  (the driver of postgresql+psycopg URLs)
import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401
import uvloop  # noqa: F401  (a worker's loop: tasks/own_loop.py; installed wherever Linux is)
from sqlalchemy.orm import configure_mappers

import core.carriers  # noqa: F401  (tracking URLs: Rakuten)
import db.models  # noqa: F401  (the mappers configured below)
from connectors.http import ssl_context

configure_mappers()
ssl_context()
# The workers are forked from here: their collector skips all of the above (core/collector.py).
# A 10,000-order run's workers spent 0.33 s of CPU in the collector's older generations, 0.02 s
# with this.
gc.freeze()
