"""``make dev``'s processes: one code server (demo/code_server.py: runs forked from a warm
process), Dagster's webserver and the daemon (demo/daemon.py: backfills looked at every 2 s), on
the demo's environment, until one of them ends or Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def serve(port: int, env: dict[str, str], data_dir: Path) -> int:
    """Dagster's webserver and daemon (what ``dg dev`` starts, with the daemon of
    platform_assets/demo/daemon.py: backfills looked at every 2 s) on one code server of
    platform_assets/demo/code_server.py (runs forked from a warm process), until one of them ends
    or Ctrl-C; the others are then stopped. The code location reads the demo's settings when it
    loads."""
    with code_server(env, data_dir / "workspace.yaml") as (server, workspace):
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dagster_webserver",
                    "-w",
                    str(workspace),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                ],
                env=env,
            ),  # fmt: skip
            subprocess.Popen(
                [sys.executable, "-m", "platform_assets.demo.daemon", "run", "-w", str(workspace)],
                env=env,
            ),  # fmt: skip
        ]
        try:
            while server.poll() is None and all(p.poll() is None for p in procs):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            _stop(procs)
    return max(p.returncode or 0 for p in (server, *procs))


@contextlib.contextmanager
def code_server(
    env: dict[str, str],
    workspace: Path,
    module: str = "platform_assets.definitions",
    cwd: Path | None = None,
    timeout: float = 300,
    warm: bool = True,
) -> Iterator[tuple[subprocess.Popen, Path]]:
    """``make dev``'s code server (platform_assets/demo/code_server.py: runs forked from a warm
    process; ``warm=False``: Dagster's own ``dagster api grpc``, as a deployment runs it, each run
    spawned) of ``module`` on a free port, with ``env`` (the settings the location reads when it
    loads), and ``workspace`` written to point at it (a ``grpc_server`` entry, location
    ``platform_assets``): every process given that workspace (webserver, daemon, ``dagster``
    CLI) uses this one server instead of loading the code itself. Stopped on leaving."""
    port = free_port()
    workspace.write_text(
        "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
        f"      port: {port}\n      location_name: platform_assets\n",
        encoding="utf-8",
    )
    server = subprocess.Popen(
        [sys.executable, "-m",
         *(["platform_assets.demo.code_server"] if warm else ["dagster", "api", "grpc"]),
         "-m", module, "-h", "127.0.0.1", "-p", str(port), "--location-name", "platform_assets",
         "-d", str(cwd or Path.cwd())],
        env=env, cwd=cwd,
    )  # fmt: skip
    try:
        wait_for_port(port, server, timeout)
        yield server, workspace
    finally:
        _stop([server])


def _stop(procs: list[subprocess.Popen]) -> None:
    """Ctrl-C to each process still running (the last started first), then a kill after 30 s."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in reversed(procs):
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Until the code server listens (it binds once the definitions have loaded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the code server exited with {proc.returncode} while loading")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the code server did not listen on port {port} in {timeout:.0f} s")
