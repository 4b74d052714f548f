"""The warehouse kept attached across a range's days (``core/warehouse.py:WarehouseLease``):
attached once for days written in quick succession, let go once held its time, and on a
failure, so another process gets the file's lock between days."""

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from platform_assets.core.warehouse import WarehouseLease


def _another_process_can_write(path: Path) -> bool:
    """Whether a separate process can open the file for writing right now (DuckDB's lock)."""
    code = (
        "import duckdb, sys\n"
        "try:\n"
        f"    duckdb.connect({str(path)!r}).execute('CREATE TABLE IF NOT EXISTS probe (a INT)')\n"
        "except duckdb.IOException:\n"
        "    sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode in (0, 3), done.stderr
    return done.returncode == 0


def _write(con: duckdb.DuckDBPyConnection, lease: WarehouseLease, day: int) -> None:
    with lease.writing() as wh:
        con.execute("BEGIN TRANSACTION")
        con.execute(f"CREATE TABLE IF NOT EXISTS {wh}.days (day INT)")
        con.execute(f"INSERT INTO {wh}.days VALUES ({day})")
        con.execute("COMMIT")


def test_days_written_in_quick_succession_share_one_attachment(tmp_path: Path):
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(":memory:")
    lease = WarehouseLease(con, str(path), wait_seconds=5, keep_seconds=60)
    for day in range(10):
        _write(con, lease, day)
    assert lease.attaches == 1
    assert not _another_process_can_write(path)  # still held: the next day would reuse it
    lease.release()
    assert _another_process_can_write(path)
    assert duckdb.connect(str(path)).execute("SELECT count(*) FROM days").fetchone() == (10,)


def test_the_file_is_let_go_after_a_write_once_held_its_time(tmp_path: Path):
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(":memory:")
    lease = WarehouseLease(con, str(path), wait_seconds=5, keep_seconds=0.3)
    _write(con, lease, 1)
    assert not _another_process_can_write(path)
    time.sleep(0.35)
    _write(con, lease, 2)  # held past its time: detached after this write
    assert _another_process_can_write(path)
    _write(con, lease, 3)  # attached again, the other process's table beside ours
    assert lease.attaches == 2
    lease.release()
    with duckdb.connect(str(path)) as check:
        assert check.execute("SELECT list(day ORDER BY day) FROM days").fetchone() == ([1, 2, 3],)


def test_a_failed_write_lets_the_file_go_and_leaves_it_as_it_was(tmp_path: Path):
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(":memory:")
    lease = WarehouseLease(con, str(path), wait_seconds=5, keep_seconds=60)
    _write(con, lease, 1)
    with pytest.raises(duckdb.ConversionException), lease.writing() as wh:
        con.execute("BEGIN TRANSACTION")
        con.execute(f"INSERT INTO {wh}.days VALUES (2)")
        try:
            con.execute(f"INSERT INTO {wh}.days VALUES ('not a day')")
        finally:
            con.execute("ROLLBACK")
    assert _another_process_can_write(path)
    with duckdb.connect(str(path)) as check:
        assert check.execute("SELECT list(day) FROM days").fetchone() == ([1],)
