"""Stage 1: the partition's file, downloaded into the load's work folder and, when the vendor
gzipped it, inflated next to it (bounded)."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

from platform_assets.core.errors import (
    BadFileError,
    LoadError,
    RemoteFileChanged,
    RemoteFileMissing,
)
from platform_assets.core.transport.arrival import Arrival
from platform_assets.core.transport.files import DownloadResult, FileSource, RemoteFileNotFound
from platform_assets.ingest.loader.archive import RawArchive
from platform_assets.ingest.loader.model import LoadRequest

INFLATE_CHUNK = 1 << 20


def file_name(request: LoadRequest) -> str:
    """The partition's remote file name, checked to round-trip through the table's pattern (the
    name never touches a path unless it parses back to this very partition)."""
    spec = request.spec
    try:
        name = spec.file_name(request.day, request.app_id)
    except ValueError as exc:
        raise LoadError(str(exc)) from None
    ref = spec.parse_file_name(name)
    if ref is None or ref.day != request.day or ref.app != request.app_id:
        raise LoadError(f"{spec.qualified_name}: file pattern does not round-trip for {name!r}")
    return name


def download(
    request: LoadRequest,
    files: FileSource,
    work: Path,
    archive: RawArchive | None,
    arrival: Arrival | None = None,
) -> tuple[DownloadResult, bool]:
    """The partition's file, and whether it came from the raw archive: from the vendor while it
    has it (and then archived), else the archived copy (the vendor deleted it). ``arrival``
    follows the vendor's file as it is written (never the archive's copy)."""
    try:
        result = _download(request, files, work, arrival)
    except RemoteFileMissing:
        name = file_name(request)
        kept = archive and archive.restore(request, [name, name + ".gz"], work)
        if not kept:
            raise
        return kept, True
    if archive is not None:
        archive.keep(request, result)
    return result, False


def _download(
    request: LoadRequest, files: FileSource, work: Path, arrival: Arrival | None
) -> DownloadResult:
    """The partition's file; for a table whose files may be gzipped later, the ``.gz`` when the
    plain file is gone. Never both: the plain file wins while it is there (it is complete; a
    ``.gz`` seen beside it may still be being written by the vendor's compression job)."""
    spec, name = request.spec, file_name(request)
    where = f"{spec.qualified_name} partition {request.label}"
    try:
        return complete_download(files, name, work, arrival)
    except RemoteFileNotFound as exc:
        if not spec.gzip_variant:
            raise RemoteFileMissing(f"{where}: {exc}") from None
    try:
        return complete_download(files, name + ".gz", work)
    except RemoteFileNotFound:
        raise RemoteFileMissing(
            f"{where}: neither {name} nor {name}.gz is on the server in {files.remote_dir}"
        ) from None


def complete_download(
    files: FileSource, name: str, work: Path, arrival: Arrival | None = None
) -> DownloadResult:
    """Download ``name``, then stat it again: a file whose size or mtime changed meanwhile was
    being written or replaced, and what we hold may be a mix (:class:`RemoteFileChanged`)."""
    if arrival is not None:
        result = files.download(name, work / name, arrival=arrival)
    else:
        result = files.download(name, work / name)
    now = files.stat(name)
    before = result.remote
    if (now.size, now.mtime) != (before.size, before.mtime):
        result.local_path.unlink(missing_ok=True)
        raise RemoteFileChanged(
            f"{before.path} changed while it was downloaded (size {before.size} -> {now.size}, "
            f"mtime {before.mtime} -> {now.mtime}); the run is retried once it settles"
        )
    return result


def inflate(download: DownloadResult, limit: int) -> DownloadResult:
    """Decompress a gzip download next to it, in chunks, refusing past ``limit`` bytes."""
    source = download.local_path
    target = source.with_suffix("")
    written = 0
    try:
        with gzip.open(source, "rb") as fh, target.open("wb") as out:
            while chunk := fh.read(INFLATE_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise BadFileError(
                        f"{download.remote.path}: inflates past the limit of {limit} bytes "
                        "(PLATFORM_MAX_INFLATED_BYTES); refused as a possible decompression bomb"
                    )
                out.write(chunk)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        target.unlink(missing_ok=True)
        raise BadFileError(f"{download.remote.path}: not a valid gzip file: {exc}") from None
    except BadFileError:
        target.unlink(missing_ok=True)
        raise
    finally:
        source.unlink(missing_ok=True)
    return dataclasses.replace(download, local_path=target)
