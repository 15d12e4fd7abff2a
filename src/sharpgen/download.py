"""Resumable, verified HTTP downloads with the standard library only."""

from __future__ import annotations

import hashlib
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


def _total_from_response(resp, offset: int) -> int | None:
    """Full file size from a 200 (Content-Length) or 206 (Content-Range) response."""
    if resp.status == 206:
        content_range = resp.headers.get("Content-Range", "")
        total = content_range.rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = resp.headers.get("Content-Length")
    return int(length) if length is not None and length.isdigit() else None


def _fetch_once(url: str, part: Path, timeout: float, progress: Progress | None) -> int | None:
    """Stream ``url`` into ``part``, resuming when the server honours Range; return the total size."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "sharpgen"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            # The .part already holds the whole file (or more): let verification decide.
            return None
        raise
    with resp:
        resumed = offset > 0 and resp.status == 206
        if not resumed:
            offset = 0
        total = _total_from_response(resp, offset)
        done = offset
        with open(part, "ab" if resumed else "wb") as out:
            for block in iter(lambda: resp.read(_CHUNK), b""):
                out.write(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
    return total


def _is_transient(err: BaseException) -> bool:
    if isinstance(err, urllib.error.HTTPError):
        return err.code in _TRANSIENT_HTTP
    return isinstance(err, (urllib.error.URLError, TimeoutError, ConnectionError, OSError))


class IncompleteDownload(ConnectionError):
    """The connection ended before the announced number of bytes arrived."""


def _check_complete(url: str, part: Path, size: int | None) -> None:
    """Raise IncompleteDownload when ``part`` is shorter than ``size`` (resumable)."""
    got = part.stat().st_size if part.exists() else 0
    if size is not None and got < size:
        raise IncompleteDownload(f"received {got} of {size} bytes from {url}")


def _verify(url: str, dest: Path, part: Path, sha256: str | None, size: int | None) -> None:
    """Raise DownloadError (and delete the .part) when size or digest disagree."""
    got_size = part.stat().st_size
    problem = None
    if size is not None and got_size != size:
        problem = f"size {got_size} bytes, expected {size} (truncated or wrong file)"
    elif sha256 is not None and (digest := sha256_file(part)) != sha256.lower():
        problem = f"sha256 {digest}, expected {sha256.lower()} (corrupt or changed upstream)"
    if problem:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"download of {url} to {dest} failed verification: {problem}. "
            "The partial file was removed; rerun to download again, or update the expected "
            "checksum/size if the upstream file legitimately changed."
        )


def download(
    url: str,
    dest: Path,
    sha256: str | None = None,
    expected_size: int | None = None,
    progress: Progress | None = None,
    retries: int = 3,
    timeout: float = 60,
    backoff: float = 1.0,
) -> Path:
    """Download ``url`` to ``dest`` atomically, resuming a ``.part`` file and verifying it.

    The size reported by the server (Content-Length / Content-Range) is checked whenever
    ``expected_size`` is not given. Transient network errors are retried ``retries`` times
    with exponential backoff (``backoff`` s, then doubling); a short read counts as transient
    and the next attempt resumes it. Nothing is left at ``dest`` on failure.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    for attempt in range(retries + 1):
        try:
            total = _fetch_once(url, part, timeout, progress)
            _check_complete(url, part, expected_size if expected_size is not None else total)
            break
        except Exception as err:  # noqa: BLE001 - classified just below
            if attempt >= retries or not _is_transient(err):
                raise DownloadError(
                    f"download of {url} to {dest} failed after {attempt + 1} attempt(s): {err}. "
                    f"Check the URL and your network; a partial file is kept at {part} and the "
                    "next run resumes from it."
                ) from err
            time.sleep(backoff * 2**attempt)
    _verify(url, dest, part, sha256, expected_size if expected_size is not None else total)
    os.replace(part, dest)
    return dest
