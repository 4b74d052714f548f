"""Faults during a load, against the real sshd and a real DuckDB file: a load killed with SIGKILL
at 20 moments leaves the table exactly as it was or exactly as the new file says, never a mix;
the next load succeeds; nothing the dead load downloaded stays on disk. And canary secrets
through every path, searched for everywhere they could leak."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from platform_assets.core import workdir
from platform_assets.core.settings import Settings
from platform_assets.core.warehouse import LoaderSettings
from platform_assets.core.workdir import PREFIXES, new_work_folder, sweep
from platform_assets.defs import attentive
from platform_assets.defs.attentive import CONVERSIONS
from platform_assets.ingest.assets import build_source_assets
from platform_assets.ingest.loader.partition import load_partition
from platform_assets_tests.conftest import make_sftp
from platform_assets_tests.csvfiles import CONVERSION_HEADER, conversion, write_csv
from platform_assets_tests.trials import Child

DAY = dt.date(2026, 10, 1)
NAME = f"attentive_conversions_{DAY:%Y%m%d}.csv"
KILLS = 20
REPO = Path(__file__).resolve().parents[2]


def _write_version(path: Path, rows: int, amount: str) -> Path:
    """A version of the day's file: ``rows`` conversions, each of amount ``amount``."""
    write_csv(
        path,
        CONVERSION_HEADER,
        [
            conversion(f"+1555{i:07d}", ts=f"2026-10-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
                       f"{i % 60:02d}Z", amount=amount)
            for i in range(rows)
        ],
    )  # fmt: skip
    return path


def _serve(remote_dir: Path, version: Path) -> None:
    """``version`` as the day's file on the server, copied aside and moved in whole (a new file,
    modified now)."""
    staged = remote_dir / ("." + NAME)
    shutil.copyfile(version, staged)
    os.replace(staged, remote_dir / NAME)


def _state(warehouse: str) -> tuple[int, tuple[str, ...]]:
    with duckdb.connect(warehouse, read_only=True) as con:
        [(count, amounts)] = con.execute(
            "SELECT count(*), list(DISTINCT amount::VARCHAR ORDER BY amount::VARCHAR) "
            "FROM attentive_mobile.conversions"
        ).fetchall()
    return count, tuple(amounts)


def _leftovers(work: Path) -> list[Path]:
    return [p for p in work.iterdir() if p.name.startswith(PREFIXES)]


@pytest.mark.slow
def test_sigkill_at_20_moments_leaves_old_or_new_and_no_leftovers(
    sshd, remote_dir, tmp_path, monkeypatch
):
    warehouse, work = str(tmp_path / "warehouse.duckdb"), tmp_path / "work"
    work.mkdir()
    sftp = make_sftp(sshd, remote_dir)
    settings = LoaderSettings(work_dir=str(work), threads=1)
    rows = 100_000
    old, new = (rows, ("10.0000",)), (rows, ("20.0000",))

    def start_a_child() -> Child:
        """The new file's load in a process of its own, forked from this warm one (nothing to
        import), waiting for its go."""
        return Child(lambda: load_partition(CONVERSIONS, DAY, sftp, warehouse, settings=settings))

    def load_in(child: Child, kill_after: float | None) -> float:
        started = time.monotonic()
        child.go()
        if kill_after is None:
            assert child.wait() == 0
            return time.monotonic() - started
        time.sleep(kill_after)
        os.kill(child.pid, signal.SIGKILL)  # not reaped until wait(): never another process
        child.wait()
        return time.monotonic() - started

    # each version written once (the same keys in both: UPSERT, so a mix shows as two amounts)
    versions = tmp_path / "versions"
    versions.mkdir()
    old_file = _write_version(versions / "old.csv", rows, "10")
    new_file = _write_version(versions / "new.csv", rows, "20")

    def back_to_old() -> None:
        _serve(remote_dir, old_file)
        load_partition(CONVERSIONS, DAY, sftp, warehouse, settings=settings)
        assert _state(warehouse) == old

    back_to_old()
    _serve(remote_dir, new_file)
    duration = load_in(start_a_child(), kill_after=None)  # how long the new file's load takes
    assert _state(warehouse) == new
    outcomes = {"old": 0, "new": 0}
    left_behind = 0
    for i in range(KILLS):
        back_to_old()  # (its own load sweeps what the previous kill left)
        _serve(remote_dir, new_file)
        load_in(start_a_child(), kill_after=duration * (i + 0.5) / KILLS)
        state = _state(warehouse)
        assert state in (old, new), f"kill {i + 1}: a mix: {state}"
        outcomes["old" if state == old else "new"] += 1
        left_behind += bool(_leftovers(work))
    # the next load succeeds, and sweeps the dead loads' folders. Every child is dead and reaped
    # by now, so a folder still without its owner file (a kill between its making and its lock)
    # is not being made: no grace for it (the rule's minute is tested below, and 20 kills now
    # take less than that minute: CI found one such folder on 2026-12-03)
    monkeypatch.setattr(workdir, "GRACE_SECONDS", 0.0)
    _serve(remote_dir, _write_version(versions / "next.csv", rows, "30"))
    load_partition(CONVERSIONS, DAY, sftp, warehouse, settings=settings)
    assert _state(warehouse) == (rows, ("30.0000",))
    assert _leftovers(work) == []
    assert outcomes["old"] >= 1  # the kills did land before the commit...
    assert left_behind >= 1  # ...and left a download behind, which the sweep removed
    figures = REPO / "build" / "faults.json"  # the README's "Guarantees" figures
    figures.parent.mkdir(exist_ok=True)
    figures.write_text(
        json.dumps(
            {
                "kills": KILLS,
                **outcomes,
                "mixes": 0,
                "downloads_left_and_swept": left_behind,
                "rows_per_file": rows,
                "load_seconds": round(duration, 2),
            },
            indent=2,
        )  # fmt: skip
        + "\n"
    )


def test_the_sweep_removes_dead_loads_folders_and_keeps_live_ones(tmp_path):
    """A folder whose owner was SIGKILLed goes when the next load starts; one whose owner lives
    (another process, or this one) stays; a folder never owned goes once it is a minute old."""
    script = (
        "import os, signal, sys\n"
        "from platform_assets.core.workdir import new_work_folder\n"
        "folder = new_work_folder(sys.argv[1])\n"
        "(folder.path / 'download.csv').write_bytes(b'x' * 1000)\n"
        "print(folder.path, flush=True)\n"
        "if sys.argv[2] == 'die':\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "sys.stdin.readline()\n"
    )
    dead = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), "die"], capture_output=True, text=True
    )
    assert dead.returncode == -signal.SIGKILL
    dead_folder = Path(dead.stdout.strip())
    assert (dead_folder / "download.csv").exists()  # SIGKILL: nothing cleaned up
    alive = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path), "live"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert alive.stdout is not None
    alive_folder = Path(alive.stdout.readline().strip())
    assert not dead_folder.exists()  # the next load's start swept it
    mine = new_work_folder(str(tmp_path))
    unowned = tmp_path / "platform-load-unowned"
    unowned.mkdir()
    old = time.time() - 120
    os.utime(unowned, (old, old))
    try:
        assert sweep(tmp_path) == [unowned]
        assert alive_folder.exists() and mine.path.exists()
    finally:
        assert alive.stdin is not None
        alive.stdin.write("\n")
        alive.stdin.close()
        alive.wait(timeout=30)
        mine.remove()
    assert not mine.path.exists()


def test_canary_secrets_appear_in_no_event_log_metadata_message_or_file(
    sshd, remote_dir, tmp_path, monkeypatch, capfd
):
    """Distinctive secrets through every path of a load, failures included: password auth (a
    day that loads, a day refused for bad rows), a wrong password, an encrypted key with its
    passphrase and with a wrong one; then every event, message and log line, and every byte of
    the instance's storage (event log, compute logs) and of the DuckDB file, is searched."""
    if not sshd.password:
        pytest.fail("needs password auth (root, as CI runs)")
    wrong_password = f"CANARY-password-{secrets.token_hex(8)}"
    wrong_passphrase = f"CANARY-passphrase-{secrets.token_hex(8)}"
    pii_key = f"CANARY-pii-{secrets.token_hex(16)}"
    canaries = [sshd.password, wrong_password, "s3cret pp", wrong_passphrase, pii_key]
    warehouse = str(tmp_path / "warehouse.duckdb")
    write_csv(remote_dir / "attentive_conversions_20261001.csv", CONVERSION_HEADER, [conversion()])
    write_csv(
        remote_dir / "attentive_conversions_20261002.csv",
        CONVERSION_HEADER,
        [conversion(phone="555-0100")],  # refused: not E.164
    )
    monkeypatch.setenv("PLATFORM_PII_KEY", pii_key)
    monkeypatch.setenv("RAW_ARCHIVE_DIR", str(tmp_path / "raw"))
    monkeypatch.setenv("PLATFORM_START_DATE", "2026-10-01")
    texts: list[str] = []

    def materialize(instance: dg.DagsterInstance, day: str, **env: str | None) -> bool:
        for prefix in ("ATTENTIVE_SFTP_PASSWORD", "ATTENTIVE_SFTP_PRIVATE_KEY"):
            for name in [n for n in os.environ if n.startswith(prefix)]:
                monkeypatch.delenv(name)
        for name, value in {**sshd.env("ATTENTIVE"), **env}.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        monkeypatch.setenv("ATTENTIVE_SFTP_REMOTE_DIR", str(remote_dir))
        settings = Settings.from_env()
        result = dg.materialize(
            build_source_assets(attentive.SOURCE.configure(settings)),
            selection=[CONVERSIONS.asset_key],
            partition_key=day,
            instance=instance,
            resources={
                "attentive_sftp": settings.sftp("ATTENTIVE"),
                "duckdb": DuckDBResource(database=warehouse),
            },
            raise_on_error=False,
        )
        texts.extend(str(event) for event in result.all_events)
        return result.success

    key = str(sshd.client_keys["ed25519_passphrase"])
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        assert materialize(instance, "2026-10-01")  # password auth
        assert not materialize(instance, "2026-10-02")  # bad rows
        assert not materialize(instance, "2026-10-01", ATTENTIVE_SFTP_PASSWORD=wrong_password)
        with_key = {
            "ATTENTIVE_SFTP_PASSWORD": None,
            "ATTENTIVE_SFTP_PRIVATE_KEY_PATH": key,
            "ATTENTIVE_SFTP_PRIVATE_KEY_PASSPHRASE": "s3cret pp",
        }
        assert materialize(instance, "2026-10-01", **with_key)
        with_key["ATTENTIVE_SFTP_PRIVATE_KEY_PASSPHRASE"] = wrong_passphrase
        assert not materialize(instance, "2026-10-01", **with_key)
        records = instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.STEP_FAILURE)
        )
        texts.extend(str(r.event_log_entry) for r in records)
        assert len(records) == 3  # the three failures, each with its message
    captured = capfd.readouterr()
    texts += [captured.out, captured.err]
    blobs = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "raw" not in p.parts]
    assert any(p.name.endswith(".duckdb") for p in tmp_path.rglob("*"))
    assert any(p.suffix == ".db" for p in (tmp_path / "home").rglob("*"))  # the event log
    for canary in canaries:
        assert not any(canary in text for text in texts), canary
        assert not any(canary.encode() in blob for blob in blobs), canary
