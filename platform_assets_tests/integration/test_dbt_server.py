"""The warm dbt (``platform_assets/models/dbt_server.py``) for real: a server process that has
imported dbt, the ``platform-dbt`` client as dagster-dbt starts it, and this environment's own
``dbt`` to compare with, on a small dbt project of the test's (DuckDB in a file)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from platform_assets.models import dbt_server

BIN = Path(sys.executable).parent
DBT, CLIENT = str(BIN / "dbt"), str(BIN / "platform-dbt")
WARM_ONLY = (  # the client's warm path alone: 99 when the server did not take the command
    "import sys; from platform_assets.models.dbt_server import _run_warm; "
    "code = _run_warm(sys.argv[1], sys.argv[2:]); sys.exit(99 if code is None else code)"
)
SLOW = ["run-operation", "slow", "--args", "{n: 50000}"]  # ~8 s of DuckDB: 2.5e9 rows


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dbt project: two models, a macro that runs one long query, DuckDB in a file."""
    root = tmp_path_factory.mktemp("dbt_probe")
    (root / "models").mkdir()
    (root / "macros").mkdir()
    (root / "dbt_project.yml").write_text('name: probe\nversion: "1.0"\nprofile: probe\n')
    (root / "profiles.yml").write_text(
        "probe:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {root / 'probe.duckdb'}\n      threads: 1\n"
    )
    (root / "models" / "one.sql").write_text("select 1 as x")
    (root / "models" / "two.sql").write_text(
        "select x + 1 as y, '{{ env_var(\"PROBE_VALUE\", \"unset\") }}' as v from {{ ref('one') }}"
    )
    (root / "macros" / "slow.sql").write_text(
        "{% macro slow(n) %}\n"
        '  {% do run_query("select sum(a * b) from range(" ~ n ~ ") t(a), range(" ~ n ~ ") s(b)")'
        " %}\n"
        '  {% do log("slow done", info=True) %}\n'
        "{% endmacro %}\n"
    )
    return root


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[subprocess.Popen, str]]:
    """``python -m platform_assets.models.dbt_server <socket>``, ready."""
    folder = tempfile.mkdtemp(prefix="dbt-test-")  # a socket's path: at most 107 bytes
    socket_path = os.path.join(folder, "s.sock")
    log = open(os.path.join(folder, "server.log"), "ab")  # noqa: SIM115 - the server's, closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "platform_assets.models.dbt_server", socket_path],
        stdout=log,
        stderr=log,
    )
    try:
        assert dbt_server.ready(socket_path, timeout=60), Path(folder, "server.log").read_text()
        yield proc, socket_path
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _run(args: list[str], project: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        args,
        cwd=project,
        env={**_environment(project), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _environment(project: Path) -> dict[str, str]:
    """The test's environment without a warm dbt of its own, dbt's profile the project's."""
    env = {k: v for k, v in os.environ.items() if k != dbt_server.SERVER_ENV}
    return {**env, "DBT_PROFILES_DIR": str(project)}


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def _logged(socket_path: str) -> list[str]:
    """The server's log lines (one per command it ran)."""
    return Path(socket_path).with_name("server.log").read_text().splitlines()


def _started(socket_path: str, before: list[str], command: str, timeout: float = 60) -> int:
    """The pid of the child that started ``command`` since the log was ``before``."""
    pattern = re.compile(rf"warm dbt: {command} in pid (\d+)$")

    def found() -> list[int]:
        return [int(m[1]) for line in _logged(socket_path)[len(before):]
                if (m := pattern.match(line))]  # fmt: skip

    assert _wait_for(lambda: found(), timeout), _logged(socket_path)[len(before) :]
    (pid,) = found()
    return pid


def _wait_for(predicate, timeout: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_a_command_runs_in_a_fork_of_the_server_as_dbt_runs_it(server, project):
    """The same output and exit code as this environment's dbt, with the client's directory and
    environment (a model reads an env var); the server took it (the warm path alone, no
    fallback), logged it, and its socket is its owner's only."""
    proc, socket_path = server
    listing = ["ls", "--resource-type", "model", "--output", "json", "--quiet"]
    warm = _run([sys.executable, "-c", WARM_ONLY, socket_path, *listing], project)
    plain = _run([DBT, *listing], project)
    assert (warm.returncode, plain.returncode) == (0, 0), warm.stdout + warm.stderr
    assert warm.stdout == plain.stdout and '"name": "two"' in warm.stdout
    built = _run([sys.executable, "-c", WARM_ONLY, socket_path, "build"], project,
                 PROBE_VALUE="from the client")  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    import duckdb

    with duckdb.connect(str(project / "probe.duckdb"), read_only=True) as con:
        assert con.execute("select y, v from two").fetchall() == [(2, "from the client")]
    log = Path(socket_path).with_name("server.log").read_text()
    assert "warm dbt: ls in pid" in log and "warm dbt: build in pid" in log
    assert stat.S_IMODE(os.stat(socket_path).st_mode) == 0o600


def test_the_exit_codes_are_dbts(server, project):
    """dbt's documented exit codes through the client: 2 for a command dbt does not know (its
    command line's usage error), 1 for a failing query."""
    _, socket_path = server
    for args, code in ((["nonsense"], 2), (["run-operation", "slow", "--args", "{n: 'x'}"], 1)):
        warm = _run([CLIENT, *args], project, PLATFORM_DBT_SERVER=socket_path)
        assert warm.returncode == code, (args, warm.stdout, warm.stderr)
    log = Path(socket_path).with_name("server.log").read_text()
    assert "warm dbt: nonsense in pid" in log and "warm dbt: run-operation in pid" in log


@contextmanager
def _slow_command(server, project: Path, out: Path) -> Iterator[tuple[subprocess.Popen, int]]:  # noqa: ANN001
    """``platform-dbt`` running :data:`SLOW` through ``server`` (its output in ``out``): the
    client, and the pid of the server's child that started it (a fork of the server)."""
    proc, socket_path = server
    before = _logged(socket_path)
    with open(out, "w") as sink:
        client = subprocess.Popen(
            [CLIENT, *SLOW],
            cwd=project,
            env={**_environment(project), "PLATFORM_DBT_SERVER": socket_path},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        child = _started(socket_path, before, "run-operation")
        assert child in _children(proc.pid)
        time.sleep(3)  # parsed, the query running
        yield client, child


@pytest.mark.slow
def test_ctrl_c_reaches_the_command(server, project):
    """dagster-dbt ends a terminated run's dbt with SIGINT: the client passes it on, and the
    command stops without finishing its query."""
    out = project / "interrupted.log"
    with _slow_command(server, project, out) as (client, child):
        client.send_signal(signal.SIGINT)
        assert client.wait(timeout=60) != 0
    assert _wait_for(lambda: child not in _children(server[0].pid), 30)
    assert "slow done" not in out.read_text()


@pytest.mark.slow
def test_a_command_whose_client_is_killed_is_stopped(server, project):
    """A SIGKILLed client (its run worker killed): the command is interrupted, not left running
    against the warehouse."""
    out = project / "orphan.log"
    with _slow_command(server, project, out) as (client, child):
        client.kill()
        client.wait()
    started = time.monotonic()
    assert _wait_for(lambda: child not in _children(server[0].pid), 45)
    assert time.monotonic() - started < dbt_server.ORPHAN_GRACE_SECONDS + 5
    assert "slow done" not in out.read_text()


@pytest.mark.slow  # a server of its own and a plain dbt: ~8 s, the fast lane is at its bar
def test_a_started_server_leaves_nothing_behind_and_then_platform_dbt_is_dbt(project, tmp_path):
    """``make demo``'s server (``started()``): ready within its import time, its private folder
    its owner's only; on leaving (SIGTERM) its socket and folder are gone. Then the client, named
    that socket nobody listens on, runs this environment's dbt (the project's models listed), and
    the warm path says it took nothing."""
    log = tmp_path / "server.log"
    with dbt_server.started(log) as socket_path:
        assert dbt_server.ready(socket_path, timeout=60), log.read_text()
        folder = socket_path.parent
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not socket_path.exists() and not folder.exists()
    gone = str(socket_path)
    listing = ["ls", "--resource-type", "model", "--output", "name", "--quiet"]
    fallback = _run([CLIENT, *listing], project, PLATFORM_DBT_SERVER=gone)
    assert fallback.returncode == 0, fallback.stdout + fallback.stderr
    assert fallback.stdout.split() == ["one", "two"]
    assert _run([sys.executable, "-c", WARM_ONLY, gone, *listing], project).returncode == 99
    assert not dbt_server.ready(gone, timeout=0.2)


def test_a_client_that_gives_up_before_go_runs_nothing(server, project):
    """A client that got no answer in time runs plain dbt instead; the child it asked must then
    not run the command too: it waits for ``go``, and a client that closes without it leaves no
    command run (no log line, no child left)."""
    import json
    import socket

    proc, socket_path = server
    log = Path(socket_path).with_name("server.log")
    before = log.read_text().count("warm dbt: ")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(socket_path)
        socket.send_fds(sock, [b"\0"], [0, 1, 2])
        request = {"argv": ["build"], "cwd": str(project), "env": _environment(project)}
        sock.sendall(json.dumps(request).encode() + b"\n")
        assert json.loads(sock.makefile("rb").readline())["pid"] > 0
    assert _wait_for(lambda: not _children(proc.pid), 10)
    assert log.read_text().count("warm dbt: ") == before
