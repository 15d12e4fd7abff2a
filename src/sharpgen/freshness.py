"""Content changes that modification times hide.

Snakemake reruns a job when an input is newer than its output. A file replaced by one with an
older or preserved time (``cp -p``, ``rsync -t``, a restored backup) reruns nothing, and the
tables would keep describing the old file. So every successful run records, per input file
(checkpoints, downloads, data), its SHA-256 with the stat fields that change on any rewrite
(size, mtime, ctime, inode). Planning re-hashes only the files whose stat changed, and refuses
a file whose content differs from the record while its modification time is no later than
the record: Snakemake would not see that change.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sharpgen.download import sha256_file

VERSION = 1


def _stat_key(path: Path) -> list[int]:
    st = os.stat(path)  # follows links: an imported checkpoint is the user's file
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def read_record(record: Path) -> dict[str, Any]:
    """The record at ``record`` ({"recorded_at": ns, "files": {path: {"stat", "sha256"}}}); empty when absent or unreadable."""
    try:
        data = json.loads(Path(record).read_text())
    except (OSError, ValueError):
        return {"recorded_at": 0, "files": {}}
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("files"), dict):
        return {"recorded_at": 0, "files": {}}
    return data


def hidden_changes(paths: Iterable[str | Path], record: Path) -> list[str]:
    """The paths whose content differs from ``record`` although their mtime does not say so."""
    data = read_record(record)
    files, recorded_at = data["files"], int(data.get("recorded_at", 0))
    changed = []
    for path in map(Path, paths):
        entry = files.get(str(path))
        if entry is None or not path.exists():
            continue
        key = _stat_key(path)
        if key == entry["stat"] or key[1] > recorded_at:
            continue  # untouched, or newer than the record: Snakemake reruns what depends on it
        if sha256_file(path) != entry["sha256"]:
            changed.append(str(path))
    return changed


def refuse_hidden_changes(paths: Iterable[str | Path], record: Path) -> None:
    """Raise a ValueError naming each file replaced behind its modification time, and the fix."""
    changed = hidden_changes(paths, record)
    if changed:
        listed = "\n  ".join(changed)
        raise ValueError(
            f"the content of these files changed since the last successful run, but their modification time "
            f"did not move (copied with cp -p, rsync -t or restored?), so the tables computed from them would "
            f"stay stale:\n  {listed}\nmark them as new and rerun: touch {' '.join(shlex.quote(p) for p in changed)}"
        )


def record_content(paths: Iterable[str | Path], record: Path) -> None:
    """Record the SHA-256 and stat of every existing path in ``record`` (atomic; re-hashes changed files only)."""
    from sharpgen.atomic import write_bytes

    old = read_record(record)["files"]
    files = {}
    for path in map(Path, paths):
        if not path.exists():
            continue
        key = _stat_key(path)
        entry = old.get(str(path))
        sha = entry["sha256"] if entry is not None and entry["stat"] == key else sha256_file(path)
        files[str(path)] = {"stat": key, "sha256": sha}
    payload = {"version": VERSION, "recorded_at": time.time_ns(), "files": files}
    write_bytes(Path(record), (json.dumps(payload, indent=1, sort_keys=True) + "\n").encode())
