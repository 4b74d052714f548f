"""Postscript, ASAPP and Accengage tables: every rule of every spec, real DuckDB files,
expectations computed from the documents (hashlib for keys, the csv/gzip modules for files),
not from the platform.

The files are read through the file-source interface from a local folder (the contract the
SFTP resource implements, ``integration/test_sftp.py`` proves it against the real sshd, and
``integration/test_materialize.py`` loads every vendor over it, ASAPP with key auth)."""

from __future__ import annotations

import datetime as dt
import gzip
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from platform_assets.core.errors import BadFileError, LoadError, RemoteFileMissing
from platform_assets.core.specs import TableSpec
from platform_assets.core.transport.files import LocalFolderResource
from platform_assets.core.warehouse import LoaderSettings, Warehouse
from platform_assets.defs.accengage import TABLES as ACCENGAGE
from platform_assets.defs.asapp import TABLES as ASAPP
from platform_assets.defs.postscript import TABLES as POSTSCRIPT
from platform_assets.ingest.loader.model import RejectsExceeded
from platform_assets.ingest.loader.partition import load_partition
from platform_assets_tests.vendorfiles import (
    ACCENGAGE_HEADERS,
    ASAPP_HEADERS,
    POSTSCRIPT_HEADERS,
    POSTSCRIPT_KEYS,
    Row,
    accengage_name,
    accengage_row,
    asapp_key,
    asapp_row,
    md5_key,
    postscript_row,
    write_rows,
)
from platform_assets_tests.warehouses import BACKEND_PARAMS, new_warehouse, reading, untouched

D1 = dt.date(2026, 10, 1)
D2 = dt.date(2026, 10, 2)
APP = "6"
SPECS = {s.qualified_name: s for s in (*POSTSCRIPT, *ASAPP, *ACCENGAGE)}
LINEAGE = ["__file_date", "__source_file", "__loaded_at"]


@dataclass(frozen=True)
class Table:
    """How the documents say one table's file looks."""

    name: str  # schema.table

    @property
    def spec(self) -> TableSpec:
        return SPECS[self.name]

    @property
    def vendor(self) -> str:
        return self.name.split(".")[0]

    @property
    def table(self) -> str:
        return self.name.split(".")[1]

    @property
    def header(self) -> list[str]:
        return {"postscript": POSTSCRIPT_HEADERS, "asapp": ASAPP_HEADERS}.get(
            self.vendor, ACCENGAGE_HEADERS
        )[self.table]

    @property
    def delimiter(self) -> str:
        return ";" if self.vendor == "accengage" else ","

    @property
    def app(self) -> str | None:
        return APP if self.vendor == "accengage" else None

    def file_name(self, day: dt.date, app: str | None = None) -> str:
        ymd = day.strftime("%Y%m%d")
        if self.vendor == "accengage":
            return accengage_name(self.table, app or APP, ymd)
        return f"{self.vendor}_{self.table}_{ymd}.csv"

    def row(self, i: int = 0, **kw: str | None) -> Row:
        """A valid row; ``i`` makes its key distinct."""
        if self.vendor == "postscript":
            key = POSTSCRIPT_KEYS[self.table]
            return postscript_row(self.table, **{key: f"k-{i}", **kw})
        if self.vendor == "asapp":
            field = {
                "call_metadata": "customer_id",
                "transcripts": "conversation_externalId",
                "transactions": "product_id",
            }[self.table]
            return asapp_row(self.table, **{field: f"id-{i}", **kw})
        field = "message_id" if self.table == "message_statistics" else "device_id"
        return accengage_row(self.table, **{field: f"id-{i}", **kw})

    def key(self, row: Row, day: dt.date, app: str | None = None) -> str:
        """The row's key in the table, computed independently from the spec's docstrings."""
        if self.vendor == "postscript":
            return row[POSTSCRIPT_KEYS[self.table]]  # type: ignore[return-value]
        if self.vendor == "asapp":
            return asapp_key(self.table, row)
        app = app or APP
        if self.table == "message_statistics":
            return md5_key(app, day.strftime("%Y%m%d"), row["message_id"])
        if self.table == "device_reactions":
            return md5_key(app, row["device_id"], row["message_id"], row["sending_date"])
        return md5_key(app, row["device_id"])

    @property
    def key_column(self) -> str:
        return POSTSCRIPT_KEYS[self.table] if self.vendor == "postscript" else "__sync_key"

    def put(
        self, folder: Path, day: dt.date, rows: list[Row], app: str | None = None, **kw
    ) -> Path:
        header = kw.pop("header", self.header)
        name = self.file_name(day, app) + (".gz" if kw.get("compress") else "")
        return write_rows(folder / name, header, rows, delimiter=self.delimiter, **kw)

    def load(self, sftp, warehouse: str, day: dt.date, app: str | None = None, **kw):
        return load_partition(self.spec, day, sftp, warehouse, app_id=app or self.app, **kw)


@pytest.fixture
def remote_dir(tmp_path: Path) -> Path:
    """The vendor's folder: a local one (see the module docstring)."""
    folder = tmp_path / "vendor"
    folder.mkdir()
    return folder


@pytest.fixture
def sftp(remote_dir: Path) -> LocalFolderResource:
    """The file source the loader reads (named as the vendor's resource is)."""
    return LocalFolderResource(remote_dir=str(remote_dir))


ALL = [Table(name) for name in SPECS]
FREE_TEXT = {  # a free-text column per table, for quoting tests
    "fct_attribution": "ACTION_TYPE",
    "dim_messages": "TEXT",
    "fct_messages": "DIRECTION",
    "dim_platform_action_details": "ACTION_DATA",
    "dim_platform_actions": "ACTION_TYPE",
    "dim_shops": "ENTITY_NAME",
    "dim_subscribers": "DO_NOT_SEND_REASON",
    "call_metadata": "disposition_notes",
    "transcripts": "text",
    "transactions": "product_name",
    "message_statistics": "message_name",
    "device_reactions": "campaign_name",
    "devices": "device_model",
}
IDS = [t.name for t in ALL]


@pytest.fixture(params=BACKEND_PARAMS)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> str | Warehouse:
    """The DuckDB file, and a DuckLake under ``make test-lake`` (``warehouses.py``)."""
    return new_warehouse(request, tmp_path)


def query(warehouse: str | Warehouse, sql: str, params: list | None = None) -> list[tuple]:
    with reading(warehouse) as con:
        return con.execute(sql, params or []).fetchall()


def dump(warehouse: str, t: Table) -> list[tuple]:
    return query(warehouse, f'SELECT * FROM {t.name} ORDER BY "{t.key_column}"')


def columns(warehouse: str, t: Table) -> list[str]:
    return [
        r[0]
        for r in query(
            warehouse,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? ORDER BY ordinal_position",
            [t.vendor, t.table],
        )
    ]


# -- every table ------------------------------------------------------------------------------


@pytest.mark.parametrize("t", ALL, ids=IDS)
def test_loads_documented_columns_idempotently(t: Table, sftp, remote_dir, warehouse):
    rows = [t.row(i) for i in range(3)]
    t.put(remote_dir, D1, rows)
    first = t.load(sftp, warehouse, D1)
    assert (first.rows_read, first.rows_inserted, first.rows_rejected) == (3, 3, 0)
    expected_cols = [c.replace("-", "_") for c in t.header]
    if t.vendor == "accengage":
        expected_cols = ["app_id", *expected_cols, "custom_data", "__sync_key"]
    elif t.vendor == "asapp":
        expected_cols = [*expected_cols, "__sync_key"]
    assert columns(warehouse, t) == [*expected_cols, *LINEAGE]
    keys = query(warehouse, f'SELECT "{t.key_column}" FROM {t.name} ORDER BY 1')
    assert [k for (k,) in keys] == sorted(t.key(r, D1) for r in rows)
    before = dump(warehouse, t)
    again = t.load(sftp, warehouse, D1)
    assert (again.rows_inserted, again.rows_updated, again.rows_unchanged) == (0, 0, 3)
    assert dump(warehouse, t) == before  # a re-run changes nothing, not even __loaded_at


@pytest.mark.parametrize("t", ALL, ids=IDS)
def test_quoting_newlines_bom_reordered_and_extra_columns(t: Table, sftp, remote_dir, warehouse):
    text_col = FREE_TEXT[t.table]
    tricky = f'line one{t.delimiter} "quoted"\nline two'
    rows = [t.row(0, **{text_col: tricky}), t.row(1)]
    header = [*reversed(t.header), "custom_field"]
    for r in rows:
        r["custom_field"] = "x;y"
    t.put(remote_dir, D1, rows, header=header, bom=True, quote_all=True)
    result = t.load(sftp, warehouse, D1)
    assert result.rows_inserted == 2 and result.extra_columns == ["custom_field"]
    db_col = text_col.replace("-", "_")
    values = query(warehouse, f'SELECT "{db_col}" FROM {t.name} ORDER BY "{t.key_column}"')
    assert tricky in [v for (v,) in values]
    if t.vendor == "accengage":  # undocumented columns are kept, as JSON
        custom = query(warehouse, f"SELECT custom_data->>'custom_field' FROM {t.name}")
        assert custom == [("x;y",), ("x;y",)]


@pytest.mark.parametrize("t", ALL, ids=IDS)
def test_repeated_key_in_a_file_keeps_the_winner(t: Table, sftp, remote_dir, warehouse):
    text_col = "ENTITY_NAME" if t.table == "dim_shops" else None
    first, last = t.row(0), t.row(0)
    if t.vendor == "postscript":
        # the later _UPDATED_AT wins even when it comes first in the file
        text_col = "ENTITY_NAME" if t.table == "dim_shops" else "SHOP_ID"
        first = t.row(0, _UPDATED_AT="2026-10-01T12:00:05Z", **{text_col: "winner"})
        last = t.row(0, _UPDATED_AT="2026-10-01T12:00:00Z", **{text_col: "loser"})
    else:
        text_col = {
            "call_metadata": "customer_type",
            "transcripts": "text",
            "transactions": "customer_category",
            "message_statistics": "message_name",
            "device_reactions": "message_name",
            "devices": "device_model",
        }[t.table]
        first[text_col] = "loser"
        last[text_col] = "winner"
    t.put(remote_dir, D1, [first, t.row(1), last])
    result = t.load(sftp, warehouse, D1)
    assert result.duplicates_dropped == 1
    got = query(
        warehouse,
        f'SELECT "{text_col}" FROM {t.name} WHERE "{t.key_column}" = ?',
        [t.key(first, D1)],
    )
    assert got == [("winner",)]


# -- update methods: same data twice, out of order ----------------------------------------------


@pytest.mark.parametrize("t", [t for t in ALL if t.vendor == "postscript"], ids=lambda t: t.name)
def test_postscript_latest_updated_at_wins_in_any_file_order(t: Table, sftp, remote_dir, tmp_path):
    key = POSTSCRIPT_KEYS[t.table]
    col = "ENTITY_NAME" if t.table == "dim_shops" else "SHOP_ID"
    newer = t.row(0, _UPDATED_AT="2026-10-01T12:00:00Z", **{col: "new"})
    older = t.row(0, _UPDATED_AT="2026-09-30T12:00:00Z", **{col: "old"})
    # the day-2 file re-sends an older version of the row (late, stale export)
    t.put(remote_dir, D1, [newer, t.row(1)])
    t.put(remote_dir, D2, [older])
    states = []
    for order in ((D1, D2), (D2, D1), (D1, D2, D1, D2)):
        wh = str(tmp_path / f"wh_{len(states)}.duckdb")
        for day in order:
            t.load(sftp, wh, day)
        states.append(query(wh, f'SELECT "{key}", "{col}", _UPDATED_AT FROM {t.name} ORDER BY 1'))
    assert states[0] == states[1] == states[2]
    assert states[0][0][:2] == ("k-0", "new")


@pytest.mark.parametrize(
    "t",
    [t for t in ALL if t.table in ("call_metadata", "transcripts", "transactions", "devices")],
    ids=lambda t: t.name,
)
def test_newer_file_wins_in_any_order(t: Table, sftp, remote_dir, tmp_path):
    col = {
        "devices": "device_model",
        "device_reactions": "campaign_name",
        "transcripts": "text",
        "transactions": "customer_category",
    }.get(t.table, "customer_type")
    t.put(remote_dir, D1, [t.row(0, **{col: "day1"}), t.row(1, **{col: "other"})])
    t.put(remote_dir, D2, [t.row(0, **{col: "day2"})])
    states = []
    for order in ((D1, D2), (D2, D1), (D2, D1, D2)):
        wh = str(tmp_path / f"wh_{len(states)}.duckdb")
        for day in order:
            t.load(sftp, wh, day)
        states.append(query(wh, f'SELECT "{col}", __file_date FROM {t.name} ORDER BY 1'))
    assert states[0] == states[1] == states[2] == [("day2", D2), ("other", D1)]


# -- each rule failing once ---------------------------------------------------------------------

FAILURES = [
    # (table, column, bad value, rule)
    ("postscript.fct_attribution", "ATTRIBUTION_ID", None, "not_nullable"),
    ("postscript.fct_attribution", "AMOUNT_IN_CENTS", "25.99", "integer"),
    ("postscript.fct_attribution", "COUPON_USED", "yes", "boolean(true/false/t/f/1/0)"),
    ("postscript.fct_attribution", "ORDER_CREATED_AT", "2026-02-30 10:00:00", "iso8601_timestamp"),
    ("postscript.dim_messages", "_UPDATED_AT", None, "not_nullable"),
    ("postscript.dim_subscribers", "DO_NOT_SEND", "N", "boolean(true/false/t/f/1/0)"),
    ("asapp.call_metadata", "customer_id", "NULL", "not_nullable"),
    ("asapp.call_metadata", "call_start", "2020-01-03T20:02:13+02:00", "iso8601_utc_timestamp"),
    ("asapp.call_metadata", "call_end", "2020-01-03T20:00:00Z", "call_end_not_before_call_start"),
    ("asapp.call_metadata", "survey_offered", "yes", "boolean(true/false)"),
    ("asapp.call_metadata", "time_in_queue", "6.5", "integer"),
    ("asapp.call_metadata", "caller_account_value", "12,50", "decimal(18,4)"),
    ("asapp.transcripts", "sender_role", "system", "one_of(agent,customer,bot)"),
    ("asapp.transcripts", "text", "", "not_nullable"),
    ("asapp.transactions", "issue_id", None, "one_of_present(external_customer_id,issue_id)"),
    ("asapp.transactions", "transaction_value_one_time", "$65", "number"),
    ("asapp.transactions", "product_quantity", None, "not_nullable"),
    ("accengage.message_statistics", "number_of_targets", "54 000", "integer"),
    (
        "accengage.message_statistics",
        "send_date",
        "2014-11-13T18:30:00Z",
        "local_timestamp_no_offset",
    ),
    ("accengage.device_reactions", "reaction", "true", "boolean(1/0)"),
    ("accengage.device_reactions", "device_id", None, "not_nullable"),
    ("accengage.devices", "latitude", "48.869", "decimal_comma_number"),
]


@pytest.mark.parametrize(
    "name,column,value,rule", FAILURES, ids=[f"{f[0]}:{f[3]}" for f in FAILURES]
)
def test_each_rule_fails_once(name, column, value, rule, sftp, remote_dir, warehouse):
    t = Table(name)
    bad = t.row(1, **{column: value})
    if rule.startswith("one_of_present"):
        bad["external_customer_id"] = None
    t.put(remote_dir, D1, [t.row(0), bad, t.row(2)])
    with pytest.raises(RejectsExceeded) as info:
        t.load(sftp, warehouse, D1)
    message = str(info.value)
    assert t.file_name(D1) in message and "line 3" in message and rule in message
    assert query(warehouse, f"SELECT count(*) FROM {t.name}") == [(0,)]  # nothing written
    rejects = query(
        warehouse,
        f'SELECT line, "column", rule FROM {t.vendor}.{t.table}__rejects ORDER BY "column"',
    )
    expected_columns = {column}
    if rule.startswith("one_of_present"):
        expected_columns = {"external_customer_id", "issue_id"}
    if rule.endswith("not_before_call_start"):
        expected_columns = {"call_end", "call_start"}
    assert {r[1] for r in rejects} == expected_columns
    assert {(r[0], r[2]) for r in rejects} == {(3, rule)}


# -- Accengage specifics ------------------------------------------------------------------------

DEVICES = Table("accengage.devices")
STATS = Table("accengage.message_statistics")
REACTIONS = Table("accengage.device_reactions")


def test_accengage_gmt1_dates_decimal_commas_and_flags(sftp, remote_dir, warehouse):
    row = DEVICES.row(0, latitude="-48,8691", longitude="2", altitude="2587,5")
    DEVICES.put(remote_dir, D1, [row])
    DEVICES.load(sftp, warehouse, D1)
    got = query(
        warehouse,
        "SELECT app_id, install_date, latitude, longitude, altitude, system_push_opt_in, "
        "enabled_inapps, number_of_visits, member_id FROM accengage.devices",
    )
    # 2014-11-13 18:30:00 GMT+1 is 17:30:00 UTC
    assert got == [
        ("6", dt.datetime(2014, 11, 13, 17, 30), -48.8691, 2.0, 2587.5, True, False, 34, "1425")
    ]


def test_accengage_apps_are_separate_partitions(sftp, remote_dir, warehouse):
    """Two apps' files of one day load and re-run independently; the client-id column's name
    is set per app and stored as member_id."""
    ios = [REACTIONS.row(i) for i in range(2)]
    android = [REACTIONS.row(i) for i in range(3)]
    header_android = ["client_ref" if h == "member_id" else h for h in REACTIONS.header]
    for r in android:
        r["client_ref"] = "and-" + r["member_id"]
    REACTIONS.put(remote_dir, D1, ios, app="ios")
    REACTIONS.put(remote_dir, D1, android, app="android", header=header_android)
    REACTIONS.load(sftp, warehouse, D1, app="ios")
    second = REACTIONS.load(
        sftp, warehouse, D1, app="android", column_sources={"member_id": "client_ref"}
    )
    assert second.rows_inserted == 3
    counts = query(
        warehouse,
        "SELECT app_id, count(*), min(member_id) FROM accengage.device_reactions GROUP BY 1 "
        "ORDER BY 1",
    )
    assert counts == [("android", 3, "and-1425"), ("ios", 2, "1425")]
    keys = {k for (k,) in query(warehouse, "SELECT __sync_key FROM accengage.device_reactions")}
    assert keys == {REACTIONS.key(r, D1, "ios") for r in ios} | {
        REACTIONS.key(r, D1, "android") for r in android
    }
    # re-running one app's day touches that app only
    before = query(warehouse, "SELECT * FROM accengage.device_reactions WHERE app_id = 'ios'")
    rerun = REACTIONS.load(
        sftp, warehouse, D1, app="android", column_sources={"member_id": "client_ref"}
    )
    assert rerun.rows_unchanged == 3
    assert query(warehouse, "SELECT * FROM accengage.device_reactions WHERE app_id = 'ios'") == (
        before
    )
    # without the app's column name, the file lacks a documented column
    with pytest.raises(BadFileError, match="member_id"):
        REACTIONS.load(sftp, warehouse, D1, app="android")


def test_accengage_rejects_are_per_app(sftp, remote_dir, warehouse):
    STATS.put(remote_dir, D1, [STATS.row(0)], app="a1")
    STATS.put(remote_dir, D1, [STATS.row(0, number_of_targets="x")], app="a2")
    STATS.load(sftp, warehouse, D1, app="a1")
    with pytest.raises(RejectsExceeded):
        STATS.load(sftp, warehouse, D1, app="a2")
    assert query(
        warehouse, "SELECT app_id, line, rule FROM accengage.message_statistics__rejects"
    ) == [("a2", 2, "integer")]
    assert query(warehouse, "SELECT app_id FROM accengage.message_statistics") == [("a1",)]


def test_accengage_statistics_keep_one_row_per_day(sftp, remote_dir, warehouse):
    """The same message on two days: two rows (each file holds that day's counts)."""
    STATS.put(remote_dir, D1, [STATS.row(0, number_of_reactions="25000")])
    STATS.put(remote_dir, D2, [STATS.row(0, number_of_messages_sent="0", number_of_reactions="50")])
    STATS.load(sftp, warehouse, D2)
    STATS.load(sftp, warehouse, D1)
    got = query(
        warehouse,
        "SELECT __file_date, number_of_messages_sent, number_of_reactions "
        "FROM accengage.message_statistics ORDER BY 1",
    )
    assert got == [(D1, 50000, 25000), (D2, 0, 50)]


def test_accengage_gzip_is_loaded_when_the_plain_file_is_gone(sftp, remote_dir, warehouse):
    rows = [STATS.row(i) for i in range(3)]
    STATS.put(remote_dir, D1, rows, compress=True)
    result = STATS.load(sftp, warehouse, D1)
    assert result.rows_inserted == 3
    assert result.download.remote.name == STATS.file_name(D1) + ".gz"
    assert result.inflated_bytes == len(
        gzip.decompress((remote_dir / (STATS.file_name(D1) + ".gz")).read_bytes())
    )


def test_accengage_plain_file_wins_over_gzip_never_both(sftp, remote_dir, warehouse):
    STATS.put(remote_dir, D1, [STATS.row(0)])
    STATS.put(remote_dir, D1, [STATS.row(0), STATS.row(1)], compress=True)
    result = STATS.load(sftp, warehouse, D1)
    assert result.rows_read == 1 and result.download.remote.name == STATS.file_name(D1)
    assert query(warehouse, "SELECT __source_file FROM accengage.message_statistics") == [
        (str(remote_dir / STATS.file_name(D1)),)
    ]


def test_accengage_gzip_bomb_is_refused(sftp, remote_dir, warehouse):
    path = remote_dir / (STATS.file_name(D1) + ".gz")
    header = ";".join(STATS.header).encode() + b"\n"
    with gzip.open(path, "wb") as fh:
        fh.write(header)
        fh.write(b"\n" * (4 * 1024 * 1024))  # 4 MiB of nothing, ~4 KiB compressed
    assert path.stat().st_size < 64 * 1024
    settings = LoaderSettings(max_inflated_bytes=1024 * 1024)
    with pytest.raises(BadFileError, match="inflates past the limit of 1048576 bytes"):
        STATS.load(sftp, warehouse, D1, settings=settings)
    assert untouched(warehouse) or query(
        warehouse, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'accengage'"
    ) == [(0,)]


def test_accengage_corrupt_gzip_is_a_clear_error(sftp, remote_dir, warehouse):
    (remote_dir / (STATS.file_name(D1) + ".gz")).write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(BadFileError, match="not a valid gzip file"):
        STATS.load(sftp, warehouse, D1)


def test_accengage_missing_file_names_both_variants(sftp, remote_dir, warehouse):
    with pytest.raises(RemoteFileMissing, match=r"neither .*\.csv nor .*\.csv\.gz"):
        STATS.load(sftp, warehouse, D1)


def test_accengage_app_id_must_be_safe(sftp, warehouse):
    with pytest.raises(LoadError, match="app id"):
        STATS.load(sftp, warehouse, D1, app="../etc")


# -- ASAPP specifics ----------------------------------------------------------------------------


def test_asapp_null_literal_is_missing(sftp, remote_dir, warehouse):
    t = Table("asapp.transactions")
    rows = [
        t.row(0, product_id="NULL", issue_id="NULL"),  # external_customer_id suffices
        t.row(1, transaction_value_recurring="NULL", customer_category=""),
    ]
    t.put(remote_dir, D1, rows)
    t.load(sftp, warehouse, D1)
    got = query(
        warehouse,
        "SELECT product_id, issue_id, transaction_value_recurring, customer_category, "
        "__sync_key FROM asapp.transactions ORDER BY product_id NULLS FIRST",
    )
    assert got == [
        (None, None, 7.95, "US", t.key(rows[0], D1)),
        ("id-1", "1E10412200CC60EEABBF32", None, None, t.key(rows[1], D1)),
    ]
    # the key treats NULL as missing (''), as the document's NULL convention implies
    assert t.key(rows[0], D1) == md5_key(rows[0]["transaction_id"], "", "Broadband Gold Package")


def test_asapp_timestamps_are_stored_as_utc(sftp, remote_dir, warehouse):
    t = Table("asapp.transcripts")
    t.put(remote_dir, D1, [t.row(0, timestamp="2022-03-16T18:42:24.488424+00:00")])
    t.load(sftp, warehouse, D1)
    assert query(warehouse, 'SELECT "timestamp" FROM asapp.transcripts') == [
        (dt.datetime(2022, 3, 16, 18, 42, 24, 488424),)
    ]


def test_asapp_call_metadata_types(sftp, remote_dir, warehouse):
    t = Table("asapp.call_metadata")
    t.put(remote_dir, D1, [t.row(0)])
    t.load(sftp, warehouse, D1)
    got = query(
        warehouse,
        "SELECT call_start, call_end, survey_offered, survey_taken, time_in_queue, transfer, "
        "caller_account_value FROM asapp.call_metadata",
    )
    assert got == [
        (
            dt.datetime(2020, 1, 3, 20, 2, 13),
            dt.datetime(2020, 1, 3, 20, 12, 13),
            True,
            False,
            600,
            None,  # the document's NULL
            Decimal("129.4500"),
        )
    ]


def test_postscript_types(sftp, remote_dir, warehouse):
    t = Table("postscript.fct_attribution")
    t.put(remote_dir, D1, [t.row(0, COUPON_USED="TRUE"), t.row(1, COUPON_USED="0")])
    t.load(sftp, warehouse, D1)
    got = query(
        warehouse,
        "SELECT ATTRIBUTION_ID, AMOUNT_IN_CENTS, COUPON_USED, MINUTES_FROM_ACTION, "
        "ORDER_CREATED_AT, _UPDATED_AT FROM postscript.fct_attribution ORDER BY 1",
    )
    stamp = dt.datetime(2026, 10, 1, 12, 0)
    assert got == [
        ("k-0", 2599, True, 42, dt.datetime(2026, 10, 1, 10, 0), stamp),
        ("k-1", 2599, False, 42, dt.datetime(2026, 10, 1, 10, 0), stamp),
    ]
    types = dict(
        query(
            warehouse,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'postscript' AND table_name = 'fct_attribution'",
        )
    )
    assert (types["ATTRIBUTION_ID"], types["AMOUNT_IN_CENTS"], types["COUPON_USED"]) == (
        "VARCHAR",
        "BIGINT",
        "BOOLEAN",
    )
    assert types["ORDER_CREATED_AT"] == types["__SYNCED_AT"] == "TIMESTAMP"


# every column rule of every spec, failing once (bad values chosen here, per rule name)
BAD_VALUES = {
    "not_nullable": None,
    "integer": "1.5",
    "boolean(true/false/t/f/1/0)": "yes",
    "boolean(true/false)": "True",
    "boolean(1/0)": "true",
    "iso8601_timestamp": "2026-13-01 10:00:00",
    "iso8601_utc_timestamp": "2020-01-03T20:02:13",
    "local_timestamp_no_offset": "2014-11-13 18:30:00+01:00",
    "decimal(18,4)": "1e5",
    "number": "6,5",
    "decimal_comma_number": "48.869",
    "one_of(agent,customer,bot)": "Agent",
}


def _column_rules() -> list[tuple[str, str, str]]:
    cases = []
    for t in ALL:
        for name, column in t.spec.row_schema.columns.items():
            rules = ([] if column.nullable else ["not_nullable"]) + [c.name for c in column.checks]
            cases += [(t.name, name, rule) for rule in rules]
    return cases


COLUMN_RULES = _column_rules()


def test_every_rule_has_a_bad_value():
    assert {rule for _, _, rule in COLUMN_RULES} <= set(BAD_VALUES)
    assert len(COLUMN_RULES) > 60


@pytest.mark.parametrize(
    "name,column,rule", COLUMN_RULES, ids=[f"{n}:{c}:{r}" for n, c, r in COLUMN_RULES]
)
def test_every_column_rule_fails_once(name, column, rule, sftp, remote_dir, tmp_path):
    """On a DuckDB file only: a rule's verdict is reached in the load's staging DuckDB, before
    the warehouse is written; what a lake adds (its rejects table, its table left empty) is
    proved for each family of rules by ``test_each_rule_fails_once`` on every backend."""
    warehouse = str(tmp_path / "warehouse.duckdb")
    t = Table(name)
    t.put(remote_dir, D1, [t.row(0), t.row(1, **{column: BAD_VALUES[rule]})])
    with pytest.raises(RejectsExceeded):
        t.load(sftp, warehouse, D1)
    rejects = query(warehouse, f'SELECT line, "column", rule FROM {t.vendor}.{t.table}__rejects')
    assert (3, column, rule) in rejects
    assert query(warehouse, f"SELECT count(*) FROM {t.name}") == [(0,)]


def test_postscript_tolerated_rejects_keep_the_latest_version(sftp, remote_dir, warehouse):
    """Within a reject tolerance the valid rows load (the record-numbered path): the repeated
    id still resolves to its latest _UPDATED_AT, not to its last row."""
    t = Table("postscript.dim_shops")
    rows = [
        t.row(0, ENTITY_NAME="newest", _UPDATED_AT="2026-10-01T12:00:09Z"),
        t.row(1, _UPDATED_AT="not a time"),
        t.row(0, ENTITY_NAME="stale", _UPDATED_AT="2026-10-01T12:00:00Z"),
        t.row(2),
    ]
    t.put(remote_dir, D1, rows)
    result = t.load(sftp, warehouse, D1, reject_tolerance=0.5)
    assert (result.rows_rejected, result.duplicates_dropped, result.rows_inserted) == (1, 1, 2)
    assert query(warehouse, "SELECT SHOP_ID, ENTITY_NAME FROM postscript.dim_shops ORDER BY 1") == [
        ("k-0", "newest"),
        ("k-2", "Example, Inc."),
    ]
    assert query(warehouse, "SELECT line, rule FROM postscript.dim_shops__rejects") == [
        (3, "iso8601_timestamp")
    ]
