"""SFTP over a long link: the platform against OpenSSH's ``sftp`` at 0, 20, 50 and 100 ms.

    .venv/bin/python benchmarks/long_link.py [--mb 64]

A userspace proxy on loopback delays each direction by half the round trip (this kernel has no
``netem``; ``platform_assets_tests/delay_proxy.py``); both clients download and upload the same
file through it from the same sshd. Prints MB/s per client and direction, writes
``benchmarks/results/long_link.json``. ``make bench`` runs it after the 1 GB benchmark.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from platform_assets_tests.long_link import (  # noqa: E402
    measure,
    measure_overlap,
    measure_range,
)
from platform_assets_tests.sshd import start_sshd  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
RANGE_DAYS = 12
RANGE_WIDTHS = (1, 2, 4)
OVERLAP_ROWS = 900_000  # ~200 MB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=64, help="the file's size in MiB")
    args = parser.parse_args()
    server = start_sshd()
    rows = []
    ranged: dict[int, float] = {}
    gzipped: dict[int, float] = {}
    overlaps: list[dict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="long_link_") as work:
            print(f"SFTP over a long link, {args.mb} MiB file, MB/s (higher is better)")
            print(f"{'RTT':>7} {'download: OpenSSH':>18} {'platform':>9} "
                  f"{'upload: OpenSSH':>16} {'platform':>9}")  # fmt: skip
            for rtt in (0, 20, 50, 100):
                f = measure(server, Path(work), rtt, args.mb)
                rows.append(dataclasses.asdict(f))
                down = f"{f.openssh_download_mbps:>18} {f.platform_download_mbps:>9}"
                up = f"{f.openssh_upload_mbps:>16} {f.platform_upload_mbps:>9}"
                print(f"{rtt:>4} ms {down} {up}", flush=True)
            print(f"A range run of {RANGE_DAYS} daily files at 100 ms, seconds by files "
                  "downloaded at once (PLATFORM_PARALLEL_DOWNLOADS)")  # fmt: skip
            ranged = measure_range(server, Path(work), 100, RANGE_DAYS, RANGE_WIDTHS)
            print("  ".join(f"{width}: {s} s" for width, s in ranged.items()), flush=True)
            gzipped = measure_range(server, Path(work), 100, RANGE_DAYS, (2,), gzipped=True)
            print(f"the same files gzipped (only <name>.gz on the server, as Accengage's): "
                  f"{gzipped[2]} s at 2", flush=True)  # fmt: skip
            print("One file's load, validated while it arrives vs read whole after its download")
            for rtt in (0, 50):
                o = measure_overlap(server, Path(work), rtt, OVERLAP_ROWS)
                overlaps.append(o)
                print(f"{rtt:>4} ms {o['mb']} MB: {o['followed']} s vs {o['whole']} s", flush=True)
    finally:
        server.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "files": rows,
        "range_100ms_seconds_by_parallel_downloads": ranged,
        "range_100ms_gzipped_seconds_at_2": gzipped.get(2),
        "validated_while_arriving": overlaps,
    }
    (RESULTS / "long_link.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
