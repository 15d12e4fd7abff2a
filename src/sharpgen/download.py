"""Resumable, verified HTTP downloads with the standard library only.

Every download is checked against an expected size and SHA-256 (or its publisher's MD5):
given by the caller, or by a lock file (``config/downloads.lock`` in the workflow, JSON keyed by
URL). The lock ships the digests that publishers and widely used loaders publish; a URL
without an entry is refused unless the caller trusts its first download, whose size and
SHA-256 are then recorded so that later downloads (another machine, a rerun after a deleted
file) must be identical. A partial download (``<file>.part``) is resumed only when
its metadata (``<file>.part.json``: URL, ETag, Last-Modified) matches, and only through
``If-Range``, so a changed file upstream restarts from zero instead of splicing two files.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

Progress = Callable[[int, int | None], None]

_CHUNK = 1 << 20
_TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(RuntimeError):
    """A download failed verification or could not be completed."""


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def part_path(dest: Path) -> Path:
    """The temporary file a download of ``dest`` streams into."""
    return dest.with_name(dest.name + ".part")


def part_meta_path(dest: Path) -> Path:
    """The metadata of ``part_path(dest)``: the URL and validators it was fetched with."""
    return dest.with_name(dest.name + ".part.json")


class Restart(ConnectionError):
    """The partial file was discarded (it belongs to another file or version); start over."""


def _discard(part: Path, meta: Path) -> None:
    part.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)


def _resumable(url: str, part: Path, meta: Path) -> dict[str, str] | None:
    """The validators of ``part`` when it may be resumed for ``url``; else discard it, None."""
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError):
        info = None
    if part.exists() and isinstance(info, dict) and info.get("url") == url and (info.get("etag") or info.get("last_modified")):
        return info
    _discard(part, meta)
    return None


def _total_from_response(resp, offset: int) -> int | None:
    """Full file size from a 200 (Content-Length) or 206 (Content-Range) response."""
    if resp.status == 206:
        content_range = resp.headers.get("Content-Range", "")
        total = content_range.rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = resp.headers.get("Content-Length")
    return int(length) if length is not None and length.isdigit() else None


def _fetch_once(url: str, part: Path, meta: Path, timeout: float, progress: Progress | None) -> int | None:
    """Stream ``url`` into ``part``, resuming a matching partial file; return the total size."""
    info = _resumable(url, part, meta)
    offset = part.stat().st_size if info else 0
    request = urllib.request.Request(url, headers={"User-Agent": "sharpgen"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
        request.add_header("If-Range", info.get("etag") or info["last_modified"])
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            err.close()
            _discard(part, meta)  # the partial file is longer than the file: not a prefix of it
            raise Restart(f"{part} is longer than {url}; discarded it") from None
        raise
    with resp:
        etag, modified = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
        resumed = offset > 0 and resp.status == 206
        if resumed and (
            not resp.headers.get("Content-Range", "").startswith(f"bytes {offset}-")
            or (info.get("etag") and etag and etag != info["etag"])
        ):
            _discard(part, meta)
            raise Restart(f"the server answered a resume of {url} with another range or version; discarded {part}")
        if not resumed:
            offset = 0
            meta.write_text(json.dumps({"url": url, "etag": etag, "last_modified": modified}))
        total = _total_from_response(resp, offset)
        done = offset
        with open(part, "ab" if resumed else "wb") as out:
            for block in iter(lambda: resp.read(_CHUNK), b""):
                out.write(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
    return total


_LOCAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def _is_local(err: BaseException) -> bool:
    """An error of this machine's disk (full, read-only, no permission), not of the network."""
    return isinstance(err, OSError) and not isinstance(err, urllib.error.URLError) and err.errno in _LOCAL_ERRNOS


def _is_transient(err: BaseException) -> bool:
    if isinstance(err, urllib.error.HTTPError):
        return err.code in _TRANSIENT_HTTP
    if _is_local(err):
        return False
    return isinstance(err, (urllib.error.URLError, TimeoutError, ConnectionError, OSError))


def _failure_advice(url: str, dest: Path, err: BaseException) -> str:
    """What the user should do after ``err``, and what the next run will really do."""
    part = part_path(dest)
    if _is_local(err):
        what = "the disk is full" if err.errno in (errno.ENOSPC, errno.EDQUOT) else "the file cannot be written"
        return f"{what} ({os.strerror(err.errno)}) at {part.parent}; free space or fix permissions there and rerun"
    if isinstance(err, urllib.error.HTTPError) and err.code not in _TRANSIENT_HTTP:
        return f"the server refuses {url} (HTTP {err.code}); check the URL (the config key or model sheet that gives it)"
    try:
        info = json.loads(part_meta_path(dest).read_text())
    except (OSError, ValueError):
        info = {}
    info = info if isinstance(info, dict) else {}
    if part.exists() and part.stat().st_size and (info.get("etag") or info.get("last_modified")):
        return f"check your network; {part.stat().st_size} bytes are kept at {part} and the next run resumes from them"
    if part.exists() and part.stat().st_size:
        return (f"check your network; the server sent no ETag or Last-Modified for {url}, so a partial file "
                "cannot be resumed safely and the next run downloads it from the start")
    return "check the URL and your network; the next run downloads it from the start"


class IncompleteDownload(ConnectionError):
    """The connection ended before the announced number of bytes arrived."""


def _check_complete(url: str, part: Path, size: int | None) -> None:
    """Raise IncompleteDownload when ``part`` is shorter than ``size`` (resumable)."""
    got = part.stat().st_size if part.exists() else 0
    if size is not None and got < size:
        raise IncompleteDownload(f"received {got} of {size} bytes from {url}")


def md5_file(path: Path | str) -> str:
    """Hex MD5 of a file: only to compare with a digest its publisher gives as MD5."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(url: str, dest: Path, part: Path, sha256: str | None, size: int | None, where: str, md5: str | None = None) -> None:
    """Raise DownloadError (and delete the .part) when size or digest disagree."""
    got_size = part.stat().st_size
    problem = None
    if size is not None and got_size != size:
        problem = f"size {got_size} bytes, expected {size} ({'truncated' if got_size < size else 'overlong'} or wrong file)"
    elif sha256 is not None and (digest := sha256_file(part)) != sha256.lower():
        problem = f"sha256 {digest}, expected {sha256.lower()} (corrupt or changed upstream)"
    elif sha256 is None and md5 is not None and (digest := md5_file(part)) != md5.lower():
        problem = f"md5 {digest}, expected {md5.lower()} as published (corrupt or changed upstream)"
    if problem:
        _discard(part, part_meta_path(dest))
        advice = f" If the upstream file legitimately changed, remove the entry of {url} from {where} and rerun." if where != "the caller" else ""
        raise DownloadError(
            f"download of {url} to {dest} failed verification: {problem} (expected values from {where}). "
            f"The partial file was removed; rerun to download again.{advice}"
        )


def read_lock(lock: Path) -> dict[str, dict[str, object]]:
    """URL -> {"size", "sha256" and/or "md5", "source"} of every file in ``lock`` (empty when absent)."""
    if not lock.exists():
        return {}
    try:
        entries = json.loads(lock.read_text())
    except ValueError as error:
        raise DownloadError(f"{lock}: not valid JSON ({error}); fix it or restore it from version control") from None
    if not isinstance(entries, dict) or not all(isinstance(e, dict) and {"sha256", "md5"} & set(e) for e in entries.values()):
        raise DownloadError(f'{lock}: expected {{"<url>": {{"size": <bytes>, "sha256": "<hex>"}}, ...}} (or "md5" where only that is published)')
    return entries


def record(lock: Path, url: str, size: int, sha256: str) -> None:
    """Add ``url`` to ``lock`` (sorted JSON, atomic, safe against concurrent downloads)."""
    from sharpgen.atomic import write_bytes

    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        entries = read_lock(lock)
        entries[url] = {**entries.get(url, {}), "size": size, "sha256": sha256}
        write_bytes(lock, (json.dumps(entries, indent=1, sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)


def download(
    url: str,
    dest: Path,
    sha256: str | None = None,
    expected_size: int | None = None,
    progress: Progress | None = None,
    retries: int = 3,
    timeout: float = 60,
    backoff: float = 1.0,
    lock: Path | None = None,
    trust_first: bool = False,
) -> Path:
    """Download ``url`` to ``dest`` atomically, resuming a matching ``.part`` file and verifying it.

    Expected size and digest come from the arguments, else from ``lock``. A URL the lock does
    not know is refused before any request unless ``trust_first``: then what arrives is
    recorded in the lock. A published MD5 alone verifies the file, and its SHA-256 and size are
    recorded beside it. Without a known size, the size the server announces (Content-Length /
    Content-Range) is required: a body of unknown length cannot be told from a cut one.
    Transient network errors are retried ``retries`` times with exponential backoff
    (``backoff`` s, then doubling); a short read counts as transient and the next attempt
    resumes it. Nothing is left at ``dest`` on failure.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    where, md5 = "the caller", None
    if lock is not None and sha256 is None and expected_size is None:
        entry = read_lock(lock).get(url)
        if entry is not None:
            sha256, md5, where = entry.get("sha256"), entry.get("md5"), str(lock)
            expected_size = int(entry["size"]) if entry.get("size") is not None else None
        elif not trust_first:
            raise DownloadError(
                f"refusing the first download of {url}: {lock} has no digest for it, so a file corrupted "
                f"or replaced in transit could not be told from the real one. Add its published size and "
                f"sha256 (or md5) under its URL in {lock}, or trust this first download and record what "
                "arrives: rerun with --config trust_first_download=true"
            )
    for attempt in range(retries + 1):
        try:
            total = _fetch_once(url, part, part_meta_path(dest), timeout, progress)
            _check_complete(url, part, expected_size if expected_size is not None else total)
            break
        except Exception as err:  # noqa: BLE001 - classified just below
            if isinstance(err, urllib.error.HTTPError):
                err.close()  # its socket; the status and message stay readable
            if attempt >= retries or not _is_transient(err):
                raise DownloadError(
                    f"download of {url} to {dest} failed after {attempt + 1} attempt(s): {err}. "
                    f"{_failure_advice(url, dest, err)}."
                ) from err
            time.sleep(backoff * 2**attempt)
    size = expected_size if expected_size is not None else total
    if size is None:
        _discard(part, part_meta_path(dest))
        raise DownloadError(
            f"download of {url}: the server did not announce the file's size and none is recorded, so a cut "
            f"body cannot be detected. Record the file's size and sha256 under its URL in "
            f"{lock or 'the lock file'} and rerun"
        )
    _verify(url, dest, part, sha256, size, where, md5)
    if lock is not None and sha256 is None:
        record(lock, url, size, sha256_file(part))
    part_meta_path(dest).unlink(missing_ok=True)
    os.replace(part, dest)
    return dest
