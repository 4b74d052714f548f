"""The engineer's day in the Dagster UI, in a real browser: Debian's Chromium driven by Playwright
on `make dev`'s embedded default (the embedded SFTP server, the demo's days, `dg dev` with its
daemon). Each step saves a screenshot to ``build/ui/`` (``make ui-screenshots`` writes them to
``docs/ui/``, the README's "Working in the UI"); a failing test saves a full-page screenshot to
``build/ui/failures/<test>.png``. ``PLATFORM_UI_TEST_REUSE="<url> <data dir>"`` runs the tests
against a `make dev` already running (minutes saved while changing them)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from platform_assets_tests.csvfiles import (
    CONVERSION_HEADER,
    conversion,
    conversion_key,
    write_csv,
)
from platform_assets_tests.ui import CHROMIUM, SCREENSHOTS, DevServer, dev_server

pytestmark = pytest.mark.slow
DAYS = 4
TODAY = dt.datetime.now(dt.UTC).date()

CONVERSIONS_URL = "/assets/attentive_mobile/conversions"
SENSOR_URL = "/locations/platform_assets/sensors/attentive_new_files_sensor"


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
        # the first visit's "Join the Dagster community" prompt (once per browser profile): skip it
        page.goto(server.url + "/assets")
        skip = page.get_by_role("button", name="Skip")
        try:
            skip.click(timeout=20_000)
        except PlaywrightTimeout:
            pass  # not shown by this Dagster version
        page.add_locator_handler(skip, lambda button: button.click())  # should it come back
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


def _launch(page: Page, server: DevServer, selection: str, button: str) -> float:
    """Asset page -> Materialize… -> type the partitions -> ``button`` -> the toast's "View"
    (the run's or the backfill's page). Returns when the launch was clicked."""
    _open(page, server.url + CONVERSIONS_URL)
    page.locator("button", has_text="Materialize…").first.click()
    dialog = page.get_by_role("dialog")
    field = dialog.get_by_placeholder("No matching partitions")
    field.fill(selection)
    field.press("Enter")
    expect(dialog.locator("button", has_text=button)).to_be_enabled()
    shot(page, button.lower().replace(" ", "-"))  # launch-1-run, launch-backfill
    return_after = time.monotonic()
    dialog.locator("button", has_text=button).click()
    page.locator("a[href*='/runs/']", has_text="View").first.click()  # toast: "Launched run …"
    return return_after


def _run_ends(page: Page) -> str:
    """On a run's page: wait until it ends; its status."""
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    ended = page.get_by_text(re.compile(r"^(Success|Failure)$")).first
    expect(ended).to_be_visible(timeout=240_000)
    return ended.inner_text()


def _pick_partition(page: Page, day: dt.date) -> None:
    """The Partitions tab: select ``day`` in its list (an entry titled by the key; the status
    bar's end labels hold the same text)."""
    page.locator(f'[title="{day}"]').first.click()


def _records(server: DevServer, day: dt.date) -> int:
    """Rows of the day's conversions file, counted by Python's csv (texts hold newlines)."""
    file = server.sftp_root / "attentive" / f"attentive_conversions_{day:%Y%m%d}.csv"
    with file.open(newline="") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def _day_rows(server: DevServer, day: dt.date) -> int:
    sql = f"SELECT count(*) FROM attentive_mobile.conversions WHERE __file_date = '{day}'"
    return _rows(server, sql)[0][0]


def _record_timing(name: str, seconds: float) -> None:
    """Click-to-done times, for the README's figure (``build/ui/timings.json``)."""
    path = SCREENSHOTS / "timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[name] = round(seconds, 1)
    path.write_text(json.dumps(timings, indent=2) + "\n")


def test_materialize_a_day_from_the_ui_shows_its_row_count(page: Page, server: DevServer):
    _open(page, server.url + "/assets")
    link = page.locator(f'a[href$="{CONVERSIONS_URL}"]').first  # the catalog's row of the table
    expect(link).to_be_visible()
    shot(page, "catalog")
    link.click()
    expect(page).to_have_url(re.compile(re.escape(CONVERSIONS_URL)))
    day = TODAY - dt.timedelta(days=1)
    clicked = _launch(page, server, day.isoformat(), "Launch 1 run")
    assert _run_ends(page) == "Success"
    _record_timing("one partition, click to done (s)", time.monotonic() - clicked)
    shot(page, "run-succeeded")
    rows = _records(server, day)
    _open(page, server.url + CONVERSIONS_URL + "?view=partitions")
    _pick_partition(page, day)
    metadata = page.locator("tr", has_text="dagster/row_count").first
    expect(metadata).to_contain_text(f"{rows:,}")
    assert _day_rows(server, day) == rows
    shot(page, "materialized-partition")


def test_backfill_a_range_from_the_ui(page: Page, server: DevServer):
    first, last = TODAY - dt.timedelta(days=DAYS), TODAY - dt.timedelta(days=DAYS - 2)
    clicked = _launch(page, server, f"[{first}...{last}]", "Launch backfill")
    expect(page).to_have_url(re.compile(r"/runs/b/"))
    # the overview's "Status" field (not the "Succeeded" column of the per-asset table)
    status = page.get_by_text("Status", exact=True).locator("xpath=following-sibling::*[1]")
    expect(status).to_have_text(re.compile(r"Succeeded|Failed|Completed"), timeout=240_000)
    _record_timing("three-day backfill, click to done (s)", time.monotonic() - clicked)
    expect(status).to_have_text("Succeeded")
    expect(page.get_by_text("100% completed")).to_be_visible()
    shot(page, "backfill-succeeded")
    for n in range((last - first).days + 1):
        day = first + dt.timedelta(days=n)
        assert _day_rows(server, day) == _records(server, day)


def test_a_bad_day_fails_its_check_shows_its_rejects_and_reruns_once_fixed(
    page: Page, server: DevServer
):
    day = TODAY  # today's partition: no demo file yet
    name = f"attentive_conversions_{day:%Y%m%d}.csv"
    rows = [conversion(f"+1555000{i:04d}", ts=f"{day}T10:00:{i:02d}Z") for i in range(5)]
    rows[3]["phone"] = "555-0100"  # line 5 (the header is line 1)
    write_csv(server.sftp_root / "attentive" / name, CONVERSION_HEADER, rows)
    _launch(page, server, day.isoformat(), "Launch 1 run")
    assert _run_ends(page) == "Failure"
    failed_run = page.url
    # the Checks tab: this day failed, with the rule, the column and the line
    _open(page, server.url + CONVERSIONS_URL + "?view=checks")
    page.get_by_text("pandera_schema", exact=True).first.click()
    latest = page.get_by_text(re.compile("rows failed: column 'phone' rule e164_phone"))
    expect(latest.first).to_contain_text("first at line 5")
    expect(page.get_by_text(day.isoformat(), exact=True).first).to_be_visible()
    expect(page.get_by_text("Failed", exact=True).first).to_be_visible()
    shot(page, "check-failed-day")
    # the day's rejects: an asset of its own, its row count for that day
    _open(page, server.url + CONVERSIONS_URL + "__rejects?view=partitions")
    _pick_partition(page, day)
    count = page.locator("tr", has_text="dagster/row_count").first
    expect(count).to_have_text(re.compile(r"dagster/row_count\s*1\s*$"))
    shot(page, "rejects")
    [(line, value)] = _rows(
        server,
        "SELECT line, value FROM attentive_mobile.conversions__rejects "
        f"WHERE __file_date = '{day}'",
    )
    assert (line, value) == (5, "555-0100")  # the rejects table keeps the value
    # the vendor re-sends the day corrected; the engineer re-executes the failed run
    rows[3]["phone"] = "+15550000100"
    write_csv(server.sftp_root / "attentive" / name, CONVERSION_HEADER, rows)
    _open(page, failed_run)
    rerun = page.get_by_role("button", name=re.compile("^Re-execute all"))
    shot(page, "failed-run")
    rerun.click()
    expect(page).not_to_have_url(failed_run)  # the new run's page
    assert _run_ends(page) == "Success"
    shot(page, "reexecuted-day")
    assert _day_rows(server, day) == 5


def test_a_resent_file_is_loaded_by_the_sensor(page: Page, server: DevServer, tmp_path: Path):
    runs_before = _rows(server, "SELECT count(DISTINCT run_id) FROM platform.loads")[0][0]
    _open(page, server.url + SENSOR_URL)
    switch = page.locator("label", has=page.locator("input[type=checkbox]")).first  # "Running"
    switch.click()
    expect(switch.locator("input")).to_be_checked()
    shot(page, "sensor-on")
    # the vendor re-sends a loaded day with one more row (written aside, then moved in whole)
    day = TODAY - dt.timedelta(days=DAYS - 1)
    name = f"attentive_conversions_{day:%Y%m%d}.csv"
    staged = tmp_path / name
    extra = conversion("+15559990001", ts=f"{day}T23:59:59Z")
    write_csv(tmp_path / "row.csv", CONVERSION_HEADER, [extra])
    staged.write_text(
        (server.sftp_root / "attentive" / name).read_text()
        + (tmp_path / "row.csv").read_text().split("\n", 1)[1]
    )
    shutil.move(staged, server.sftp_root / "attentive" / name)
    key = conversion_key(extra)
    deadline = time.monotonic() + 240
    query = f"SELECT 1 FROM attentive_mobile.conversions WHERE __sync_key = '{key}'"
    while not _rows(server, query):
        if time.monotonic() > deadline:
            pytest.fail("the sensor's run did not load the re-sent file in 4 minutes")
        time.sleep(3)
    assert _day_rows(server, day) == _records(server, day)
    # its run in the sensor's Runs tab; the files already loaded were not loaded again
    page.get_by_role("button", name="Runs", exact=True).click()
    expect(page.get_by_text(f"partition: {day}").first).to_be_visible()
    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=120_000)
    shot(page, "sensor-run")
    runs_after = _rows(server, "SELECT count(DISTINCT run_id) FROM platform.loads")[0][0]
    assert runs_after == runs_before + 1


def test_a_mart_shows_its_vendor_tables_upstream(page: Page, server: DevServer):
    _open(page, server.url + "/assets/marts/sms_daily_performance?view=lineage")
    page.get_by_role("button", name="Upstream").click()
    page.get_by_role("button", name="All", exact=True).click()
    for vendor_table in ("conversions", "fct_attribution"):  # Attentive's and Postscript's
        expect(page.get_by_text(vendor_table, exact=True).first).to_be_visible()
    # the nodes' live data (not a speed check: beside two other workers it took over 5 s)
    expect(page.get_by_text(re.compile("^Loading"))).to_have_count(0, timeout=60_000)
    shot(page, "mart-lineage")
