"""Uploading a carrier export on the English imports page of a real browser (Debian's
Chromium) and reaching the import's result page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from tests.helpers import numbers, seed_orders
from tests.test_browser import browser, operator_page, screenshots, served

pytestmark = pytest.mark.browser
__all__ = ["browser", "screenshots", "served"]  # the fixtures this file shares

EXPORTS = Path(__file__).parent / "fixtures" / "carrier_exports"


def test_an_operator_uploads_a_dpd_export_and_sees_it_imported(
    settings: Settings, browser: Any, served: str, screenshots: Path, tmp_path: Path
) -> None:
    samples = seed_orders(settings.db_url, 2)
    line = f"{numbers('dpd', 1)[0]};{samples[0].order['order_no']};;Max;10115;Berlin;1,2;\n"
    export = tmp_path / "dpd-export.csv"
    export.write_bytes((EXPORTS / "dpd.csv").read_bytes() + line.encode())
    page = operator_page(browser, locale="en-GB", viewport={"width": 1280, "height": 900})
    page.goto(f"{served}/imports")
    page.set_input_files("#upload-file", str(export))
    page.get_by_role("button", name="Upload and import").click()
    page.wait_for_url(f"{served}/imports/*")
    # the page reloads itself until the import is done; the import's flow starts a temporary
    # Prefect server first, which took over a minute on a busy test machine
    page.wait_for_selector("span.import-done", timeout=240_000)
    assert "1 imported" in page.inner_text("#counts")
    page.screenshot(path=str(screenshots / "import-upload.png"), full_page=True)
    page.context.close()
