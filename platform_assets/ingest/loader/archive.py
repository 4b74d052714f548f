"""The raw archive: every file downloaded is kept unchanged, so nothing is lost when a vendor
deletes its files (Accengage after 7 days, Attentive after 30).

Layout: ``<root>/<vendor>/<YYYY>/<MM>/<DD>/<file>`` (the partition's day), the bytes as the vendor
sent them (a ``.gz`` stays gzipped) and the remote mtime kept. A file is written to a ``.part``
name (a hard link to the download, whose SHA-256 was computed as it arrived, or a copy across
file systems) and renamed when complete, so the archive never holds a half file.
A different version of a file already archived (a corrected re-upload) moves aside to
``<file>.replaced-<mtime>`` first. The warehouse table ``platform.raw_files`` records each
archived version (path, size, mtime, SHA-256) in the load's transaction (:mod:`.records`).
"""

import dataclasses
import hashlib
import os
import shutil
from pathlib import Path

from platform_assets.core.errors import LoadError
from platform_assets.core.transport.files import DownloadResult, RemoteFile
from platform_assets.ingest.loader.model import LoadRequest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class RawArchive:
    root: Path

    def path(self, request: LoadRequest, name: str) -> Path:
        day = request.day
        return self.root / request.spec.source / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / name

    def keep(self, request: LoadRequest, download: DownloadResult) -> Path:
        """Archive a partition's download (atomically; a different older version moves aside)."""
        return self.keep_at(self.path(request, download.remote.name), download)

    def keep_at(self, target: Path, download: DownloadResult) -> Path:
        """Archive a download as ``target`` (atomically; an older version moves aside)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            st = target.stat()
            same_size = st.st_size == download.remote.size
            if same_size and _sha256(target) == download.sha256:
                return target  # this version is archived already (a re-run)
            os.replace(target, target.with_name(f"{target.name}.replaced-{int(st.st_mtime)}"))
        part = target.with_name(target.name + ".part")
        try:
            # the download's own bytes (hashed as they arrived): a hard link costs no pass over
            # the file; another file system gets a copy. Nothing writes to the download later.
            try:
                os.link(download.local_path, part)
            except OSError:
                shutil.copyfile(download.local_path, part)
            if part.stat().st_size != download.remote.size:
                raise LoadError(f"{target}: the archived copy does not match the download")
            os.utime(part, (download.remote.mtime, download.remote.mtime))
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        return target

    def restore(self, request: LoadRequest, names: list[str], work: Path) -> DownloadResult | None:
        """The first of ``names`` archived for the partition, copied into ``work``, or None."""
        for name in names:
            source = self.path(request, name)
            if source.is_file():
                local = work / name
                shutil.copyfile(source, local)
                st = source.stat()
                remote = RemoteFile(name, str(source), st.st_size, int(st.st_mtime))
                return DownloadResult(remote, local, _sha256(local), 0.0)
        return None
