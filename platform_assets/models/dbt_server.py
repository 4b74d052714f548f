"""A warm dbt: one process that has imported dbt-core, dbt-duckdb and the project's plugins, and
runs each dbt command in a fork of itself, so no dbt invocation pays for those imports again.

A dbt process spends ~1.9 s of Python start-up and imports before it reads the project; a models
run's own work is a few seconds (``benchmarks/overhead.py``: a partial parse took 2.76 s as a new
``dbt`` process and 0.87 s as a fork of a warm one). ``make demo`` and ``make dev`` start this
server and name its socket in ``PLATFORM_DBT_SERVER``; the models' dbt resource then starts
:func:`client` (the ``platform-dbt`` command) instead of ``dbt``. dagster-dbt sees an ordinary dbt
process: same arguments, same environment, the same JSON log on its standard output, the same exit
code; its Ctrl-C (a run being terminated) reaches dbt.

The exchange, on a Unix socket only its owner can open (mode 0600):

1. the client sends one byte with its standard input, output and error (``SCM_RIGHTS``), then one
   JSON line: ``{"argv": [...], "cwd": ..., "env": {...}}``;
2. the server forks; the child takes those descriptors as its own 0, 1, 2, that directory and that
   environment, answers ``{"pid": N}``, and once the client says ``go`` (a client that gave up
   waiting runs plain dbt instead and never says it: the command never runs twice) runs dbt's
   command line and ends with ``{"exit": code}``;
3. the client passes SIGINT, SIGTERM and SIGHUP on to the child and exits with its code. A child
   whose client goes away (killed) is interrupted as Ctrl-C would, then ended after
   :data:`ORPHAN_GRACE_SECONDS`.

Without the variable, or when the server cannot be reached before dbt started, the client becomes
the environment's ``dbt`` (``exec``): a warm dbt only ever saves time. The server itself is
single-threaded (it forks); it ends on SIGTERM or SIGINT and removes its socket; the commands it
started run on.

The client imports nothing but the standard library: its own start-up is the ~20 ms of Python's.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

SERVER_ENV = "PLATFORM_DBT_SERVER"
"""The server's socket path, in the environment of the dbt resource's processes."""
CONNECT_TIMEOUT_SECONDS = 5.0
"""How long the client waits to be connected and to hear the child's pid (then plain dbt)."""
ORPHAN_GRACE_SECONDS = 30.0
"""How long a child whose client went away has to stop after its Ctrl-C, before it is ended."""
GO = b"go\n"
"""The client's answer to the child's pid: the command may start."""
FOLDER_PREFIX = "platform-dbt-"
"""The private folder :func:`started` makes for a server's socket."""
WARM_MODULES = (
    "dbt.cli.main",
    "dbt.adapters.duckdb",
    "dbt.adapters.duckdb.plugins",
    "dbt.task.build",
    "dbt.parser.manifest",
    "platform_assets.models.warehouse_file",
    "platform_assets.models.pii",
)
"""What the server imports once: dbt's command line, the adapter, the commands the assets run,
and the profile's plugins (the lake's is imported where it can be: :func:`_warm`)."""


# -- the client: `platform-dbt`, started by the dbt resource -------------------------------------


def client() -> None:
    """``platform-dbt <dbt arguments>``: the command run by the server named in
    :data:`SERVER_ENV`, or by this environment's ``dbt`` when there is none."""
    argv = sys.argv[1:]
    path = os.environ.get(SERVER_ENV)
    if path:
        code = _run_warm(path, argv)
        if code is not None:
            sys.exit(code)
    dbt = str(Path(sys.executable).with_name("dbt"))
    os.execv(dbt, [dbt, *argv])


def _run_warm(path: str, argv: list[str]) -> int | None:
    """The command's exit code from a fork of the server; None when the server could not take
    it (nothing of the command ran)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT_SECONDS)
    try:
        sock.connect(path)
        socket.send_fds(sock, [b"\0"], [0, 1, 2])
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
        sock.sendall(json.dumps(request).encode() + b"\n")
        answers = sock.makefile("rb")
        hello = answers.readline()
        pid = int(json.loads(hello)["pid"])
        sock.sendall(GO)  # only now does the child start dbt: never this and a fallback both
    except (OSError, ValueError, KeyError):
        sock.close()
        return None
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: _forward(pid, number))
    sock.settimeout(None)
    try:
        line = answers.readline()  # until the command ends (a signal handled: read on)
        return int(json.loads(line)["exit"])
    except (OSError, ValueError, KeyError):
        sys.stderr.write(f"platform-dbt: the warm dbt (pid {pid}) ended without an exit code\n")
        return 2
    finally:
        sock.close()


def _forward(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


# -- the server: `python -m platform_assets.models.dbt_server <socket>` ----------------------------


def serve(path: Path) -> None:
    """Import dbt once, then listen on ``path`` and run each client's command in a fork, until
    SIGTERM or SIGINT; the socket is removed on the way out."""
    _warm()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    umask = os.umask(0o177)  # the socket: its owner's only
    try:
        listener.bind(str(path))
    finally:
        os.umask(umask)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the children report their own exit codes
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server = os.getpid()
    try:
        while True:
            conn, _ = listener.accept()
            if os.fork() == 0:  # the child: never returns
                listener.close()
                code = _child(conn)
                atexit._run_exitfuncs()  # what ending dbt's process runs (multiprocessing's)
                os._exit(code)  # without tearing down every module: ~0.3 s
            conn.close()
    except _Stopped:
        pass
    finally:
        if os.getpid() == server:
            listener.close()
            path.unlink(missing_ok=True)
            if path.parent.name.startswith(FOLDER_PREFIX):  # started()'s, should it be gone
                with suppress(OSError):  # (a process group ended by SIGTERM runs no finally)
                    path.parent.rmdir()


class _Stopped(Exception):
    pass


def _stop(_number: int, _frame: object) -> None:
    raise _Stopped


def _warm() -> None:
    """Import :data:`WARM_MODULES` (and the lake's plugin where its DuckDB has the extension)."""
    import importlib

    for module in WARM_MODULES:
        importlib.import_module(module)
    try:
        importlib.import_module("platform_assets.models.lake")
    except Exception:  # noqa: BLE001, S110 - the lake's extras are optional; dbt imports it then
        pass


def _child(conn: socket.socket) -> int:
    """Run one client's command as its own process (see the module); its exit code."""
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # dbt's Ctrl-C: KeyboardInterrupt
    os.setsid()  # the server's Ctrl-C (a terminal's) is not this command's
    reader = conn.makefile("rb")
    try:
        _, fds, _, _ = socket.recv_fds(conn, 1, 3)
        request = json.loads(reader.readline()) if len(fds) == 3 else None
    except (OSError, ValueError):
        request = None
    if request is None:  # not a client's request (ready(): a connection dropped)
        return 2
    try:
        conn.settimeout(CONNECT_TIMEOUT_SECONDS * 6)
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        go = reader.readline()
        conn.settimeout(None)
    except OSError:
        go = b""
    if go != GO:  # the client gave up waiting (and runs dbt itself): nothing runs here
        return 2
    command = next((a for a in request["argv"] if not a.startswith("-")), "")
    os.write(2, f"warm dbt: {command} in pid {os.getpid()}\n".encode())  # the server's log
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    finished = threading.Event()
    threading.Thread(target=_watch_client, args=(conn, finished), daemon=True).start()
    code = _dbt(request["argv"])
    finished.set()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
    except OSError:
        pass
    return code


def _dbt(argv: list[str]) -> int:
    """dbt's own command line (what the ``dbt`` executable runs) on ``argv``: its exit code."""
    from dbt.cli.main import cli

    sys.argv = ["dbt", *argv]  # dbt logs its invocation_command from sys.argv
    try:
        cli.main(args=argv, prog_name="dbt")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return 130
    except BaseException:  # noqa: BLE001 - dbt's own handler prints and exits; anything else here
        import traceback

        traceback.print_exc()
        return 2
    return 0


def _watch_client(conn: socket.socket, finished: threading.Event) -> None:
    """Interrupt the command if its client goes away (the connection ends before the exit code
    is sent), then end it after :data:`ORPHAN_GRACE_SECONDS`."""
    try:
        while conn.recv(1):
            pass
    except OSError:
        pass
    if finished.is_set():
        return
    os.kill(os.getpid(), signal.SIGINT)
    if not finished.wait(ORPHAN_GRACE_SECONDS):
        os._exit(130)


@contextmanager
def started(log: Path | None = None) -> Iterator[Path]:
    """A server for the block (``make demo``, ``make dev``): its socket's path, in a new private
    folder (a socket's path has at most 107 bytes: never under a deep data folder). It imports
    dbt in the background (~2 s); a client before that runs plain dbt. Stopped after (the
    commands it started run on)."""
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
    path = folder / "server.sock"
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    with open(log or os.devnull, "ab") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", __name__, str(path)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:
        yield path
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        path.unlink(missing_ok=True)
        with suppress(OSError):  # the server removed it
            folder.rmdir()


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("socket", type=Path, help="the Unix socket to listen on")
    serve(parser.parse_args(argv).socket)


def ready(path: Path | str, timeout: float = 30.0) -> bool:
    """Whether a server answers on ``path`` within ``timeout`` seconds (each try a connection
    taken and dropped: its child returns without running anything)."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        finally:
            sock.close()


if __name__ == "__main__":
    main()
