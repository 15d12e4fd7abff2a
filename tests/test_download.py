"""download(): streaming, Range resume, retries and verification against a real local HTTP server."""

from __future__ import annotations

import hashlib
import os

import pytest

from sharpgen.download import DownloadError, download, part_meta_path, part_path, sha256_file

PAYLOAD = os.urandom(3 * (1 << 20) + 12345)  # several 1 MiB chunks plus a tail
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def served(http_server):
    (http_server.root / "blob.bin").write_bytes(PAYLOAD)
    return http_server


def test_download_verifies_and_reports_progress(served, tmp_path):
    seen: list[tuple[int, int | None]] = []
    dest = tmp_path / "out" / "blob.bin"
    got = download(served.url("blob.bin"), dest, sha256=DIGEST, expected_size=len(PAYLOAD),
                   progress=lambda done, total: seen.append((done, total)))
    assert got == dest and dest.read_bytes() == PAYLOAD
    assert sha256_file(dest) == DIGEST
    assert not part_path(dest).exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_resume_uses_range_request(served, tmp_path):
    dest = tmp_path / "blob.bin"
    served.state.truncate_next, served.state.truncate_to = 1, 1000
    download(served.url("blob.bin"), dest, sha256=DIGEST, backoff=0)
    assert dest.read_bytes() == PAYLOAD
    assert served.state.requests[-1][1] == "bytes=1000-"
    assert not part_meta_path(dest).exists()


def test_resume_falls_back_to_full_download_without_range_support(served, tmp_path):
    served.state.ranges = False
    dest = tmp_path / "blob.bin"
    part_path(dest).write_bytes(b"garbage that must not be kept")
    download(served.url("blob.bin"), dest, sha256=DIGEST)
    assert dest.read_bytes() == PAYLOAD


def test_truncated_response_is_resumed_on_retry(served, tmp_path):
    served.state.truncate_next, served.state.truncate_to = 1, 5000
    dest = tmp_path / "blob.bin"
    download(served.url("blob.bin"), dest, sha256=DIGEST, backoff=0)
    assert dest.read_bytes() == PAYLOAD
    assert [r for _, r in served.state.requests] == [None, "bytes=5000-"]


def test_transient_503_is_retried(served, tmp_path):
    served.state.fail_next = 2
    dest = tmp_path / "blob.bin"
    download(served.url("blob.bin"), dest, retries=2, backoff=0)
    assert dest.read_bytes() == PAYLOAD and len(served.state.requests) == 3


def test_truncation_beyond_retries_raises_and_leaves_no_dest(served, tmp_path):
    served.state.truncate_next, served.state.truncate_to = 5, 0
    dest = tmp_path / "blob.bin"
    url = served.url("blob.bin")
    with pytest.raises(DownloadError) as info:
        download(url, dest, retries=1, backoff=0)
    assert url in str(info.value) and str(dest) in str(info.value)
    assert not dest.exists()


def test_checksum_mismatch_raises_and_removes_partial(served, tmp_path):
    dest = tmp_path / "blob.bin"
    url = served.url("blob.bin")
    with pytest.raises(DownloadError, match="sha256") as info:
        download(url, dest, sha256="0" * 64)
    assert url in str(info.value) and str(dest) in str(info.value)
    assert not dest.exists() and not part_path(dest).exists()


def test_size_mismatch_raises(served, tmp_path):
    dest = tmp_path / "blob.bin"
    with pytest.raises(DownloadError, match="size"):
        download(served.url("blob.bin"), dest, expected_size=len(PAYLOAD) - 1)
    assert not dest.exists()


def test_missing_file_is_not_retried(served, tmp_path):
    dest = tmp_path / "nope.bin"
    with pytest.raises(DownloadError, match="404"):
        download(served.url("nope.bin"), dest, retries=3, backoff=10)
    assert len(served.state.requests) == 1 and not dest.exists()
