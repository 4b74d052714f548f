"""Randomized trials of the deliveries' promise, with real processes killed at random points.

Each trial uploads a file and its done-marker to the real sshd and records it in a DuckDB file (the
platform's ``SFTPDeliveryResource.upload`` and ``record_delivery``) in a forked process SIGKILLed at
one of the boundaries (temp file written, renamed, marker written, recorded); then, as the next run
would, uploads again unkilled. After the kill and after the re-run: the vendor's folder never shows
a file under its final name that is not the whole file, never a marker without its whole file, and
every recorded upload is held by the server with the recorded SHA-256.

Seeds: ``TRIAL_SEED`` (``platform_assets_tests/trials.py``) + the trial's number; a failure names
its seed. Slow. The API trials are ``test_outbound_trials.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import duckdb
import paramiko
import pytest

from platform_assets.core.transport import upload as upload_module
from platform_assets.core.transport.upload import SFTPDeliveryResource, marker_name
from platform_assets.outbound.deliveries import records
from platform_assets_tests.trials import SEED, TIME_LIMIT_SECONDS, die, forked

pytestmark = pytest.mark.slow

DELIVERY_TRIALS = int(os.environ.get("DELIVERY_TRIALS", "100"))  # fewer only to debug locally
UPLOAD_KILL_POINTS = ("temp_written", "renamed", "marker_written", "recorded")


def _upload_and_record(
    sftp: SFTPDeliveryResource, local: Path, name: str, db: Path, point: str
) -> None:
    """One delivery's upload and record, dying at ``point`` (in the forked child)."""
    renames = Counter()
    if point in ("temp_written", "renamed", "marker_written"):
        put, rename = upload_module.write_part, paramiko.SFTPClient.posix_rename

        def put_then_die(*args, **kw):  # noqa: ANN002, ANN003, ANN202
            result = put(*args, **kw)  # the whole temporary file (one channel, or four)
            if point == "temp_written":
                die()
            return result

        def rename_then_die(self, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
            rename(self, *args, **kw)
            renames["n"] += 1
            if (point, renames["n"]) in (("renamed", 1), ("marker_written", 2)):
                die()

        upload_module.write_part = put_then_die  # (this child only)
        paramiko.SFTPClient.posix_rename = rename_then_die  # type: ignore[method-assign]
    upload = sftp.upload(local, name, marker=True)
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{db}' AS wh")
        records.record_delivery(con, "wh", "trial", dt.date(2026, 10, 5), "ios", 1, upload, "r")
    if point == "recorded":
        die()


_READER = duckdb.connect()
"""The test's one DuckDB for reading the trials' records: a file attached read-only per read
(~1 ms) instead of a new DuckDB per read (~14 ms)."""
_DIGESTS: dict[tuple[str, int, int], str] = {}
"""SHA-256 of each file version seen, by (path, mtime in ns, size): every check looks at the
whole folder, and hashes again only what changed since (the folder keeps every trial's files)."""


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _DIGESTS:
        _DIGESTS[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _DIGESTS[key]


def _check_folder(folder: Path, whole: dict[str, set[str]], db: Path) -> None:
    """No partial file under a final name, no marker without its whole file, no record of an
    upload the server does not hold."""
    names = {p.name for p in folder.iterdir()}
    for name in names:
        if name.startswith("."):
            continue  # a temporary file (hidden; removed by the next upload)
        path = folder / name
        if name.endswith(".txt"):
            csv = name[:-4] + ".csv"
            assert csv in names, f"a marker without its file: {name}"
            assert _sha256(folder / csv) in whole[csv]
        else:
            assert _sha256(path) in whole[name], f"{name} is not a whole file"
    if db.exists():
        with _READER.cursor() as con:
            con.execute(f"ATTACH '{db}' AS records (READ_ONLY)")
            try:
                rows = con.execute(  # each file's latest upload (a re-delivery replaces it)
                    "SELECT file_name, arg_max(sha256, uploaded_at) "
                    "FROM records.platform.deliveries GROUP BY 1"
                ).fetchall()
            finally:
                con.execute("DETACH records")
        for name, sha in rows:
            assert name in names, f"recorded but not on the server: {name}"
            assert _sha256(folder / name) == sha, f"recorded {name} with another content"


def test_100_delivery_trials_no_partial_file_marker_or_false_record(
    sshd, remote_dir: Path, tmp_path: Path
):
    if os.geteuid() == 0:
        import shutil

        shutil.chown(remote_dir, sshd.user)
    auth = {"password": sshd.password} if sshd.password else {
        "private_key_path": str(sshd.client_keys["ed25519"])
    }  # fmt: skip
    sftp = SFTPDeliveryResource(
        host=sshd.host, port=sshd.port, username=sshd.user, known_hosts=str(sshd.known_hosts),
        remote_dir=str(remote_dir), env_prefix="TEST", retry_backoff_seconds=0.05, **auth,
    )  # fmt: skip
    started = time.monotonic()
    killed: Counter = Counter()
    whole: dict[str, set[str]] = {}  # every file name -> the contents uploaded under it
    for trial in range(DELIVERY_TRIALS):
        seed = SEED + trial
        rng = random.Random(seed)
        point = UPLOAD_KILL_POINTS[trial % len(UPLOAD_KILL_POINTS)]
        name = f"staticlist_trial_ios_{seed}.csv"
        db = tmp_path / f"deliveries-{seed}.duckdb"
        contents = {}
        try:
            for attempt in ("killed", "next run"):
                local = tmp_path / f"{seed}-{attempt}.csv"
                big = rng.random() < 0.25  # a quarter over several channels at once
                size = rng.randint(5_000_000, 6_000_000) if big else rng.randint(1, 400_000)
                local.write_bytes(rng.randbytes(size))
                contents[attempt] = hashlib.sha256(local.read_bytes()).hexdigest()
                whole.setdefault(name, set()).add(contents[attempt])
                how = point if attempt == "killed" else ""
                status = forked(lambda: _upload_and_record(sftp, local, name, db, how))  # noqa: B023
                assert status == (-signal.SIGKILL if how else 0), f"{attempt} exited {status}"
                killed[point] += bool(how)
                _check_folder(remote_dir, whole, db)
            assert (remote_dir / marker_name(name)).exists()
            final = hashlib.sha256((remote_dir / name).read_bytes()).hexdigest()
            assert final == contents["next run"]  # the next run's file replaced the killed one's
        except AssertionError as exc:
            raise AssertionError(f"delivery trial seed {seed} ({point}): {exc}") from exc
        assert time.monotonic() - started < TIME_LIMIT_SECONDS, f"{trial} trials in the limit"
    print(f"delivery trials (seeds {SEED}..{SEED + DELIVERY_TRIALS - 1}): {dict(killed)}")  # noqa: T201
    assert sum(killed.values()) == DELIVERY_TRIALS
