"""Work folders made at once by several threads (a range run's parallel downloads): each
thread's sweep must never take another's folder while it is being made."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from platform_assets.core.workdir import OWNER, WorkFolder, new_work_folder


def test_folders_made_at_once_all_survive_each_other_s_sweeps(tmp_path):
    def make(_: int) -> list[WorkFolder]:
        return [new_work_folder(str(tmp_path)) for _ in range(40)]

    with ThreadPoolExecutor(8) as pool:
        folders = [f for batch in pool.map(make, range(8)) for f in batch]
    try:
        assert len(folders) == 320
        assert all((f.path / OWNER).exists() for f in folders)
    finally:
        for folder in folders:
            folder.remove()
    assert list(tmp_path.iterdir()) == []
