"""The loader's rules on Attentive's tables: columns, keys, types, quoting, dedupe, upserts,
rejects, atomicity and malformed files, with values checked independently.

The files are read through the file-source interface from a local folder
(:class:`LocalFolderResource`, the same contract the SFTP resource implements): a rule needs no
network to be proven. The other vendors' tables have ``test_vendor_tables.py`` (local too); the
Dagster layer loads every vendor over the real sshd (``integration/test_materialize.py``) and
the SFTP transport has ``integration/test_sftp.py``."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import re
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from platform_assets.core.errors import (
    BadFileError,
    RemoteFileChanged,
    RemoteFileMissing,
    WarehouseBusy,
)
from platform_assets.core.transport.files import LocalFolderResource
from platform_assets.core.warehouse import LoaderSettings, Warehouse
from platform_assets.defs.attentive import CONVERSIONS, NOTIFICATIONS
from platform_assets.ingest.loader.model import RejectsExceeded
from platform_assets.ingest.loader.partition import load_partition
from platform_assets_tests.csvfiles import (
    CONVERSION_HEADER,
    NOTIFICATION_HEADER,
    conversion,
    conversion_key,
    notification,
    notification_key,
    write_csv,
    ymd,
)
from platform_assets_tests.warehouses import (
    BACKEND_PARAMS,
    new_warehouse,
    reading,
    untouched,
    writing,
)

D1 = dt.date(2026, 10, 1)
D2 = dt.date(2026, 10, 2)


@pytest.fixture(params=BACKEND_PARAMS)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> str | Warehouse:
    """The DuckDB file, and a DuckLake under ``make test-lake`` (``warehouses.py``)."""
    return new_warehouse(request, tmp_path)


@pytest.fixture
def warehouse_file(tmp_path: Path) -> str:
    """A DuckDB file, for what only a file has (its write lock)."""
    return str(tmp_path / "warehouse.duckdb")


@pytest.fixture
def folder(tmp_path):
    """The vendor's folder (a local one: see the module docstring)."""
    path = tmp_path / "vendor"
    path.mkdir()
    return path


@pytest.fixture
def files(folder) -> LocalFolderResource:
    return LocalFolderResource(remote_dir=str(folder))


def put_conversions(folder, day, rows, **kw):
    return write_csv(
        folder / f"attentive_conversions_{ymd(day)}.csv", CONVERSION_HEADER, rows, **kw
    )


def put_notifications(folder, day, rows, header=NOTIFICATION_HEADER, **kw):
    return write_csv(folder / f"attentive_email_SMS_{ymd(day)}.csv", header, rows, **kw)


def query(warehouse, sql, params=None):
    with reading(warehouse) as con:
        return con.execute(sql, params or []).fetchall()


def dump(warehouse, table):
    return query(warehouse, f"SELECT * FROM {table} ORDER BY __sync_key")


def test_tables_have_exactly_the_documented_columns(files, folder, warehouse):
    put_conversions(folder, D1, [conversion()])
    put_notifications(folder, D1, [notification()])
    load_partition(CONVERSIONS, D1, files, warehouse)
    load_partition(NOTIFICATIONS, D1, files, warehouse)
    conv = query(
        warehouse,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema='attentive_mobile' AND table_name='conversions' "
        "ORDER BY ordinal_position",
    )
    assert conv == [
        ("conversion_id", "VARCHAR"),
        ("phone", "VARCHAR"),
        ("client_id", "VARCHAR"),
        ("amount", "DECIMAL(18,4)"),
        ("conversion_at", "TIMESTAMP"),
        ("message_id", "VARCHAR"),
        ("message_name", "VARCHAR"),
        ("message_text", "VARCHAR"),
        ("message_type", "VARCHAR"),
        ("message_subtype", "VARCHAR"),
        ("__sync_key", "VARCHAR"),
        ("__file_date", "DATE"),
        ("__source_file", "VARCHAR"),
        ("__loaded_at", "TIMESTAMP"),
    ]
    notif = [
        c
        for c, _ in query(
            warehouse,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema='attentive_mobile' AND table_name='notifications' "
            "ORDER BY ordinal_position",
        )
    ]
    assert notif == [
        "notification_id",
        "type",
        "phone",
        "client_id",
        "email",
        "event_at",
        "join_source",
        "message_id",
        "message_name",
        "message_text",
        "message_type",
        "message_subtype",
        "message_at",
        "creative_id",
        "creative_name",
        "creative_type",
        "creative_subtype",
        "__sync_key",
        "__file_date",
        "__source_file",
        "__loaded_at",
    ]


def test_keys_equal_md5_of_the_documented_strings(files, folder, warehouse):
    conv_rows = [
        conversion("+15551230001", "2026-10-01T10:00:00.123456Z"),
        conversion("+15551230002", "2026-10-01 10:00:00"),
        conversion(None, "2026-10-01T11:00:00+02:00"),  # missing phone counts as ''
    ]
    notif_rows = [
        notification("CLICK", "+15551230001", "a@example.com", "2026-10-01T10:00:00.999Z"),
        notification("JOIN", "+15551230002", None, "2026-10-01T10:00:01Z"),  # no email
        notification("EMAIL_OPEN", None, "zoë@exämple.com", "2026-10-01T10:00:02Z"),  # no phone
    ]
    put_conversions(folder, D1, conv_rows)
    put_notifications(folder, D1, notif_rows)
    load_partition(CONVERSIONS, D1, files, warehouse)
    load_partition(NOTIFICATIONS, D1, files, warehouse)
    got = query(warehouse, "SELECT conversion_id, __sync_key FROM attentive_mobile.conversions")
    assert all(a == b for a, b in got)
    assert sorted(k for k, _ in got) == sorted(conversion_key(r) for r in conv_rows)
    got = query(warehouse, "SELECT notification_id, __sync_key FROM attentive_mobile.notifications")
    assert all(a == b for a, b in got)
    assert sorted(k for k, _ in got) == sorted(notification_key(r) for r in notif_rows)


def test_values_are_typed_and_timestamps_stored_as_utc(files, folder, warehouse):
    put_conversions(
        folder,
        D1,
        [
            conversion("+15551230001", "2026-10-01T10:00:00+02:00", amount="1234.5678"),
            conversion("+15551230002", "2026-10-01 23:59:59.5", amount="-3"),
        ],
    )
    load_partition(CONVERSIONS, D1, files, warehouse)
    rows = query(
        warehouse,
        "SELECT phone, amount, conversion_at FROM attentive_mobile.conversions ORDER BY phone",
    )
    assert rows == [
        ("+15551230001", Decimal("1234.5678"), dt.datetime(2026, 10, 1, 8, 0, 0)),
        ("+15551230002", Decimal("-3.0000"), dt.datetime(2026, 10, 1, 23, 59, 59, 500000)),
    ]


def test_quoting_embedded_newlines_and_delimiters_survive(files, folder, warehouse):
    text = 'Line one, with a comma\nline "two";\r\nthree'
    put_conversions(folder, D1, [conversion(message_text=text)])
    load_partition(CONVERSIONS, D1, files, warehouse)
    assert query(warehouse, "SELECT message_text FROM attentive_mobile.conversions") == [(text,)]


def test_columns_matched_by_name_reordered_extra_and_bom(files, folder, warehouse):
    header = list(reversed(NOTIFICATION_HEADER)) + ["brand_new_column"]
    header[0] = header[0].upper()  # CREATIVE_SUBTYPE: header case does not matter
    row = notification(brand_new_column="x")
    row["CREATIVE_SUBTYPE"] = row["creative_subtype"]
    put_notifications(folder, D1, [row], header=header, bom=True)
    result = load_partition(NOTIFICATIONS, D1, files, warehouse)
    assert result.extra_columns == ["brand_new_column"]
    got = query(
        warehouse,
        "SELECT type, email, creative_subtype, __sync_key FROM attentive_mobile.notifications",
    )
    assert got == [("CLICK", "a@example.com", "SMS_ONLY", notification_key(row))]


def test_missing_documented_column_fails_naming_file_and_column(files, folder, warehouse):
    header = [h for h in CONVERSION_HEADER if h != "amount"]
    write_csv(folder / f"attentive_conversions_{ymd(D1)}.csv", header, [conversion()])
    with pytest.raises(BadFileError) as info:
        load_partition(CONVERSIONS, D1, files, warehouse)
    message = str(info.value)
    assert f"attentive_conversions_{ymd(D1)}.csv" in message
    assert "'amount'" in message and "line 1" in message


def test_repeated_key_in_one_file_last_row_wins(files, folder, warehouse):
    rows = [
        conversion("+15551230001", "2026-10-01T10:00:00.100Z", amount="1.00"),
        conversion("+15551230002", "2026-10-01T10:00:00Z", amount="5.00"),
        # same phone and first 19 characters of timestamp: same key, later row wins
        conversion("+15551230001", "2026-10-01T10:00:00.900Z", amount="2.00"),
    ]
    put_conversions(folder, D1, rows)
    result = load_partition(CONVERSIONS, D1, files, warehouse)
    assert (result.rows_read, result.duplicates_dropped, result.rows_inserted) == (3, 1, 2)
    got = dict(query(warehouse, "SELECT __sync_key, amount FROM attentive_mobile.conversions"))
    assert got == {conversion_key(rows[2]): Decimal("2.00"), conversion_key(rows[1]): Decimal("5")}


def test_rerunning_a_partition_leaves_the_table_identical(files, folder, warehouse):
    put_notifications(folder, D1, [notification(ts=f"2026-10-01T10:00:0{i}Z") for i in range(5)])
    first = load_partition(NOTIFICATIONS, D1, files, warehouse)
    before = dump(warehouse, "attentive_mobile.notifications")
    second = load_partition(NOTIFICATIONS, D1, files, warehouse)
    assert dump(warehouse, "attentive_mobile.notifications") == before  # __loaded_at included
    assert (first.rows_inserted, second.rows_inserted, second.rows_unchanged) == (5, 0, 5)
    assert second.table_rows == 5


def test_a_newer_file_date_is_never_overwritten_by_an_older_one(files, folder, tmp_path):
    row_old = conversion("+15551230001", "2026-10-01T10:00:00Z", amount="1.00")
    row_new = conversion("+15551230001", "2026-10-01T10:00:00Z", amount="2.00")  # same key
    put_conversions(folder, D1, [row_old])
    put_conversions(folder, D2, [row_new])
    sql = "SELECT amount, __file_date FROM attentive_mobile.conversions"

    newest_first = str(tmp_path / "a.duckdb")
    load_partition(CONVERSIONS, D2, files, newest_first)
    late = load_partition(CONVERSIONS, D1, files, newest_first)  # e.g. a backfill of history
    assert late.rows_skipped_older == 1 and late.rows_inserted == 0
    assert query(newest_first, sql) == [(Decimal("2.00"), D2)]

    in_order = str(tmp_path / "b.duckdb")
    load_partition(CONVERSIONS, D1, files, in_order)
    update = load_partition(CONVERSIONS, D2, files, in_order)
    assert update.rows_updated == 1
    assert query(in_order, sql) == [(Decimal("2.00"), D2)]


def test_missing_remote_file_names_the_expected_path(files, folder, warehouse):
    with pytest.raises(RemoteFileMissing) as info:
        load_partition(CONVERSIONS, D1, files, warehouse)
    assert f"{folder}/attentive_conversions_20261001.csv" in str(info.value)


def test_failing_rows_write_nothing_and_land_in_rejects(files, folder, warehouse):
    put_conversions(folder, D1, [conversion()])
    load_partition(CONVERSIONS, D1, files, warehouse)
    before = dump(warehouse, "attentive_mobile.conversions")
    put_conversions(
        folder,
        D2,
        [
            conversion("+15551230002", message_text="two\nlines"),  # line 2-3
            conversion("not-a-phone"),  # line 4
            conversion("+15551230003", ts="2026-02-30T10:00:00Z"),  # line 5: no Feb 30
            conversion("+15551230004", amount="12,50"),  # line 6
            conversion("+15551230005", ts=""),  # line 7: required
        ],
    )
    with pytest.raises(RejectsExceeded) as info:
        load_partition(CONVERSIONS, D2, files, warehouse, run_id="run-1")
    assert dump(warehouse, "attentive_mobile.conversions") == before
    rejects = query(
        warehouse,
        'SELECT __file_date, source_file, line, "column", rule, value, '
        "run_id FROM attentive_mobile.conversions__rejects ORDER BY line",
    )
    path = f"{folder}/attentive_conversions_20261002.csv"
    assert [r[:6] for r in rejects] == [
        (D2, path, 4, "phone", "e164_phone", "not-a-phone"),
        (D2, path, 5, "timestamp", "iso8601_timestamp", "2026-02-30T10:00:00Z"),
        (D2, path, 6, "amount", "decimal(18,4)", "12,50"),
        (D2, path, 7, "timestamp", "not_nullable", None),
    ]
    assert {r[6] for r in rejects} == {"run-1"}
    message = str(info.value)
    # the rejects table keeps the value; the message shows a personal value's shape only
    for needle in (path, "4 of 5 rows", "'phone'", "e164_phone", "line 4", "'xxx-x-xxxxx'"):
        assert needle in message
    assert "not-a-phone" not in message and "'12,50'" in message  # an amount is not personal


def test_reject_tolerance_loads_the_valid_rows(files, folder, warehouse):
    good = conversion("+15551230002")
    put_conversions(folder, D1, [good, conversion("bad")])
    result = load_partition(CONVERSIONS, D1, files, warehouse, reject_tolerance=0.5)
    assert (result.rows_rejected, result.rows_inserted) == (1, 1)
    assert query(warehouse, "SELECT __sync_key FROM attentive_mobile.conversions") == [
        (conversion_key(good),)
    ]
    assert query(warehouse, "SELECT count(*) FROM attentive_mobile.conversions__rejects") == [(1,)]
    put_conversions(folder, D1, [good])  # the vendor resends a fixed file
    load_partition(CONVERSIONS, D1, files, warehouse)
    assert query(warehouse, "SELECT count(*) FROM attentive_mobile.conversions__rejects") == [(0,)]


def test_notifications_need_a_type_and_a_phone_or_email(files, folder, warehouse):
    put_notifications(
        folder,
        D1,
        [
            notification(),
            notification(type_=None),
            notification(phone=None, email=None),
            notification(email="no-at-sign"),
        ],
    )
    with pytest.raises(RejectsExceeded):
        load_partition(NOTIFICATIONS, D1, files, warehouse)
    got = query(
        warehouse,
        'SELECT line, "column", rule FROM '
        'attentive_mobile.notifications__rejects ORDER BY line, "column"',
    )
    assert got == [
        (3, "type", "not_nullable"),
        (4, "email", "one_of_present(phone,email)"),
        (4, "phone", "one_of_present(phone,email)"),
        (5, "email", "email_address"),
    ]
    assert query(warehouse, "SELECT count(*) FROM attentive_mobile.notifications") == [(0,)]


def test_a_failure_inside_the_write_rolls_everything_back(files, folder, warehouse):
    # The table exists with an extra CHECK constraint (a lake has none: a NOT NULL one there):
    # the write deletes the old row, then the insert of its new version violates the
    # constraint. Nothing of the partition may remain.
    lake = not isinstance(warehouse, str)
    constraint = "NOT NULL" if lake else "CHECK (amount < 1000)"
    with writing(warehouse) as con:
        con.execute("CREATE SCHEMA attentive_mobile")
        con.execute(
            "CREATE TABLE attentive_mobile.conversions (conversion_id VARCHAR, phone VARCHAR, "
            f"client_id VARCHAR, amount DECIMAL(18,4) {constraint}, "
            "conversion_at TIMESTAMP, message_id VARCHAR, message_name VARCHAR, "
            "message_text VARCHAR, message_type VARCHAR, message_subtype VARCHAR, "
            "__sync_key VARCHAR, __file_date DATE, __source_file VARCHAR, __loaded_at TIMESTAMP)"
        )
    put_conversions(folder, D1, [conversion(amount="10")])
    load_partition(CONVERSIONS, D1, files, warehouse)
    before = dump(warehouse, "attentive_mobile.conversions")
    bad = "" if lake else "5000"  # an amount the constraint refuses
    put_conversions(folder, D2, [conversion(amount=bad), conversion("+15550000009")])
    with pytest.raises(duckdb.ConstraintException):
        load_partition(CONVERSIONS, D2, files, warehouse)
    assert dump(warehouse, "attentive_mobile.conversions") == before


def test_malformed_csv_fails_naming_the_file_and_line(files, folder, warehouse):
    path = folder / f"attentive_conversions_{ymd(D1)}.csv"
    good = ",".join(conversion(message_text="plain").get(h) or "" for h in CONVERSION_HEADER)
    path.write_text(",".join(CONVERSION_HEADER) + "\n" + good + "\n" + good + ",extra,fields\n")
    with pytest.raises(BadFileError) as info:
        load_partition(CONVERSIONS, D1, files, warehouse)
    message = str(info.value)
    assert message.startswith(f"{path}: line 3 cannot be parsed: ")
    assert "rule: csv_format" in message


def _physical_lines_before(text: str) -> int:
    return text.count("\n")


def test_parse_errors_name_the_physical_line_past_quoted_newlines(files, folder, warehouse):
    """Records with quoted newlines come first: DuckDB's record number is not the line."""
    path = folder / f"attentive_conversions_{ymd(D1)}.csv"
    rows = [conversion(f"+1555123{i:04d}", message_text="two\nlines") for i in range(10)]
    write_csv(path, CONVERSION_HEADER, rows)
    text = path.read_text()
    cut = ",".join(conversion(message_text="x").get(h) or "" for h in CONVERSION_HEADER)
    cut = cut.replace(",x,", ',"cut off inside its quotes\n', 1)  # never closed
    path.write_text(text + cut + "\n")
    line = _physical_lines_before(text) + 1  # counted by Python over the text written
    assert line == 1 + 10 * 2 + 1  # header, ten two-line records, then the cut one
    with pytest.raises(BadFileError) as info:
        load_partition(CONVERSIONS, D1, files, warehouse)
    assert str(info.value).startswith(f"{path}: line {line} cannot be parsed: ")
    assert untouched(warehouse)  # refused before the warehouse was opened


def test_a_latin1_byte_is_named_at_its_own_line_not_the_header(files, folder, warehouse):
    path = folder / f"attentive_conversions_{ymd(D1)}.csv"
    rows = [conversion(f"+1555123{i:04d}", message_text="caf\u00e9") for i in range(15)]
    write_csv(path, CONVERSION_HEADER, rows)
    lines = path.read_bytes().split(b"\n")
    lines[11] = lines[11].replace("caf\u00e9".encode(), "caf\u00e9".encode("latin-1"))  # line 12
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(BadFileError) as info:
        load_partition(CONVERSIONS, D1, files, warehouse)
    message = str(info.value)
    assert message.startswith(f"{path}: line 12 cannot be parsed: "), message
    assert "utf-8" in message.lower() and "header" not in message


def test_a_5mb_field_loads_and_past_the_maximum_line_size_is_named(files, folder, warehouse):
    path = folder / f"attentive_conversions_{ymd(D1)}.csv"
    big = "x" * (5 << 20)
    rows = [conversion("+15551230001"), conversion("+15551230002", message_text=big)]
    write_csv(path, CONVERSION_HEADER, rows)
    load_partition(CONVERSIONS, D1, files, warehouse)  # the default maximum: 16 MiB
    [(length,)] = query(
        warehouse,
        "SELECT length(message_text) FROM attentive_mobile.conversions WHERE phone = ?",
        ["+15551230002"],
    )
    assert length == len(big)
    os.utime(path, (time.time() + 5, time.time() + 5))  # a newer version of the same file
    small = LoaderSettings(max_line_bytes=1 << 20)
    with pytest.raises(BadFileError) as info:
        load_partition(CONVERSIONS, D1, files, warehouse, settings=small)
    message = str(info.value)
    assert message.startswith(f"{path}: line 3 cannot be parsed: ")
    assert "maximum of 1,048,576 bytes (PLATFORM_MAX_LINE_BYTES)" in message


def test_a_header_only_file_loads_zero_rows_and_an_empty_file_fails(files, folder, warehouse):
    put_conversions(folder, D1, [])
    result = load_partition(CONVERSIONS, D1, files, warehouse)
    assert (result.rows_read, result.rows_inserted, result.partition_rows) == (0, 0, 0)
    (folder / f"attentive_conversions_{ymd(D2)}.csv").write_bytes(b"")
    with pytest.raises(BadFileError, match="empty"):
        load_partition(CONVERSIONS, D2, files, warehouse)


def test_repeated_keys_rerun_and_newer_file_keep_the_table_exact(files, folder, warehouse):
    first = [
        conversion("+15551230001", "2026-10-01T10:00:00.1Z", amount="1.00"),
        conversion("+15551230002", "2026-10-01T10:00:00Z", amount="5.00"),
        conversion("+15551230001", "2026-10-01T10:00:00.9Z", amount="2.00"),  # same key: wins
    ]
    put_conversions(folder, D1, first)
    load_partition(CONVERSIONS, D1, files, warehouse)
    before = dump(warehouse, "attentive_mobile.conversions")
    again = load_partition(CONVERSIONS, D1, files, warehouse)  # re-run: nothing changes
    assert dump(warehouse, "attentive_mobile.conversions") == before
    assert (again.rows_unchanged, again.rows_inserted, again.duplicates_dropped) == (2, 0, 1)
    newer = [
        conversion("+15551230001", "2026-10-01T10:00:00.5Z", amount="3.00"),
        conversion("+15551230001", "2026-10-01T10:00:00.7Z", amount="4.00"),  # wins
    ]
    put_conversions(folder, D2, newer)
    update = load_partition(CONVERSIONS, D2, files, warehouse)
    assert (update.rows_updated, update.duplicates_dropped) == (1, 1)
    got = dict(query(warehouse, "SELECT __sync_key, amount FROM attentive_mobile.conversions"))
    assert got == {
        conversion_key(first[0]): Decimal("4.00"),
        conversion_key(first[1]): Decimal("5"),
    }


def test_identical_and_returning_rows_of_a_key_leave_exactly_the_last(files, folder, warehouse):
    """A key whose rows are A, B, A (the last equals the first, byte for byte) and a key repeated
    three times identically: one row each, and it is the last one's content."""
    a = conversion(message_name="A")
    b = conversion(message_name="B")
    same = conversion("+15550000009")
    rows = [a, b, same, a, same, same, conversion("+15550000001")]
    put_conversions(folder, D1, rows)
    result = load_partition(CONVERSIONS, D1, files, warehouse)
    assert (result.rows_read, result.duplicates_dropped, result.rows_inserted) == (7, 4, 3)
    got = query(
        warehouse,
        "SELECT __sync_key, message_name, count(*) OVER (PARTITION BY __sync_key) "
        "FROM attentive_mobile.conversions ORDER BY 1",
    )
    assert sorted(got) == sorted(
        [
            (conversion_key(a), "A", 1),
            (conversion_key(same), "Fall sale", 1),
            (conversion_key(conversion("+15550000001")), "Fall sale", 1),
        ]
    )


def test_a_held_write_lock_is_waited_for_then_named(files, folder, warehouse_file):
    """Another process holds the warehouse open for writing: the loader waits (bounded), then
    fails retryably naming the holder; nothing is written. (A lake has no such lock.)"""
    warehouse = warehouse_file
    import subprocess
    import sys

    put_conversions(folder, D1, [conversion()])
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); time.sleep(60)", warehouse],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        settings = LoaderSettings(lock_wait_seconds=1.5)
        started = time.monotonic()
        with pytest.raises(WarehouseBusy) as info:
            load_partition(CONVERSIONS, D1, files, warehouse, settings=settings)
        assert 1.5 <= time.monotonic() - started < 10
        message = str(info.value)
        assert "timed out after 2 s waiting for the write lock" in message
        assert f"PID {holder.pid}" in message
    finally:
        holder.kill()
        holder.wait()
    load_partition(CONVERSIONS, D1, files, warehouse)  # free again: loads
    assert query(warehouse, "SELECT count(*) FROM attentive_mobile.conversions") == [(1,)]


class _RewrittenDuringDownload(LocalFolderResource):
    """A folder whose file is rewritten (same size, new mtime) just after each download: what a
    vendor re-uploading in place looks like to a loader (the file-source contract, no network)."""

    def download(self, name, local_path):
        result = super().download(name, local_path)
        path = Path(self.remote_dir) / name
        path.write_bytes(path.read_bytes().replace(b"19.99", b"29.99"))
        os.utime(path, (result.remote.mtime + 5, result.remote.mtime + 5))
        return result


def test_a_file_rewritten_during_the_download_fails_retryably_and_writes_nothing(folder, warehouse):
    put_conversions(folder, D1, [conversion(amount="19.99")])
    files = _RewrittenDuringDownload(remote_dir=str(folder))
    with pytest.raises(RemoteFileChanged, match="changed while it was downloaded"):
        load_partition(CONVERSIONS, D1, files, warehouse)
    assert untouched(warehouse)
    settled = LocalFolderResource(remote_dir=str(folder))  # the next try finds it settled
    load_partition(CONVERSIONS, D1, settled, warehouse)
    assert query(warehouse, "SELECT amount FROM attentive_mobile.conversions") == [
        (Decimal("29.99"),)
    ]


def test_every_download_is_archived_and_a_deleted_file_loads_from_the_archive(
    files, folder, warehouse, tmp_path
):
    settings = LoaderSettings(archive_dir=str(tmp_path / "raw"))
    path = put_conversions(folder, D1, [conversion()])
    original, mtime = path.read_bytes(), int(path.stat().st_mtime)
    first = load_partition(CONVERSIONS, D1, files, warehouse, settings=settings)
    kept = tmp_path / "raw" / "attentive" / "2026" / "10" / "01" / path.name
    assert kept.read_bytes() == original and int(kept.stat().st_mtime) == mtime
    assert [p.name for p in kept.parent.iterdir()] == [path.name]  # no .part left
    assert query(
        warehouse, "SELECT archive_path, size, mtime, sha256, file_date FROM platform.raw_files"
    ) == [(str(kept), len(original), mtime, hashlib.sha256(original).hexdigest(), D1)]
    before = dump(warehouse, "attentive_mobile.conversions")

    path.unlink()  # the vendor deleted it (Attentive after 30 days)
    again = load_partition(CONVERSIONS, D1, files, warehouse, settings=settings)
    assert (first.from_archive, again.from_archive) == (False, True)
    assert dump(warehouse, "attentive_mobile.conversions") == before
    with pytest.raises(RemoteFileMissing):  # without the archive it is gone
        load_partition(CONVERSIONS, D1, files, warehouse)

    # a corrected re-upload: the older version moves aside, both are recorded
    put_conversions(folder, D1, [conversion(amount="5")])
    os.utime(folder / path.name, (mtime + 60, mtime + 60))
    load_partition(CONVERSIONS, D1, files, warehouse, settings=settings)
    assert sorted(p.name for p in kept.parent.iterdir()) == [
        path.name,
        f"{path.name}.replaced-{mtime}",
    ]
    assert (kept.parent / f"{path.name}.replaced-{mtime}").read_bytes() == original
    assert query(warehouse, "SELECT count(*) FROM platform.raw_files") == [(2,)]


def test_formula_like_values_load_unchanged_and_are_counted(files, folder, warehouse):
    texts = ['=HYPERLINK("http://x")', "@SUM(A1)", "-2+3", "+cmd|' /C calc'!A0", "plain"]
    rows = [conversion(f"+1555123{i:04d}", message_text=t) for i, t in enumerate(texts)]
    rows[4]["message_name"] = "=1+1"
    rows[0]["amount"] = "-19.99"  # a negative number: not a formula
    path = put_conversions(folder, D1, rows)
    result = load_partition(CONVERSIONS, D1, files, warehouse)
    with path.open(newline="") as fh:  # the rule, counted independently over every field
        expected = sum(
            1
            for row in csv.DictReader(fh)
            for value in row.values()
            if value[:1] in ("=", "+", "-", "@")
            and not re.fullmatch(r"[+-]?[0-9][0-9 .,()-]*", value)
        )
    assert expected == 5  # 4 texts and a name; phones and the negative amount are not formulas
    assert result.formula_like_values == expected
    loaded = query(
        warehouse, "SELECT message_text FROM attentive_mobile.conversions ORDER BY phone"
    )
    assert [t for (t,) in loaded] == texts  # unchanged


BAD_INPUTS = {
    # name: (what the vendor sent, the start of the error; None: loads exactly)
    "wrong delimiter": (
        lambda b: b.replace(b",", b";"),
        "line 1 (header): missing documented column(s)",
    ),
    "truncated last line": (lambda b: b[:-30], "line 6 cannot be parsed: "),
    "zero bytes": (lambda b: b"", "the file is empty (no header line)"),
    "duplicated header column": (
        lambda b: b.replace(b"client_id", b"phone", 1),
        "line 1 (header) repeats column(s) ['phone']",
    ),
    "renamed header column": (
        lambda b: b.replace(b"amount", b"amount_usd", 1),
        "line 1 (header): missing documented column(s) ['amount']",
    ),
    "a NUL byte in a text": (lambda b: b.replace(b"Fall sale", b"Fall\x00sale", 1), None),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_naming_file_and_line_or_loads_exactly(files, folder, warehouse, case):
    mutate, error = BAD_INPUTS[case]
    path = put_conversions(folder, D1, [conversion(f"+1555123{i:04d}") for i in range(5)])
    path.write_bytes(mutate(path.read_bytes()))
    if error is None:
        load_partition(CONVERSIONS, D1, files, warehouse)
        with path.open(newline="", encoding="utf-8") as fh:
            expected = sorted(r["message_name"] for r in csv.DictReader(fh))
        loaded = query(warehouse, "SELECT message_name FROM attentive_mobile.conversions")
        assert sorted(n for (n,) in loaded) == expected  # byte for byte, NUL included
        assert "Fall\x00sale" in expected
        return
    with pytest.raises(BadFileError) as info:
        load_partition(CONVERSIONS, D1, files, warehouse)
    assert str(info.value).startswith(f"{path}: {error}")
    assert untouched(warehouse)  # refused before the warehouse was opened
