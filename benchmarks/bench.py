"""1 GB from SFTP to validated DuckDB rows: the platform against the machine's floor and dlt.

    .venv/bin/python benchmarks/bench.py                 # 1 GB (make bench)
    .venv/bin/python benchmarks/bench.py --size 250MB    # smaller or larger
    .venv/bin/python benchmarks/bench.py --scaling       # 250 MB, 1 GB, 2 GB (make bench-scaling)

A generated Attentive ``attentive_email_SMS_YYYYMMDD.csv`` of the chosen size is served by a real
OpenSSH sshd on 127.0.0.1. Measured, each in its own process (so peak RSS is that step's own):

1. floor: OpenSSH's ``sftp`` client downloads the file, then DuckDB's ``read_csv`` creates a table
   from the local copy with the documented md5 key computed in SQL;
2. platform: Dagster materializes the partition of ``attentive_mobile/notifications`` (download,
   parse, key, validate every row with pandera, upsert) into an empty table, and again into a
   table that already holds 10 million rows;
3. peer: dlt's filesystem source over sftp into DuckDB with dlt's defaults (in ``.venv-dlt``);
4. the platform's download alone (its paramiko client, as the loader downloads), then its key
   pass alone on that copy (every row's key: the least a loader must read before it writes),
   for the bounds: that download and the load's own insert and commit, one after the other,
   before any validation, keys or Dagster; the same with the key pass; and the same with
   OpenSSH's download in place of the platform's.

Each step also reports the whole machine's busy CPU-seconds while it ran (sshd's included).

Prints a table and writes ``benchmarks/results/latest.json`` (``--scaling``: ``scaling.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform as host
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from platform_assets_tests.sshd import start_sshd  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
DLT_PYTHON = REPO / ".venv-dlt" / "bin" / "python"
DAY = dt.date(2026, 10, 1)
PREFILL_ROWS = 10_000_000
DLT_CAP = 10.0


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(KB|MB|GB)?", text.strip().upper())
    if not match:
        raise argparse.ArgumentTypeError(f"size like 250MB or 1GB, got {text!r}")
    unit = {"KB": 1e3, "MB": 1e6, "GB": 1e9, None: 1}[match[2]]
    return int(float(match[1]) * unit)


def busy_cpu_seconds() -> float:
    """CPU-seconds this machine has spent busy since boot (every process: a step's sshd
    too), from /proc/stat; 0 where there is none."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_step(
    python: Path | str,
    step: str,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    **opts: object,
) -> dict:
    """Run one step of steps.py in its own process group; on time-out, kill the whole group.
    ``busy_cpu_s``: the machine's busy CPU-seconds while it ran (sshd's included)."""
    cmd = [str(python), str(REPO / "benchmarks" / "steps.py"), step]
    for name, value in opts.items():
        cmd += [f"--{name.replace('_', '-')}", str(value)]
    os.sync()  # the previous step's writes reach the disk now, not during this step
    busy = busy_cpu_seconds()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"seconds": timeout, "completed": False}
    if proc.returncode != 0:
        raise RuntimeError(f"step {step} failed:\n{out[-4000:]}\n{err[-4000:]}")
    busy = busy_cpu_seconds() - busy
    return {**json.loads(out.strip().splitlines()[-1]), "completed": True, "busy_cpu_s": busy}


def figures(result: dict, size_mb: float) -> dict:
    seconds = result["seconds"]
    out = dict(result)
    if not result.get("completed", True):  # stopped at its time cap: rates are upper bounds
        out["mb_per_s_at_most"] = round(size_mb / seconds, 1)
        out["seconds_at_least"] = round(seconds, 2)
        out["mb_per_s"] = out["mb_per_s_at_most"]
        out["seconds"] = round(seconds, 2)
        return out
    out["mb_per_s"] = round(size_mb / seconds, 1)
    if "rows" in result:
        out["rows_per_s"] = int(result["rows"] / seconds)
    out["seconds"] = round(seconds, 2)
    if "peak_rss_mb" in out:
        out["peak_rss_mb"] = round(out["peak_rss_mb"], 1)
    if "busy_cpu_s" in out:
        out["busy_cpu_s"] = round(out["busy_cpu_s"], 1)
    return out


def median_run(runs: list[dict]) -> dict:
    """The run with the median time (the upper one of an even count), with its own figures,
    every run's seconds, and the largest peak RSS of all runs."""
    chosen = dict(sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2])
    chosen["runs_seconds"] = [round(r["seconds"], 2) for r in runs]
    if all("peak_rss_mb" in r for r in runs):
        chosen["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return chosen


def bench(size: int, work: Path, with_dlt: bool, repeat: int = 3) -> dict:
    sshd = start_sshd()
    try:
        remote = sshd.remote_dir / "bench"
        remote.mkdir()
        remote.chmod(0o755)
        made = run_step(
            sys.executable, "generate", remote_dir=remote, bytes=size, partition=DAY.isoformat()
        )
        path = Path(made["path"])
        size_mb = path.stat().st_size / 1e6
        key = sshd.client_keys["ed25519"]
        common: dict[str, Any] = {"port": sshd.port, "user": sshd.user, "key": key}

        env = {k: v for k, v in os.environ.items() if not k.startswith("ATTENTIVE_")}
        env.update(sshd.env("ATTENTIVE", auth="ed25519"))
        env["ATTENTIVE_SFTP_REMOTE_DIR"] = str(remote)
        env["PLATFORM_START_DATE"] = "2026-01-01"
        env["PLATFORM_WORK_DIR"] = str(work / "platform_work")
        # the raw archive as shipped (on by default), inside the run's folder so it goes with it
        env["RAW_ARCHIVE_DIR"] = str(work / "raw")
        prefilled = work / "prefilled.duckdb"
        run_step(sys.executable, "prefill", database=prefilled, rows=PREFILL_ROWS)

        def platform(step: str, **opts: str | Path) -> dict:
            """A platform step: the platform's settings (env) and the benchmark's partition."""
            return run_step(
                sys.executable, step, env=env, timeout=None, partition=DAY.isoformat(), **opts
            )

        # the steps take turns, `repeat` rounds, so that the machine's drift (a shared VM's
        # speed varies by +-20% over minutes) hits the floor and the platform alike; each
        # step's figure is its median round
        downloads, ducks, own_downloads, keypasses, empties, fulls = [], [], [], [], [], []
        for round_ in range(repeat):
            local = work / "floor.csv"
            downloads.append(
                run_step(
                    sys.executable,
                    "floor-download",
                    remote=path,
                    local=local,
                    known_hosts=sshd.known_hosts,
                    **common,
                )
            )
            floor_db = work / f"floor{round_}.duckdb"
            ducks.append(run_step(sys.executable, "floor-duckdb", local=local, database=floor_db))
            local.unlink()
            floor_db.unlink()
            own_copy = work / "platform_download.csv"
            own_downloads.append(platform("platform-download", remote=path, local=own_copy))
            keypasses.append(platform("platform-keypass", local=own_copy))
            own_copy.unlink()
            empty_db = work / f"empty{round_}.duckdb"
            empties.append(platform("platform", database=empty_db))
            empty_db.unlink()
            full_db = work / f"full{round_}.duckdb"
            shutil.copyfile(prefilled, full_db)
            fulls.append(platform("platform", database=full_db))
            full_db.unlink()
        download, duck = median_run(downloads), median_run(ducks)
        empty, full = median_run(empties), median_run(fulls)
        own_download, keypass = median_run(own_downloads), median_run(keypasses)
        floor_s = download["seconds"] + duck["seconds"]

        peer = None
        if with_dlt:
            # dlt is slow enough that waiting for it to finish a GB takes most of an hour: it
            # gets DLT_CAP times the platform's time; past that, the ratio is a lower bound.
            cap = DLT_CAP * max(empty["seconds"], full["seconds"])
            peer = run_step(
                DLT_PYTHON,
                "dlt",
                remote_dir=remote,
                glob=path.name,
                database=work / "dlt.duckdb",
                pipelines_dir=work / "dlt_pipelines",
                timeout=cap,
                **common,
            )
    finally:
        sshd.stop()
        shutil.rmtree(sshd.root, ignore_errors=True)

    platform_s = max(empty["seconds"], full["seconds"])
    # what no design of the loader skips, one after the other: its download, the key pass and
    # storing the rows (the insert and its commit, as measured inside the empty-table load).
    # The insert waits for the key pass: which rows win a repeated key is known only at the
    # file's end, and deleting the losers after a streamed insert costs a commit as long as the
    # insert (benchmarks/README.md). Rules, the keys stage and Dagster's run come on top. Also:
    # without the key pass, and with OpenSSH's download in place of the platform's.
    stored = empty["stages_s"]["insert"] + empty["stages_s"]["commit"]
    bound_s = own_download["seconds"] + stored
    keyed_s = bound_s + keypass["seconds"]
    openssh_s = download["seconds"] + keypass["seconds"] + stored
    result = {
        "size_mb": round(size_mb, 1),
        "rows": duck["rows"],
        "platform_over_floor": round(platform_s / floor_s, 2),
        "dlt_over_platform": round(peer["seconds"] / platform_s, 2) if peer else None,
        "dlt_over_platform_is_lower_bound": bool(peer and not peer["completed"]),
        "peak_rss_mb": round(max(empty["peak_rss_mb"], full["peak_rss_mb"]), 1),
        "floor": {
            "seconds": round(floor_s, 2),
            "download": figures(download, size_mb),
            "duckdb_read_csv_md5": figures(duck, size_mb),
        },
        "platform_download": figures(own_download, size_mb),
        "platform_empty_table": figures(empty, size_mb),
        "bound": {
            "seconds": round(bound_s, 2),
            "over_floor": round(bound_s / floor_s, 2),
            "parts": "platform_download + platform_empty_table insert + commit",
            "with_key_pass_seconds": round(keyed_s, 2),
            "with_key_pass_over_floor": round(keyed_s / floor_s, 2),
            "openssh_download_with_key_pass_seconds": round(openssh_s, 2),
            "openssh_download_with_key_pass_over_floor": round(openssh_s / floor_s, 2),
        },
        "platform_keypass": figures(keypass, size_mb),
        "platform_10m_row_table": figures(full, size_mb),
        "dlt": figures(peer, size_mb) if peer else None,
        "machine": {
            "cpus": os.cpu_count(),
            "python": host.python_version(),
            "system": f"{host.system()} {host.machine()}",
        },
        "rounds": repeat,
        "command": " ".join(["benchmarks/bench.py", *sys.argv[1:]]),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return result


def table(result: dict) -> str:
    rows = [
        ("floor: sftp client download", result["floor"]["download"]),
        ("floor: duckdb read_csv + md5", result["floor"]["duckdb_read_csv_md5"]),
        ("platform: its download alone", result["platform_download"]),
        ("platform: its key pass alone", result["platform_keypass"]),
        ("platform -> empty table", result["platform_empty_table"]),
        ("platform -> 10M-row table", result["platform_10m_row_table"]),
    ]
    if result["dlt"]:
        rows.append(("dlt filesystem -> duckdb", result["dlt"]))
    lines = [
        f"{result['size_mb']:.0f} MB, {result['rows']:,} rows",
        f"{'step':32} {'seconds':>8} {'MB/s':>7} {'rows/s':>10} {'peak RSS MB':>12} {'CPU-s':>6}",
    ]
    for name, r in rows:
        if not r.get("completed", True):  # stopped at its time cap
            lines.append(
                f"{name:32} {'>' + format(r['seconds'], '.0f'):>8} "
                f"{'<' + format(r['mb_per_s'], '.1f'):>7} {'n/a':>10} {'n/a':>12}"
            )
            continue
        rows_per_s = format(r["rows_per_s"], ",") if "rows_per_s" in r else "n/a"
        lines.append(
            f"{name:32} {r['seconds']:>8.2f} {r['mb_per_s']:>7.1f} "
            f"{rows_per_s:>10} {r.get('peak_rss_mb', 0):>12.0f} {r.get('busy_cpu_s', 0):>6.1f}"
        )
    lines.append(
        f"floor total {result['floor']['seconds']:.2f} s; "
        f"platform/floor {result['platform_over_floor']:.2f} (bar <= 1.3); "
        f"dlt/platform {'>= ' if result['dlt_over_platform_is_lower_bound'] else ''}"
        f"{result['dlt_over_platform']} (bar >= 5); "
        f"platform peak RSS {result['peak_rss_mb']:.0f} MB (bar <= 1000)"
    )
    bound = result["bound"]
    lines.append(
        f"the platform's download alone + its insert and commit: {bound['seconds']:.2f} s = "
        f"{bound['over_floor']:.2f} x floor (before any validation, keys or Dagster); "
        "CPU-s: the whole machine's while the step ran"
    )
    lines.append(
        f"+ the key pass (every row's key before any row is written): "
        f"{bound['with_key_pass_seconds']:.2f} s = {bound['with_key_pass_over_floor']:.2f} x; "
        f"with OpenSSH's download instead: {bound['openssh_download_with_key_pass_seconds']:.2f} s"
        f" = {bound['openssh_download_with_key_pass_over_floor']:.2f} x"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=parse_size, default=parse_size("1GB"))
    parser.add_argument("--scaling", action="store_true", help="250 MB, 1 GB and 2 GB")
    parser.add_argument("--no-dlt", action="store_true", help="skip the dlt peer")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of floor and platform steps (medians)"
    )
    args = parser.parse_args()
    with_dlt = not args.no_dlt
    if with_dlt and not DLT_PYTHON.exists():
        parser.error("dlt is not installed: run `make bench` (it creates .venv-dlt)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    sizes = [parse_size(s) for s in ("250MB", "1GB", "2GB")] if args.scaling else [args.size]
    results = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench_", dir=args.work_dir) as tmp:
            result = bench(size, Path(tmp), with_dlt, args.repeat)
        print(table(result), flush=True)
        print(flush=True)
        results.append(result)
    if args.scaling:
        out = {"runs": results, **{k: results[-1][k] for k in ("size_mb", "peak_rss_mb")}}
        out["platform_over_floor"] = max(r["platform_over_floor"] for r in results)
        out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in results)
        (RESULTS / "scaling.json").write_text(json.dumps(out, indent=2) + "\n")
    else:
        (RESULTS / "latest.json").write_text(json.dumps(results[0], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
