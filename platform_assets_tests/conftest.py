"""Shared fixtures: a real OpenSSH sshd, per-test remote folders and DuckDB files."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_assets.core.transport.sftp import SFTPResource
from platform_assets_tests.deliveries import delivery_env, inbox  # noqa: F401  (fixtures)
from platform_assets_tests.loyalty import api, loyalty_env  # noqa: F401  (fixtures)
from platform_assets_tests.postgres import PostgresServer, postgres_server
from platform_assets_tests.sshd import SshServer, start_sshd


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshServer]:
    server = start_sshd()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def remote_dir(sshd: SshServer, request: pytest.FixtureRequest) -> Path:
    """An empty folder on the SFTP server for this test."""
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name)[:60] + "_" + digest
    folder = sshd.remote_dir / name
    folder.mkdir()
    folder.chmod(0o755)
    return folder


def make_sftp(sshd: SshServer, remote_dir: Path, auth: str = "password", **kw) -> SFTPResource:
    settings = dict(
        host=sshd.host,
        port=sshd.port,
        username=sshd.user,
        known_hosts=str(sshd.known_hosts),
        remote_dir=str(remote_dir),
        env_prefix="TEST",
        retry_backoff_seconds=0.05,
    )
    if auth == "password":
        if not sshd.password:
            pytest.fail("password authentication tests need root (CI runs as root)")
        settings["password"] = sshd.password
    else:
        settings["private_key_path"] = str(sshd.client_keys[auth])
    settings.update(kw)
    return SFTPResource(**settings)


@pytest.fixture
def sftp(sshd: SshServer, remote_dir: Path) -> SFTPResource:
    """Password auth when root (CI), else the ed25519 key."""
    return make_sftp(sshd, remote_dir, "password" if sshd.password else "ed25519")


@pytest.fixture(autouse=True)
def raw_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own raw archive (``RAW_ARCHIVE_DIR``), so no test restores another's files."""
    path = tmp_path / "raw"
    monkeypatch.setenv("RAW_ARCHIVE_DIR", str(path))
    return path


@pytest.fixture
def warehouse(tmp_path: Path) -> str:
    return str(tmp_path / "warehouse.duckdb")


@pytest.fixture(scope="session")
def lake_postgres() -> Iterator[PostgresServer]:
    """The lakes' catalog server of this test worker (``warehouses.py``)."""
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def warm_dbt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A warm dbt of this test worker (``platform_assets/models/dbt_server.py``, as ``make demo``
    starts it): its socket, and its log (a line per command it ran)."""
    from platform_assets.models import dbt_server

    log = tmp_path_factory.mktemp("warm_dbt") / "server.log"
    with dbt_server.started(log) as socket_path:
        assert dbt_server.ready(socket_path, timeout=120), log.read_text()
        yield str(socket_path), log


def vendor_env(monkeypatch, sshd, remote_dir, prefix: str, auth: str) -> None:
    """``<prefix>_SFTP_*`` in the environment: the real sshd, this test's folder, ``auth``."""
    for name in [n for n in os.environ if n.startswith(f"{prefix}_SFTP_")]:
        monkeypatch.delenv(name)
    for name, value in sshd.env(prefix, auth).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(f"{prefix}_SFTP_REMOTE_DIR", str(remote_dir))


@pytest.fixture
def attentive_env(sshd, remote_dir, monkeypatch) -> Path:
    """``ATTENTIVE_SFTP_*`` pointing at this test's folder on the real sshd."""
    vendor_env(
        monkeypatch, sshd, remote_dir, "ATTENTIVE", "password" if sshd.password else "ed25519"
    )
    return remote_dir


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    """Each phase's report on the test item (``rep_call``), for fixtures that react to a failure
    (the browser tests' screenshot)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


LAYERS = ("unit", "integration", "system")
LONGEST = (
    # the lake lane's (6.5 min of its ~10 on 2 cores, 2026-12-03: last, the lane waited for it)
    "test_scale_out.py",
    # (the slow lane's files are in SLOW_LANE_SECONDS: two groups of about equal time)
    # the fast lane's (70, 42, 37, 34 and 24 s of its ~320 s on 2 cores, 2026-12-03): with them
    # last, the worker that drew two of them ran 55 s after the other had finished
    "test_cli_and_demo.py",
    "test_models.py",
    "test_vendor_tables.py",
    "test_loyalty_promises.py",
    "test_loyalty.py",
    "test_dbt_server.py",  # ~25 s (2026-12-04)
)
"""Each lane's longest files, started first and in this order (pytest-xdist hands a worker the
next file when it is free), so that the workers end together: the many short files fill in."""


def _longest(item: pytest.Item) -> int:
    name = Path(item.path).name
    return LONGEST.index(name) if name in LONGEST else len(LONGEST)


SLOW_LANE_SECONDS = {
    "test_outbound_trials.py": 169,
    "test_instance.py": 128,
    "test_killed_run.py": 104,
    "test_ui.py": 85,
    "test_cli_and_demo.py": 69,
    "test_delivery_trials.py": 59,
    "test_faults.py": 53,
    "test_dbt_server.py": 26,
}
"""The slow lane's files and their seconds in the lane (three workers, 2026-12-05 evening, once
the kill tests forked their loads and the daemon tests ran their commands in-process). ``make
test-slow`` runs them as one group per worker (``--dist loadgroup``), split so that the longest
group is as short as can be: handing out files as workers free up (``loadfile``) gave a worker
two long ones while the other idled (pytest-xdist gives a worker its next file while it still has
two tests to run, and most of these files have one or two), and the longest-first greedy split
left one group at 263 s where the best was 242 s (earlier figures, 2026-12-05)."""


def _slow_lane_workers() -> int:
    """The lane's workers as ``-n`` set them (pytest-xdist tells its workers the count; the
    Makefile states it), two without pytest-xdist."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "2"))


def _slow_lane_groups() -> dict[str, str]:
    """Each slow file's group: of every split of the files into the workers' groups (3^8 here),
    the one whose longest group has the fewest seconds (the first such in a fixed order)."""
    names = sorted(SLOW_LANE_SECONDS, key=lambda name: (-SLOW_LANE_SECONDS[name], name))
    workers = _slow_lane_workers()

    def longest(split: tuple[int, ...]) -> int:
        totals = [0] * workers
        for name, group in zip(names, split, strict=True):
            totals[group] += SLOW_LANE_SECONDS[name]
        return max(totals)

    best = min(itertools.product(range(workers), repeat=len(names)), key=longest)
    return {name: f"slow{group}" for name, group in zip(names, best, strict=True)}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's, which reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked with its layer, its folder (``pytest -m unit``: the seconds lane),
    and a slow one with its slow-lane group (:data:`SLOW_LANE_SECONDS`; a new slow file joins
    the last group); the :data:`LONGEST` files run first, then the longest layers (system,
    integration, unit), so parallel workers end together (the many short unit tests fill the
    gaps)."""
    layers: dict[str, str] = {}
    slow_groups = _slow_lane_groups()
    for item in items:
        layer = next((p for p in Path(item.path).parts if p in LAYERS), None)
        if layer is None:
            raise pytest.UsageError(f"{item.nodeid}: tests live in unit/, integration/, system/")
        item.add_marker(layer)
        layers[item.nodeid] = layer
        if item.get_closest_marker("slow") and not item.get_closest_marker("lake"):
            group = slow_groups.get(Path(item.path).name, f"slow{_slow_lane_workers() - 1}")
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(  # the longest files first, then by layer; stable within a layer
        key=lambda item: (_longest(item), -LAYERS.index(layers[item.nodeid]))
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under ``--dist loadgroup``, fail when pytest-xdist did not group: it marks a grouped
    test's id with ``@<group>``, which pytest 9.2 ignores (pytest-dev/pytest-xdist#1386), and
    then every test is a group of its own: the slow lane's browser test set ``make dev`` up once
    per worker and its groups were not kept (pyproject pins pytest below 9.2)."""
    if not getattr(session.config.option, "loadgroup", False):  # xdist's workers, loadgroup
        return
    ungrouped = [
        item.nodeid
        for item in session.items
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid
    ]
    if ungrouped:
        raise pytest.UsageError(
            f"pytest-xdist did not group {len(ungrouped)} tests of an xdist_group (e.g. "
            f"{ungrouped[0]}): this pytest ({pytest.__version__}) ignores its group suffix "
            "(pytest-dev/pytest-xdist#1386); install pyproject's pytest"
        )
