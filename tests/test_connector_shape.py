"""Every portal connector package has the same shape: auth, client, mapping (pure), connector;
no package root under connectors/ re-exports anything; the registry opens each portal through
`from_account`."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.registry import CONNECTORS, one_tracking_number, skip_reason
from core.accounts import AccountOptions

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["amazon", "ebay", "kaufland", "hood", "rakuten", "otto", "dhl_parcel"]
MODULES = ("auth", "client", "mapping", "connector")


@pytest.mark.parametrize("package", PACKAGES)
def test_each_connector_package_has_the_same_four_modules(package: str) -> None:
    present = {p.stem for p in (ROOT / "connectors" / package).glob("*.py")}
    assert set(MODULES) <= present


PACKAGE_ROOTS = sorted(
    str(p.relative_to(ROOT).parent) for p in (ROOT / "connectors").rglob("__init__.py")
)


@pytest.mark.parametrize("package", PACKAGE_ROOTS)
def test_a_package_root_imports_nothing(package: str) -> None:
    """No re-exports anywhere under connectors/: callers import from the defining module."""
    tree = ast.parse((ROOT / package / "__init__.py").read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert imports == []


def test_mappings_import_neither_http_nor_the_database() -> None:
    probe = (
        "import sys\n"
        + "".join(f"import connectors.{p}.mapping\n" for p in PACKAGES)
        + "print(sorted(m for m in ('httpx', 'aiohttp', 'sqlalchemy', 'db', 'prefect')"
        " if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_registry_knows_every_confirming_portal() -> None:
    assert set(CONNECTORS) == {"amazon", "ebay", "kaufland", "hood", "rakuten", "otto"}


@pytest.mark.parametrize("portal", sorted(CONNECTORS))
def test_every_connector_opens_from_an_account_the_same_way(portal: str) -> None:
    signature = inspect.signature(CONNECTORS[portal].from_account)
    assert list(signature.parameters) == ["options", "simulator", "transport"]
    assert signature.parameters["simulator"].default is False


def test_the_dhl_closing_client_opens_from_an_account_the_same_way() -> None:
    from connectors.dhl_parcel.connector import DhlParcelClient

    signature = inspect.signature(DhlParcelClient.from_account)
    assert list(signature.parameters) == ["options", "simulator", "transport"]


def test_the_confirmation_tasks_hold_no_portal_facts() -> None:
    """Per-portal rules live in the connectors; tasks/confirmations.py names no portal."""
    source = (ROOT / "tasks" / "confirmations.py").read_text(encoding="utf-8")
    named = [p for p in CONNECTORS if f'"{p}"' in source or f"'{p}'" in source]
    assert named == []


@pytest.mark.parametrize(
    ("portal", "words"),
    [
        ("kaufland", "mark-as-sent is off for Kaufland account main (accounts.toml: confirm"),
        ("rakuten", "Rakuten.de closed in October 2020"),
        ("ebay", "confirmation is switched off for ebay account main (accounts.toml: confirm"),
    ],
)
def test_a_switched_off_account_is_skipped_in_its_portals_words(portal: str, words: str) -> None:
    assert skip_reason(AccountOptions(portal, "main", confirm=False)).startswith(words)


def test_only_rakuten_takes_one_tracking_number_per_order() -> None:
    takes_one = {p for p in CONNECTORS if one_tracking_number(p) is not None}
    assert takes_one == {"rakuten"}
    assert "first parcel" in (one_tracking_number("rakuten") or "")
