"""A file read while it arrives (core/transport/arrival.py): readers, DuckDB among them, get
exactly the file's bytes, wait for the ones not yet written, and fail (never hang, never read a
mix) when the download restarts or fails."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import duckdb
import pytest

from platform_assets.core.transport.arrival import Arrival, ArrivalBroken, ArrivingFiles


def _write_slowly(arrival: Arrival, part: Path, data: bytes, block: int, pause: float) -> None:
    with part.open("wb") as out:  # begun once the file exists, as the downloads do
        arrival.begin(part, len(data))
        for start in range(0, len(data), block):
            out.write(data[start : start + block])
            out.flush()
            arrival.advance(len(data[start : start + block]))
            time.sleep(pause)
    arrival.finish()


def test_a_reader_follows_the_writer_and_reads_exactly_the_file(tmp_path):
    data = os.urandom(3 << 20)
    arrival, part = Arrival(), tmp_path / "f.part"
    writer = threading.Thread(target=_write_slowly, args=(arrival, part, data, 64 << 10, 0.005))
    writer.start()
    assert arrival.wait_started(5)
    with arrival.open() as reader:
        first = reader.read(10)
        unfinished = writer.is_alive()  # the reader got bytes before the file was complete
        rest = reader.read()
    writer.join()
    assert unfinished and hashlib.sha256(first + rest).digest() == hashlib.sha256(data).digest()
    assert arrival.intact


def test_duckdb_parses_a_csv_while_it_arrives(tmp_path):
    rows = 200_000
    data = ("n,text\n" + "".join(f"{i},row {i}\n" for i in range(rows))).encode()
    arrival, part = Arrival(), tmp_path / "f.csv.part"
    files = ArrivingFiles()
    url = files.add(arrival, "f.csv")
    writer = threading.Thread(target=_write_slowly, args=(arrival, part, data, 256 << 10, 0.01))
    writer.start()
    assert arrival.wait_started(5)
    with duckdb.connect() as con:
        con.register_filesystem(files)
        got = con.execute(
            f"SELECT count(*), sum(n), count(DISTINCT text) FROM read_csv('{url}', header = true, "
            "columns = {'n': 'BIGINT', 'text': 'VARCHAR'})"
        ).fetchone()
    writer.join()
    assert got == (rows, rows * (rows - 1) // 2, rows)


def test_a_failed_download_frees_a_waiting_reader_with_an_error(tmp_path):
    arrival, part = Arrival(), tmp_path / "f.part"
    part.write_bytes(b"abc")
    arrival.begin(part, 10)
    arrival.advance(3)
    reader = arrival.open()
    assert reader.read(3) == b"abc"
    threading.Timer(0.2, arrival.fail).start()
    started = time.monotonic()
    with pytest.raises(ArrivalBroken):
        reader.read(5)  # waits for bytes 4..8, then learns they will never come
    assert 0.1 < time.monotonic() - started < 5
    assert not arrival.intact


def test_a_restarted_download_breaks_the_arrival(tmp_path):
    arrival, part = Arrival(), tmp_path / "f.part"
    part.write_bytes(b"0123456789")
    arrival.begin(part, 10)
    arrival.advance(10)
    arrival.begin(part, 10)  # a retry writes the file again: a reader may have seen a mix
    arrival.advance(10)
    arrival.finish()
    assert not arrival.intact
    with pytest.raises(ArrivalBroken):
        arrival.open()


def test_a_download_that_ends_short_is_not_intact(tmp_path):
    arrival, part = Arrival(), tmp_path / "f.part"
    part.write_bytes(b"01234")
    arrival.begin(part, 10)
    arrival.advance(5)
    arrival.finish()
    assert not arrival.intact
