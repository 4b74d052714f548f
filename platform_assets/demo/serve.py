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
from pathlib import Path


def serve(port: int, env: dict[str, str], data_dir: Path) -> int:
    """Dagster's webserver and daemon (what ``dg dev`` starts, with the daemon of
    platform_assets/demo/daemon.py: backfills looked at every 2 s) on one code server of
    platform_assets/demo/code_server.py (runs forked from a warm process), until one of them ends
    or Ctrl-C; the others are then stopped. The code location reads the demo's settings when it
    loads."""
    grpc_port = free_port()
    workspace = data_dir / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
        f"      port: {grpc_port}\n      location_name: platform_assets\n",
        encoding="utf-8",
    )
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "platform_assets.demo.code_server",
                "-m",
                "platform_assets.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(grpc_port),
                "--location-name",
                "platform_assets",
                "-d",
                str(Path.cwd()),
            ],
            env=env,
        ),  # fmt: skip
    ]
    try:
        wait_for_port(grpc_port, procs[0])
        procs += [
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
        while all(p.poll() is None for p in procs):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    return max(p.returncode or 0 for p in procs)


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
