"""A job that reports how its run process started, for the code server test: its parent's pid and
whether the platform's definitions were already imported when the run began (this module never
imports them). Written to the file ``PROBE_OUT`` names."""

import json
import os
import sys

import dagster as dg


@dg.op
def report_start() -> None:
    """Where this run's process came from."""
    warm = "platform_assets.definitions" in sys.modules
    out = {"pid": os.getpid(), "ppid": os.getppid(), "warm": warm}
    with open(os.environ["PROBE_OUT"], "w", encoding="utf-8") as fh:
        json.dump(out, fh)


@dg.job(executor_def=dg.in_process_executor)  # the op in the run process itself
def probe() -> None:
    report_start()


defs = dg.Definitions(jobs=[probe])
