"""SFTP over a long link: through a userspace proxy delaying each direction by half the round
trip (the kernel here has no ``netem``), the platform downloads and uploads at least as fast as
OpenSSH's ``sftp`` at 20, 50 and 100 ms (each client's best of as many turns: 2 when the
platform is then ahead both ways, else up to 5), the files byte for byte; 20 ms uploads, where
both clients reach the same ceiling here, within 5% of OpenSSH. Slow (about a minute)."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_assets_tests.long_link import measure

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("rtt_ms", [20, 50, 100])
def test_the_platform_keeps_up_with_openssh_over_a_long_link(sshd, tmp_path: Path, rtt_ms: int):
    # best of 5 turns each: the slow lane shares the 2 cores with another worker's tests, and
    # 3 turns were not enough twice in CI (20 ms, uploads: 19.6 vs 20.8 MB/s on 2026-12-02 and
    # 16.3 vs 18.7 on 2026-12-03, both clients at a third of their quiet speed)
    # (2 when the platform is ahead after them: at 50 and 100 ms it is ~1.8 x OpenSSH)
    figures = measure(sshd, tmp_path, rtt_ms, size_mb=16, rounds=5, settled_after=2)
    assert figures.platform_download_mbps >= figures.openssh_download_mbps, figures
    # 20 ms uploads: both clients sit at the same ceiling of this machine, ~20 MB/s for 16 MiB
    # (2026-12-05, with the proxy in its own process or in this one: OpenSSH 20.3-20.8, the
    # platform 20.1-20.8), and best-of-5 still drew a loser: 19.3 vs 19.5 MB/s in CI that day.
    # There the platform must be within 5% of OpenSSH; at 50 and 100 ms (the bar) and
    # for downloads, at least as fast.
    parity = 0.95 if rtt_ms == 20 else 1.0
    assert figures.platform_upload_mbps >= parity * figures.openssh_upload_mbps, figures
