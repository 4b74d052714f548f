"""``make dev``'s code server: ``dagster api grpc``, with each run forked from a warm process.

Dagster 1.13's code server starts every run in a *spawned* process
(``dagster._grpc.server.DagsterApiServer._mp_ctx``, with no setting), which imports Python,
Dagster, this package, dagster-dbt and dbt-core from scratch and builds the definitions before the
run's first step: ~4 of the ~6.3 s from *Launch 1 run* to *Success* for a load whose own work is
a fraction of a second (``benchmarks/ui_launch.py``). This entry point gives the server a
``forkserver`` context instead, whose server process imports :data:`PRELOAD` once when the code
server starts (and builds the definitions once there: demo/warm.py); a run is then a fork of that
process (milliseconds) that finds its definitions built (``definitions.py`` keeps them per
configuration) and its instance's storage imported, and runs. The run
process is still a fresh child per run, as Dagster's own is: its pool slots, run monitoring (its
exit seen by the code server), termination and logs are Dagster's.

The webserver and the daemon of ``make dev`` both use this one server (``dagster-webserver -w``
with a ``grpc_server`` entry): the code location loads once, not once per process. A server
started this way serves the code it loaded: *Reload* in the UI re-reads nothing, so restart
``make dev`` after changing the code. A deployment runs Dagster's own ``dagster code-server
start`` (docs/deploy.md), unchanged.

``python -m platform_assets.demo.code_server -m platform_assets.definitions -p <port> ...`` (the
arguments of ``dagster api grpc``).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import sys
from typing import Any

PRELOAD = [
    "dagster._grpc.impl",  # the run's entry point (start_run_in_subprocess) and Dagster itself
    # the instance's storage a run opens first (SQLAlchemy, Dagster's SQL storages: ~0.35 s of
    # a run's ~0.95 s of CPU before they were here); PostgreSQL's when it is installed
    "dagster._core.storage.base_storage",
    "platform_assets.core.instance_storage",
    "dagster_postgres",
    "dbt.adapters.duckdb",  # what a dbt build of the models imports
    "platform_assets.definitions",  # the code location's module itself
    "platform_assets.demo.warm",  # this package, dagster-dbt, dbt-core; the definitions built
]
"""Modules the fork server imports once, so a run forked from it does not (one that is not
installed is skipped: ``multiprocessing.forkserver`` ignores its ``ImportError``)."""


def forking_context() -> multiprocessing.context.ForkServerContext:
    """A ``forkserver`` context whose server has imported :data:`PRELOAD` (started now, in the
    background, so the first run finds it warm)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    multiprocessing.forkserver.ensure_running()
    return context


def main() -> None:
    from dagster._cli import main as dagster_cli
    from dagster._grpc import server

    spawned = server.DagsterApiServer.__init__
    context = forking_context()

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        spawned(self, *args, **kwargs)
        if not isinstance(getattr(self, "_mp_ctx", None), multiprocessing.context.SpawnContext):
            # a Dagster upgrade changed how runs start: fail loudly rather than patch blindly
            raise RuntimeError(
                "dagster._grpc.server.DagsterApiServer no longer keeps a spawn context in "
                "_mp_ctx: platform_assets/demo/code_server.py needs updating for this version"
            )
        self._mp_ctx = context

    server.DagsterApiServer.__init__ = init  # type: ignore[method-assign]
    sys.argv = ["dagster", "api", "grpc", *sys.argv[1:]]
    dagster_cli()


if __name__ == "__main__":
    main()
