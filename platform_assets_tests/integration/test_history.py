"""Attentive's one-off historical file (document 000: many days in one file, up to 2 GB): the
history job over the real sshd loads each day as that day's partition, text unchanged, and a
bad row stops it before anything is written, naming the file's own line."""

from __future__ import annotations

import datetime as dt
import hashlib

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from platform_assets.core.errors import LoadError
from platform_assets.core.settings import Settings
from platform_assets.defs import attentive
from platform_assets.defs.attentive import CONVERSIONS
from platform_assets.ingest.assets import build_source_assets
from platform_assets.ingest.history import build_history_job
from platform_assets.ingest.loader.history import check_history_name
from platform_assets_tests.csvfiles import CONVERSION_HEADER, conversion, conversion_key, write_csv

NAME = "attentive_conversions_history_2026.csv"
DAYS = [dt.date(2026, 9, 28) + dt.timedelta(days=n) for n in range(4)]


def _history_rows() -> list[dict[str, str | None]]:
    rows = []
    for n, day in enumerate(DAYS):
        for i in range(2 + n):
            rows.append(conversion(f"+1556{n:03d}{i:04d}", ts=f"{day}T{10 + i:02d}:00:00.5Z"))
    # text that needs quoting survives the split unchanged
    rows[1]["message_text"] = 'Say "hi", then\na new line'
    return rows


def _run(warehouse, instance, file_name=NAME) -> dg.ExecuteInProcessResult:
    settings = Settings.from_env()
    source = attentive.SOURCE.configure(settings)
    job = build_history_job(source)
    assert job is not None
    defs = dg.Definitions(
        assets=build_source_assets(source),
        jobs=[job],
        resources={
            "attentive_sftp": Settings.from_env().sftp("ATTENTIVE"),
            "duckdb": DuckDBResource(database=warehouse),
        },
    )
    return defs.resolve_job_def("attentive_history_job").execute_in_process(
        run_config={
            "ops": {
                "load_attentive_history": {
                    "config": {"table": "conversions", "file_name": file_name}
                }
            }
        },
        instance=instance,
        raise_on_error=False,
    )


def test_the_history_job_loads_each_day_of_the_file_as_its_partition(
    attentive_env, warehouse, raw_archive
):
    rows = _history_rows()
    write_csv(attentive_env / NAME, CONVERSION_HEADER, rows)
    with dg.instance_for_test() as instance:
        result = _run(warehouse, instance)
        assert result.success
        mats = [
            e
            for e in result.get_asset_materialization_events()
            if e.asset_key == CONVERSIONS.asset_key
        ]
        assert [e.partition for e in mats] == [d.isoformat() for d in DAYS]
        assert [e.materialization.metadata["rows_read"].value for e in mats] == [2, 3, 4, 5]
        assert mats[0].materialization.metadata["history_file"].value.endswith(NAME)
        assert instance.get_materialized_partitions(CONVERSIONS.asset_key) == {
            d.isoformat() for d in DAYS
        }
    with duckdb.connect(warehouse, read_only=True) as con:
        loaded = con.execute(
            "SELECT __file_date, __sync_key, message_text FROM attentive_mobile.conversions"
        ).fetchall()
        loads = con.execute("SELECT file_date FROM platform.loads ORDER BY file_date").fetchall()
    expected = {
        (dt.date.fromisoformat(str(r["timestamp"])[:10]), conversion_key(r), r["message_text"])
        for r in rows
    }
    assert set(loaded) == expected and len(loaded) == len(rows)
    assert [d for (d,) in loads] == DAYS
    kept = raw_archive / "attentive" / "history" / NAME
    source_bytes = (attentive_env / NAME).read_bytes()
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == hashlib.sha256(source_bytes).hexdigest()


def test_a_bad_row_stops_the_history_before_anything_is_written(attentive_env, warehouse):
    rows = _history_rows()
    rows[6]["phone"] = "555-0100"  # record 7: line 9 (the header is line 1; record 2 spans two)
    write_csv(attentive_env / NAME, CONVERSION_HEADER, rows)
    with dg.instance_for_test() as instance:
        result = _run(warehouse, instance)
        assert not result.success
        message = result.get_step_failure_events()[0].step_failure_data.error.message
        assert NAME in message and "line 9" in message and "'phone'" in message
        assert "e164_phone" in message and "nothing was loaded" in message
        assert not result.get_asset_materialization_events()
    with duckdb.connect(warehouse) as con:
        tables = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name = 'conversions'"
        ).fetchall()
    assert tables == []


@pytest.mark.parametrize(
    "name",
    [
        "../attentive_conversions_history.csv",
        "attentive_conversions_20261001.csv",  # a daily file: loaded by partition
        "attentive_email_SMS_history.csv",  # another table's
        "attentive_conversions_history.csv\n",
        "attentive_conversions_history.txt",
    ],
)
def test_only_the_tables_history_names_are_accepted(name):
    with pytest.raises(LoadError):
        check_history_name(CONVERSIONS, name)
    assert check_history_name(CONVERSIONS, NAME) == NAME
