"""The embedded default as a user starts it (``python -m platform_assets.demo dev``: the embedded
SFTP server, the demo's days loaded, ``dagster dev`` with its daemon), and a real browser on it:
Debian's Chromium driven by Playwright (never Playwright's own browser download)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from platform_assets.demo.serve import free_port

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("PLATFORM_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("PLATFORM_UI_SCREENSHOTS", REPO / "build" / "ui"))
"""Where the browser test saves its screenshots (``make ui-screenshots``: the README's, in
``docs/ui``); a failing step's go to ``failures/`` there."""


LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
"""Dagster's GraphQL mutation behind the UI's *Launch backfill* (its id, or Python's error)."""


@dataclass
class DevServer:
    url: str
    data_dir: Path
    log: Path

    @property
    def sftp_root(self) -> Path:
        return self.data_dir / "demo" / "sftp"

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"


@contextmanager
def dev_server(data_dir: Path, days: int = 2, rows: int = 200) -> Iterator[DevServer]:
    """``python -m platform_assets.demo dev`` on a free port; stopped (its process group) after."""
    port = free_port()
    log = data_dir / "dev.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DAGSTER_", "DUCKDB_", "RAW_ARCHIVE", "PLATFORM_START"))
    }
    env["PLATFORM_SENSOR_INTERVAL_SECONDS"] = "5"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "platform_assets.demo", "dev", "--data-dir", str(data_dir),
             "--days", str(days), "--rows", str(rows), "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"make dev exited: {log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"make dev did not serve in time: {log.read_text()[-3000:]}")
            time.sleep(1)
        yield DevServer(url, data_dir, log)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
