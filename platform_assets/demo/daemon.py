"""``make dev``'s Dagster daemon: ``dagster-daemon run``, with backfills looked at every 2 s.

Dagster 1.13's backfill daemon waits a fixed 30 s between its looks at the backfills
(``dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS``, read at every loop, with no
setting): right for a deployment, where a backfill runs for minutes, but a person who clicks
*Launch backfill* on three days in the UI of ``make dev`` would wait up to 30 s for the daemon to
submit the run and up to 30 s more for it to see the run done. This entry point sets that
interval to ``DEV_TICK_SECONDS`` and then runs Dagster's own daemon command, unchanged. Only
``make dev`` uses it; a deployment runs ``dagster-daemon run`` (docs/operations.md). The
automation daemon, which reads the same constant as a default, keeps its 30 s: the shipped
dagster.yaml sets ``auto_materialize.minimum_interval_seconds``.

``python -m platform_assets.demo.daemon run -w workspace.yaml`` (the arguments of
``dagster-daemon``).
"""

from __future__ import annotations

DEV_TICK_SECONDS = 2


def main() -> None:
    from dagster._daemon import controller
    from dagster._daemon.cli import main as dagster_daemon

    if not isinstance(getattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS", None), int):
        # a Dagster upgrade renamed it: fail loudly rather than silently tick every 30 s
        raise RuntimeError(
            "dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS is gone: "
            "platform_assets/demo/daemon.py needs updating for this Dagster version"
        )
    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = DEV_TICK_SECONDS
    dagster_daemon()


if __name__ == "__main__":
    main()
