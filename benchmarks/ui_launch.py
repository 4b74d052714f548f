"""Click-to-done on the embedded default: ``make dev`` started as a user starts it, then one
partition of ``attentive_mobile/conversions`` launched the way the UI's *Launch 1 run* launches
it (GraphQL ``launchRun`` of the asset job with the partition's tag) and a three-day backfill the
way *Launch backfill* does (``launchPartitionBackfill``), each timed from the launch to the
run's (the backfill's) end, as Dagster's webserver reports it.

    .venv/bin/python benchmarks/ui_launch.py [--runs 5]

Prints each launch's seconds and the median; writes ``benchmarks/results/ui_launch.json``. The
browser test (``system/test_ui.py``) records the same two figures as a person sees them
(``build/ui/timings.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dagster_graphql import DagsterGraphQLClient  # noqa: E402

from platform_assets_tests.ui import LAUNCH_BACKFILL, dev_server  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
ASSET = ["attentive_mobile", "conversions"]
DAYS = 7

BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status }
  }
}"""


def _one_partition(client: DagsterGraphQLClient, day: dt.date) -> float:
    started = time.monotonic()
    run_id = client.submit_job_execution(
        "__ASSET_JOB",
        repository_location_name="platform_assets",
        repository_name="__repository__",
        asset_selection=[ASSET],
        tags={"dagster/partition": day.isoformat()},
    )
    while True:
        status = client.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(0.05)
    seconds = time.monotonic() - started
    if status != "SUCCESS":
        raise SystemExit(f"run {run_id} of {day} ended {status}")
    return seconds


def _backfill(client: DagsterGraphQLClient, first: dt.date, last: dt.date) -> float:
    days = [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    params = {
        "partitionNames": days,
        "assetSelection": [{"path": ASSET}],
        "fromFailure": False,
        "tags": [],
    }
    started = time.monotonic()
    answer = client._execute(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        raise SystemExit(f"backfill not launched: {answer}")
    while True:
        found = client._execute(BACKFILL_STATUS, {"id": answer["backfillId"]})
        status = found["partitionBackfillOrError"]["status"]
        if status in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"):
            break
        time.sleep(0.1)
    seconds = time.monotonic() - started
    if status not in ("COMPLETED", "COMPLETED_SUCCESS"):
        raise SystemExit(f"backfill {answer['backfillId']} ended {status}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="single-partition launches")
    args = parser.parse_args()
    today = dt.datetime.now(dt.UTC).date()
    with tempfile.TemporaryDirectory() as tmp, dev_server(Path(tmp), days=DAYS, rows=200) as dev:
        host, port = dev.url.removeprefix("http://").split(":")
        client = DagsterGraphQLClient(host, port_number=int(port), timeout=60)
        singles = []
        for n in range(args.runs):
            day = today - dt.timedelta(days=1 + n % DAYS)
            singles.append(round(_one_partition(client, day), 2))
            print(f"one partition ({day}): {singles[-1]:.2f} s", flush=True)
        first, last = today - dt.timedelta(days=3), today - dt.timedelta(days=1)
        backfill = round(_backfill(client, first, last), 2)
        print(f"three-day backfill: {backfill:.2f} s", flush=True)
    result = {
        "one_partition_s": singles,
        "one_partition_median_s": statistics.median(singles),
        "three_day_backfill_s": backfill,
    }
    print(f"median one partition {result['one_partition_median_s']:.2f} s; backfill {backfill} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ui_launch.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
