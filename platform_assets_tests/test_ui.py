"""The engineer's day in the Dagster UI, in a real browser: Debian's Chromium driven by Playwright
on `make dev`'s embedded default (the embedded SFTP server, the demo's days, `dg dev` with its
daemon). Each step saves a screenshot to ``build/ui/`` (``make ui-screenshots`` writes them to
``docs/ui/``, the README's "Working in the UI"); a failing test saves a full-page screenshot to
``build/ui/failures/<test>.png``. ``PLATFORM_UI_TEST_REUSE="<url> <data dir>"`` runs the tests
against a `make dev` already running (minutes saved while changing them)."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from platform_assets_tests.csvfiles import (
    CONVERSION_HEADER,
    conversion,
    conversion_key,
    write_csv,
)
from platform_assets_tests.ui import CHROMIUM, SCREENSHOTS, DevServer, dev_server

pytestmark = pytest.mark.slow
DAYS = 4

CONVERSIONS_URL = "/assets/attentive_mobile/conversions"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    if not CHROMIUM.exists():
        pytest.fail(f"Debian's chromium is needed at {CHROMIUM}: `make browser` installs it")
    reuse = os.environ.get("PLATFORM_UI_TEST_REUSE")  # "<url> <data dir>" of a running `make dev`
    if reuse:
        url, data_dir = reuse.split()
        yield DevServer(url, Path(data_dir), Path(data_dir) / "dev.log")
        return
    with dev_server(tmp_path_factory.mktemp("ui"), days=DAYS, rows=200) as running:
        yield running


@pytest.fixture(scope="module")
def page(server: DevServer) -> Iterator[Page]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1440, "height": 960})
        context.set_default_timeout(60_000)
        page = context.new_page()
        # the first visit's "Join the Dagster community" prompt, whenever it shows: skip it
        page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda skip: skip.click())
        yield page
        browser.close()


@pytest.fixture(autouse=True)
def screenshot_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "page" in request.fixturenames:
        page: Page = request.getfixturevalue("page")  # noqa: F811 - the fixture's page
        failures = SCREENSHOTS / "failures"
        failures.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(failures / f"{request.node.name}.png"), full_page=True)


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def _rows(server: DevServer, sql: str) -> list[tuple]:
    """Query the warehouse (read-only; a load holding its write lock is waited for)."""
    for _ in range(60):
        try:
            with duckdb.connect(str(server.warehouse), read_only=True) as con:
                return con.execute(sql).fetchall()
        except duckdb.IOException:
            time.sleep(1)
    raise AssertionError(f"{server.warehouse} stayed locked")


def _open(page: Page, url: str) -> None:
    page.goto(url)


def _materialize_from_the_ui(page: Page, server: DevServer, partition: str) -> str:
    """Asset page -> Materialize… -> type the partition -> Launch 1 run -> the toast's View; wait
    on the run's page until it ends. Returns the run's status."""
    _open(page, server.url + CONVERSIONS_URL)
    page.locator("button", has_text="Materialize…").first.click()
    dialog = page.get_by_role("dialog")
    selection = dialog.get_by_placeholder("No matching partitions")
    selection.fill(partition)
    selection.press("Enter")
    shot(page, "materialize-dialog")
    dialog.locator("button", has_text="Launch 1 run").click()
    page.locator("a[href*='/runs/']", has_text="View").first.click()  # the toast: "Launched run …"
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    ended = page.get_by_text(re.compile(r"^(Success|Failure)$")).first
    expect(ended).to_be_visible(timeout=180_000)
    return ended.inner_text()


def test_materialize_a_day_from_the_ui_shows_its_row_count(page: Page, server: DevServer):
    _open(page, server.url + "/assets")
    link = page.locator(f'a[href$="{CONVERSIONS_URL}"]').first  # the catalog's row of the table
    expect(link).to_be_visible()
    shot(page, "catalog")
    link.click()
    expect(page).to_have_url(re.compile(re.escape(CONVERSIONS_URL)))
    day = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    _materialize_from_the_ui(page, server, day)
    file = server.sftp_root / "attentive" / f"attentive_conversions_{day.replace('-', '')}.csv"
    with file.open(newline="") as fh:
        rows = sum(1 for _ in csv.DictReader(fh))  # records, not lines: texts hold newlines
    _open(page, server.url + CONVERSIONS_URL + "?view=partitions")
    page.get_by_text(day, exact=True).first.click()
    metadata = page.locator("tr", has_text="dagster/row_count").first
    expect(metadata).to_contain_text(f"{rows:,}")
    shot(page, "materialized-partition")


def test_a_bad_day_shows_as_failed_on_the_checks_tab_with_rule_and_line(
    page: Page, server: DevServer
):
    day = dt.datetime.now(dt.UTC).date()  # today's partition: no demo file yet
    folder = server.sftp_root / "attentive"
    rows = [conversion(f"+1555000{i:04d}", ts=f"{day}T10:00:{i:02d}Z") for i in range(5)]
    rows[3]["phone"] = "555-0100"  # line 5
    write_csv(folder / f"attentive_conversions_{day:%Y%m%d}.csv", CONVERSION_HEADER, rows)
    _materialize_from_the_ui(page, server, day.isoformat())
    _open(page, server.url + CONVERSIONS_URL + "?view=checks")
    page.get_by_text("pandera_schema", exact=True).first.click()
    expect(page.get_by_text("e164_phone").first).to_be_visible()
    expect(page.get_by_text("first at line 5").first).to_be_visible()
    shot(page, "check-failed-day")


def test_a_resent_file_is_loaded_by_the_sensor(page: Page, server: DevServer, tmp_path: Path):
    _open(page, server.url + "/automation")
    row = (
        page.locator("div")
        .filter(has=page.get_by_text("attentive_new_files_sensor", exact=True))
        .filter(has=page.locator("input[type=checkbox]"))
        .last
    )
    row.locator("input[type=checkbox]").last.check(force=True)  # the row's on/off switch
    shot(page, "sensor-on")
    # the vendor re-sends a loaded day with one more row (written aside, then moved in whole)
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=DAYS - 1)
    name = f"attentive_conversions_{day:%Y%m%d}.csv"
    staged = tmp_path / name
    shutil.copyfile(server.sftp_root / "attentive" / name, staged)
    extra = conversion("+15559990001", ts=f"{day}T23:59:59Z")
    with staged.open("a", newline="") as fh:
        write_csv(tmp_path / "row.csv", CONVERSION_HEADER, [extra])
        fh.write((tmp_path / "row.csv").read_text().split("\n", 1)[1])
    shutil.move(staged, server.sftp_root / "attentive" / name)
    key = conversion_key(extra)
    deadline = time.monotonic() + 240
    query = f"SELECT 1 FROM attentive_mobile.conversions WHERE __sync_key = '{key}'"
    while not _rows(server, query):
        if time.monotonic() > deadline:
            pytest.fail("the sensor's run did not load the re-sent file in 4 minutes")
        time.sleep(3)
    _open(page, server.url + "/runs")
    expect(page.locator("tbody tr").first).to_contain_text("attentive_new_files_sensor")
    shot(page, "sensor-run")


def test_a_mart_shows_its_vendor_tables_upstream(page: Page, server: DevServer):
    _open(page, server.url + "/assets/marts/sms_daily_performance?view=lineage")
    page.get_by_role("button", name="Upstream").click()
    page.get_by_role("button", name="All", exact=True).click()
    for vendor_table in ("conversions", "fct_attribution"):  # Attentive's and Postscript's
        expect(page.get_by_text(vendor_table, exact=True).first).to_be_visible()
    shot(page, "mart-lineage")
