"""Throughput over a long link: OpenSSH's ``sftp`` client and the platform's SFTP resources
downloading and uploading the same file through the same :class:`DelayProxy` at a given round
trip, against the same sshd. Shared by ``system/test_long_link.py`` and
``benchmarks/long_link.py``."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_assets.core.transport.sftp import SFTPResource
from platform_assets.core.transport.upload import SFTPDeliveryResource
from platform_assets_tests.delay_proxy import DelayProxy
from platform_assets_tests.sshd import SshServer


@dataclass(frozen=True)
class LinkFigures:
    rtt_ms: int
    mb: float
    openssh_download_mbps: float
    platform_download_mbps: float
    openssh_upload_mbps: float
    platform_upload_mbps: float


def _openssh(server: SshServer, port: int, known_hosts: Path, command: str) -> float:
    """Seconds for OpenSSH's ``sftp`` (its defaults: 64 requests of 32 KiB in flight) to run
    one batch ``command``."""
    with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as batch:
        batch.write(command + "\n")
    try:
        started = time.perf_counter()
        subprocess.run(
            ["sftp", "-q", "-b", batch.name, "-P", str(port),
             "-i", str(server.client_keys["ed25519"]), "-o", f"UserKnownHostsFile={known_hosts}",
             "-o", "BatchMode=yes", f"{server.user}@127.0.0.1"],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        return time.perf_counter() - started
    finally:
        os.unlink(batch.name)


def _client_settings(server: SshServer, work: Path, port: int, folder: Path) -> dict[str, Any]:
    """An SFTP resource's settings for ``folder`` on ``server`` through the proxy on ``port``
    (its own known_hosts file: the server's keys under the proxy's address)."""
    known_hosts = work / f"known_hosts_{port}"
    known_hosts.write_text(
        "".join(f"[127.0.0.1]:{port} {key}\n" for key in server.host_public_keys)
    )
    return dict(
        host="127.0.0.1",
        port=port,
        username=server.user,
        known_hosts=str(known_hosts),
        remote_dir=str(folder),
        env_prefix="LINK",
        private_key_path=str(server.client_keys["ed25519"]),
    )


def measure(
    server: SshServer,
    work: Path,
    rtt_ms: int,
    size_mb: int,
    rounds: int = 1,
    settled_after: int | None = None,
) -> LinkFigures:
    """One file of ``size_mb`` down and up, by each client, through a proxy of ``rtt_ms``; the
    clients take turns for ``rounds`` rounds and each keeps its best (a shared machine's load
    then hits both alike). With ``settled_after``, the turns end sooner, once that many rounds
    have the platform's best at least as fast as OpenSSH's both ways (the same number of turns
    each: a round more could only matter where the two are close)."""
    folder = server.remote_dir / f"long-link-{rtt_ms}"
    folder.mkdir(exist_ok=True)
    source = folder / "file.bin"
    source.write_bytes(os.urandom(size_mb * 1024 * 1024))
    if os.geteuid() == 0:  # the test user writes the uploads there
        shutil.chown(folder, server.user)
        shutil.chown(source, server.user)
    best: dict[str, float] = {}

    def timed(name: str, run: Any) -> None:
        started = time.perf_counter()
        run()
        best[name] = min(best.get(name, float("inf")), time.perf_counter() - started)

    with DelayProxy(server.port, rtt_ms) as proxy:
        common = _client_settings(server, work, proxy.port, folder)
        known_hosts = Path(common["known_hosts"])
        by_openssh, by_platform = work / f"openssh-{rtt_ms}.bin", work / f"platform-{rtt_ms}.bin"
        get, put = f"get {source} {by_openssh}", f"put {by_openssh} {folder}/up-openssh.bin"
        for turn in range(1, rounds + 1):
            timed("down_openssh", lambda: _openssh(server, proxy.port, known_hosts, get))
            timed("down_platform", lambda: SFTPResource(**common).download("file.bin", by_platform))
            for got in (by_openssh, by_platform):
                if got.read_bytes() != source.read_bytes():
                    raise AssertionError(f"{got} differs from the served file")
            timed("up_openssh", lambda: _openssh(server, proxy.port, known_hosts, put))
            timed(
                "up_platform",
                lambda: SFTPDeliveryResource(**common).upload(by_platform, "up-platform.bin"),
            )
            if (folder / "up-platform.bin").read_bytes() != source.read_bytes():
                raise AssertionError("the platform's upload differs from the file")
            ahead = all(best[f"{way}_platform"] <= best[f"{way}_openssh"] for way in ("down", "up"))
            if settled_after is not None and turn >= settled_after and ahead:
                break
    shutil.rmtree(folder, ignore_errors=True)
    return LinkFigures(
        rtt_ms,
        size_mb,
        *(
            round(size_mb / best[name], 1)
            for name in ("down_openssh", "down_platform", "up_openssh", "up_platform")
        ),
    )


def measure_range(
    server: SshServer,
    work: Path,
    rtt_ms: int,
    days: int,
    parallel: tuple[int, ...],
    *,
    gzipped: bool = False,
) -> dict[int, float]:
    """Seconds for a range run's loader to load ``days`` daily files of Attentive conversions
    (1,000 rows each) through a proxy of ``rtt_ms``, for each ``parallel_downloads`` setting;
    ``gzipped``: the files as a vendor that gzips them leaves them (only ``<name>.gz`` on the
    server, the table's spec allowing it, as Accengage's), so each day asks for the plain name
    first."""
    import dataclasses
    import datetime as dt
    import gzip

    from platform_assets.core.warehouse import LoaderSettings
    from platform_assets.defs.attentive import CONVERSIONS
    from platform_assets.ingest.loader.model import LoadRequest
    from platform_assets.ingest.loader.partition import load_partitions
    from platform_assets_tests.csvfiles import CONVERSION_HEADER, conversion, write_csv

    folder = server.remote_dir / f"long-range-{rtt_ms}"
    folder.mkdir(exist_ok=True)
    start = dt.date(2026, 10, 1)
    dates = [start + dt.timedelta(days=n) for n in range(days)]
    for n, day in enumerate(dates):
        rows = [conversion(f"+1555{n:03d}{i:04d}", ts=f"{day}T10:00:00Z") for i in range(1000)]
        path = write_csv(folder / CONVERSIONS.file_name(day), CONVERSION_HEADER, rows)
        if gzipped:
            with path.open("rb") as plain, gzip.open(f"{path}.gz", "wb") as packed:
                shutil.copyfileobj(plain, packed)
            path.unlink()
    spec = dataclasses.replace(CONVERSIONS, gzip_variant=True) if gzipped else CONVERSIONS
    seconds = {}
    with DelayProxy(server.port, rtt_ms) as proxy:
        files = SFTPResource(**_client_settings(server, work, proxy.port, folder))
        for width in parallel:
            settings = LoaderSettings(work_dir=str(work / "range"), parallel_downloads=width)
            warehouse = str(work / f"range-{rtt_ms}-{width}{'-gz' if gzipped else ''}.duckdb")
            requests = [LoadRequest(spec, d, run_id="bench") for d in dates]
            started = time.perf_counter()
            loaded = list(load_partitions(requests, files, warehouse, settings=settings))
            seconds[width] = round(time.perf_counter() - started, 2)
            if sum(r.rows_inserted for r in loaded) != 1000 * days:
                raise AssertionError("the range did not load every row")
    shutil.rmtree(folder, ignore_errors=True)
    return seconds


class _WholeFileSFTP(SFTPResource):
    """The SFTP resource through the older download contract (no arrival): the loader reads the
    complete file after the download, the way every load ran before it followed arrivals."""

    def download(self, name: str, local_path: Path) -> Any:  # type: ignore[override]
        return super().download(name, local_path)


def measure_overlap(server: SshServer, work: Path, rtt_ms: int, rows: int) -> dict[str, Any]:
    """Seconds to load one Attentive notifications file of ``rows`` rows through a proxy of
    ``rtt_ms``: validated while it arrives, and read whole after its download (best of 2)."""
    import datetime as dt

    from platform_assets.core.warehouse import LoaderSettings
    from platform_assets.defs.attentive import NOTIFICATIONS
    from platform_assets.demo.samples import write_notifications
    from platform_assets.ingest.loader.partition import load_partition

    day = dt.date(2026, 6, 1)
    folder = server.remote_dir / f"long-overlap-{rtt_ms}"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o755)
    path = write_notifications(folder / NOTIFICATIONS.file_name(day), day, rows)
    seconds: dict[str, float] = {}
    with DelayProxy(server.port, rtt_ms) as proxy:
        common = _client_settings(server, work, proxy.port, folder)
        for attempt in range(2):
            for name, files in (("followed", SFTPResource), ("whole", _WholeFileSFTP)):
                warehouse = work / f"overlap-{rtt_ms}-{name}-{attempt}.duckdb"
                settings = LoaderSettings(work_dir=str(work / "overlap"))
                started = time.perf_counter()
                load_partition(
                    NOTIFICATIONS, day, files(**common), str(warehouse), settings=settings
                )
                took = time.perf_counter() - started
                seconds[name] = round(min(seconds.get(name, took), took), 2)
                warehouse.unlink()
    mb = round(path.stat().st_size / 1e6, 1)
    shutil.rmtree(folder, ignore_errors=True)
    return {"rtt_ms": rtt_ms, "mb": mb, "rows": rows, **seconds}
