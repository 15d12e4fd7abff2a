"""Zip archives shared by several settings (the PGDL phase archives): where the workflow keeps
them, and their extraction, safe and atomic.

An archive ``<name>.zip`` is downloaded once to ``results/archives/<name>.zip`` (deleted by the
workflow once extracted) and extracted to ``results/archives/<name>/``. Extraction writes into ``results/archives/.<name>.partial/``,
puts the record ``extracted.json`` in it last, and renames the folder into place: the folder
exists only complete, and a killed extraction leaves a ``.partial`` folder that the next run
deletes. Members whose names would land outside the folder (absolute paths, ``..``, links) are
refused before anything is written; a truncated or corrupt archive is named with the fix.
"""

from __future__ import annotations

import json
import shutil
import stat
import time
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

FOLDER = Path("results/archives")
RECORD = "extracted.json"
_CHUNK = 1 << 20

Progress = Callable[[str], None]


class ArchiveError(ValueError):
    """An archive that cannot be extracted safely: corrupt, truncated or with escaping members."""


def folder(archive: str) -> Path:
    """Where archive ``<name>.zip`` is extracted: ``results/archives/<name>``."""
    return FOLDER / archive.removesuffix(".zip")


def record_path(archive: str) -> Path:
    """The record written last into an extracted archive: it exists only when extraction completed."""
    return folder(archive) / RECORD


def is_extracted(archive: str) -> bool:
    return record_path(archive).is_file()


def _member_path(info: zipfile.ZipInfo, archive: Path) -> PurePosixPath | None:
    """The member's relative path (None for a folder entry); an ArchiveError when it escapes."""
    name = info.filename
    path = PurePosixPath(name)
    mode = info.external_attr >> 16
    if "\\" in name or path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ArchiveError(f"{archive}: member {name!r} would be written outside the extraction folder; refusing the archive "
                           "(it is not the publisher's: delete it and download it again)")
    if stat.S_ISLNK(mode):
        raise ArchiveError(f"{archive}: member {name!r} is a symbolic link; refusing the archive (delete it and download it again)")
    return None if info.is_dir() else path


def members(archive: Path) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Every file of the archive with the path it is extracted to, checked; a single top folder
    (``<x>/input_data/...``) is dropped so that the extracted folder holds the layout itself."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise ArchiveError(f"{archive}: not a complete zip archive ({error}); it is truncated or corrupt: "
                           "delete it and rerun to download it again") from None
    files = [(info, path) for info in infos if (path := _member_path(info, archive)) is not None]
    tops = {path.parts[0] for _, path in files}
    if len(tops) == 1 and all(len(path.parts) > 1 for _, path in files):
        files = [(info, PurePosixPath(*path.parts[1:])) for info, path in files]
    return files


def extract(archive: Path, target: Path, progress: Progress | None = None) -> dict:
    """Extract ``archive`` to ``target`` atomically (module docstring); return its record."""
    archive, target = Path(archive), Path(target)
    files = members(archive)
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    total = sum(info.file_size for info, _ in files)
    done, start, last = 0, time.perf_counter(), -1.0
    try:
        with zipfile.ZipFile(archive) as zf:
            for i, (info, path) in enumerate(files, 1):
                out = partial.joinpath(*path.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                done += info.file_size
                elapsed = time.perf_counter() - start
                if progress is not None and (elapsed - last >= 10 or i == len(files)):
                    last = elapsed
                    rate = done / elapsed if elapsed > 0 else float("inf")
                    eta = (total - done) / rate if rate > 0 else float("nan")
                    progress(f"{archive.name}: {i}/{len(files)} files, {done / 2**20:.0f} of {total / 2**20:.0f} MiB "
                             f"({rate / 2**20:.1f} MiB/s, elapsed {elapsed:.0f} s, ETA {eta:.0f} s)")
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise ArchiveError(f"{archive}: corrupt member ({error}); delete it and rerun to download it again") from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    record = {"archive": archive.name, "bytes": archive.stat().st_size, "files": len(files), "extracted_bytes": total}
    (partial / RECORD).write_text(json.dumps(record, indent=1) + "\n")
    if target.exists():
        shutil.rmtree(target)  # an earlier extraction, incomplete or outdated
    partial.rename(target)
    return record
