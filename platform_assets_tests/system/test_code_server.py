"""``make dev``'s code server (platform_assets/demo/code_server.py) for real: Dagster's ``dagster
api grpc`` serving a job, a run launched through it by ``dagster job launch`` (Dagster's default
run launcher asks the code server to start it), and the run's process a fork of the warm server:
its parent is not the code server, and the platform's definitions were imported before the run
began (the job's own module never imports them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from platform_assets.demo.serve import free_port, wait_for_port

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]


def test_a_run_is_forked_from_the_warm_code_server(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    # no daemon here: the run is launched at once instead of queued
    (home / "dagster.yaml").write_text(
        "run_coordinator:\n  module: dagster._core.run_coordinator\n"
        "  class: DefaultRunCoordinator\ntelemetry:\n  enabled: false\n"
    )
    out = tmp_path / "probe.json"
    env = {**os.environ, "DAGSTER_HOME": str(home), "PROBE_OUT": str(out)}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "platform_assets.demo.code_server", "-m",
         "platform_assets_tests.probe_job", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for_port(port, server, timeout=120)
        subprocess.run(
            [sys.executable, "-m", "dagster", "job", "launch", "-j", "probe",
             "--grpc-host", "127.0.0.1", "--grpc-port", str(port)],
            cwd=REPO, env=env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not out.exists() or not out.read_text():
            assert time.monotonic() < deadline, "the run did not start in 120 s"
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            time.sleep(0.2)
        started = json.loads(out.read_text())
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert started["warm"] is True  # imported by the fork server, not by the run
    assert started["ppid"] not in (server.pid, os.getpid())  # the fork server's child
    assert started["pid"] != server.pid
