"""How much of the demo's time is the data work: the demo's path (files, loads, models,
deliveries, loyalty) over N days, with what surrounds the work counted.

    .venv/bin/python benchmarks/overhead.py                  # the demo: 7 days (make demo)
    .venv/bin/python benchmarks/overhead.py --days 30        # a 30-day backfill plus models

Runs ``python -m platform_assets.demo run`` in a fresh data folder (its own process, as a user
runs it) and reads back, independently of the demo's own summary:

- wall time of the whole command and of each stage (``data/demo-timings.json``);
- dbt invocations (``Running with dbt=`` in ``data/demo.log``), dbt's own build time per
  invocation (its ``Finished running ... in N s`` line) and the invocations that re-parsed the
  project (``Unable to do partial parsing``);
- runs launched (the demo's Dagster instance);
- the loads' work: for every partition loaded, the seconds the loader spent in DuckDB and
  pandera (``seconds_validate`` + ``seconds_keys`` + ``seconds_write`` of its materialization),
  and the ratios to it of the whole command's wall time and of the backfill's (the loads and
  models stages: the issue's "30-day backfill of every table plus models").

Also times one ``dbt parse`` of the project without and with the kept partial-parse state.
Writes ``benchmarks/results/overhead-<days>d.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PROJECT = REPO / "platform_assets" / "models" / "dbt_project"
WORK = ("seconds_validate", "seconds_keys", "seconds_write")


def _loads_work(home: Path) -> tuple[float, int, int]:
    """Seconds of DuckDB and pandera work over every partition loaded, partitions, runs."""
    import dagster as dg

    from platform_assets.defs import VENDOR_SOURCES

    os.environ["DAGSTER_HOME"] = str(home)  # the shipped config's storage lives there
    with dg.DagsterInstance.from_config(str(home)) as instance:
        work, partitions = 0.0, 0
        for spec in (t for s in VENDOR_SOURCES for t in s.tables):
            records = instance.fetch_materializations(spec.asset_key, limit=10_000).records
            for record in records:
                mat = record.asset_materialization
                if mat is None:
                    continue
                partitions += 1
                for k in WORK:
                    value = mat.metadata[k].value if k in mat.metadata else 0.0
                    work += float(value) if isinstance(value, int | float) else 0.0
        runs = instance.get_runs_count()
    return work, partitions, runs


def _parse_seconds() -> dict[str, float]:
    """One ``dbt parse`` with the run's vars: from scratch, then with its kept state."""
    dbt = str(Path(sys.executable).with_name("dbt"))
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as target:
        variables = json.dumps({"asapp_customer_id_hash": "md5"})
        args = [dbt, "parse", "--quiet", "--profiles-dir", ".", "--target-path", target]
        for label in ("full_parse_s", "partial_parse_s"):
            started = time.perf_counter()
            subprocess.run([*args, "--vars", variables], cwd=PROJECT, check=True)
            out[label] = round(time.perf_counter() - started, 2)
    return out


def measure(days: int, rows: int) -> dict[str, object]:
    data = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    try:
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_SFTP_HOST", "_PATH"))}
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "platform_assets.demo",
                "run",
                "--data-dir",
                str(data / "data"),
                "--days",
                str(days),
                "--rows",
                str(rows),
            ],  # fmt: skip
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        if done.returncode:
            raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])
        stages = json.loads((data / "data" / "demo-timings.json").read_text())
        log = (data / "data" / "demo.log").read_text()
        dbt_builds = [float(s) for s in re.findall(r"Finished running .* \(([0-9.]+)s\)", log)]
        work, partitions, runs = _loads_work(data / "data" / "dagster_home")
        return {
            "days": days,
            "rows": rows,
            "wall_s": round(wall, 1),
            "stages_s": {k: round(v, 1) for k, v in stages.items()},
            "output_lines": len(done.stdout.splitlines()),
            "dbt_invocations": log.count("Running with dbt="),
            "dbt_reparsed": log.count("Unable to do partial parsing because config"),
            "dbt_build_s": dbt_builds,
            "runs": runs,
            "partitions_loaded": partitions,
            "loads_work_s": round(work, 1),
            "wall_over_loads_work": round(wall / work, 1) if work else None,
            "loads_stage_over_work": round(stages["loads"] / work, 1) if work else None,
            # the backfill: the loads and models stages (not the sample files, not outbound)
            "backfill_over_work": (
                round((stages["loads"] + stages["models"]) / work, 2) if work else None
            ),
            "dbt_parse": _parse_seconds(),
        }
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rows", type=int, default=5000, help="notification rows per day")
    args = parser.parse_args()
    result = measure(args.days, args.rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"overhead-{args.days}d.json").write_text(json.dumps(result, indent=1) + "\n")
    for key, value in result.items():
        print(f"{key:22} {value}")


if __name__ == "__main__":
    main()
