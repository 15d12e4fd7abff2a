"""Extraction of the shared zip archives (sharpgen.archive): safe, atomic, with clear errors."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest

from sharpgen import archive
from sharpgen.archive import ArchiveError, extract


def _zip(path: Path, files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


LAYOUT = {
    "input_data/task1_v4/model_0/config.json": b'{"model_config": []}',
    "input_data/task1_v4/dataset_1/train/shard_0.tfrecord": bytes(range(256)) * 40,
    "reference_data/task1_v4/model_configs.json": b"{}",
}


def test_an_archive_is_extracted_with_its_record_written_last(tmp_path: Path) -> None:
    lines: list[str] = []
    record = extract(_zip(tmp_path / "public_data.zip", LAYOUT), tmp_path / "out" / "public_data", progress=lines.append)
    target = tmp_path / "out" / "public_data"
    assert {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()} == {*LAYOUT, archive.RECORD}
    assert all((target / name).read_bytes() == data for name, data in LAYOUT.items())
    assert record == json.loads((target / archive.RECORD).read_text())
    assert record["files"] == 3 and record["extracted_bytes"] == sum(map(len, LAYOUT.values()))
    assert lines and "3/3 files" in lines[-1] and "ETA" in lines[-1]
    assert not (tmp_path / "out" / ".public_data.partial").exists()


def test_a_single_top_folder_is_dropped(tmp_path: Path) -> None:
    nested = {f"public_data/{name}": data for name, data in LAYOUT.items()}
    extract(_zip(tmp_path / "a.zip", nested), tmp_path / "a")
    assert (tmp_path / "a" / "reference_data" / "task1_v4" / "model_configs.json").read_bytes() == b"{}"


@pytest.mark.parametrize("name", ["../evil.txt", "input_data/../../evil.txt", "/tmp/evil.txt", "C:/evil.txt", "input_data\\..\\evil.txt"])
def test_members_escaping_the_folder_are_refused_before_anything_is_written(tmp_path: Path, name: str) -> None:
    bad = _zip(tmp_path / "bad.zip", {**LAYOUT, name: b"x"})
    with pytest.raises(ArchiveError, match=r"bad.zip: member .* outside the extraction folder.*delete it"):
        extract(bad, tmp_path / "w" / "bad")
    assert not (tmp_path / "w").exists() and not (tmp_path / "evil.txt").exists()


def test_a_symbolic_link_member_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "link.zip", LAYOUT)
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo("input_data/task1_v4/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="link.zip: member 'input_data/task1_v4/link' is a symbolic link"):
        extract(path, tmp_path / "link")
    assert not (tmp_path / "link").exists()


def test_a_truncated_archive_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = _zip(tmp_path / "public_data.zip", LAYOUT)
    path.write_bytes(path.read_bytes()[:-100])  # a cut download: the central directory is gone
    with pytest.raises(ArchiveError, match=r"public_data.zip: not a complete zip archive .*truncated or corrupt: delete it and rerun"):
        extract(path, tmp_path / "public_data")
    assert not (tmp_path / "public_data").exists()


def test_a_corrupt_member_fails_midway_and_leaves_nothing_that_looks_complete(tmp_path: Path) -> None:
    path = _zip(tmp_path / "public_data.zip", LAYOUT, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = bytes(data).index(bytes(range(256)))  # the shard's bytes, stored: its CRC no longer matches
    data[at + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="public_data.zip: corrupt member .*CRC.*delete it and rerun"):
        extract(path, tmp_path / "public_data")
    assert not (tmp_path / "public_data").exists() and not (tmp_path / ".public_data.partial").exists()


def test_a_killed_extraction_is_not_taken_as_done_and_a_rerun_redoes_it(tmp_path: Path, monkeypatch) -> None:
    """What a kill leaves (a .partial folder; a folder without its record, after a kill between
    Snakemake removing the record and the rename) is neither extracted nor kept by the rerun."""
    monkeypatch.chdir(tmp_path)
    target = archive.folder("public_data.zip")
    partial = target.with_name(".public_data.partial")
    (partial / "input_data").mkdir(parents=True)
    (partial / "input_data" / "half.bin").write_bytes(b"half")
    (target / "input_data").mkdir(parents=True)
    (target / "input_data" / "stale.bin").write_bytes(b"old")
    assert not archive.is_extracted("public_data.zip")
    extract(_zip(tmp_path / "public_data.zip", LAYOUT), target)
    assert archive.is_extracted("public_data.zip") and archive.record_path("public_data.zip") == target / archive.RECORD
    assert not partial.exists() and not (target / "input_data" / "stale.bin").exists()
    assert (target / "reference_data" / "task1_v4" / "model_configs.json").is_file()


def test_an_extraction_killed_midway_leaves_nothing_that_looks_complete(tmp_path: Path, monkeypatch) -> None:
    """The extract command under SIGKILL while it writes: no record, no final folder; the rerun completes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    monkeypatch.chdir(tmp_path)
    big = {f"input_data/task1_v4/dataset_1/train/shard_{k}.tfrecord": bytes(32 << 20) for k in range(4)}  # 128 MiB, deflated to ~0.1 MiB
    path = _zip(tmp_path / "public_data.zip", {**LAYOUT, **big})
    record = archive.record_path("public_data.zip")
    command = [sys.executable, "-m", "sharpgen", "extract", "--archive", str(path), "--out", str(record)]
    job = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    partial = record.parent.with_name(".public_data.partial")
    deadline = time.monotonic() + 60
    while not any(p.is_file() for p in partial.rglob("shard_*")) and time.monotonic() < deadline:
        time.sleep(0.001)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert job.returncode == -signal.SIGKILL
    assert partial.is_dir() and not record.exists() and not record.parent.exists() and not archive.is_extracted("public_data.zip")
    subprocess.run(command, check=True, capture_output=True)
    assert archive.is_extracted("public_data.zip") and not partial.exists()
    assert (record.parent / "input_data/task1_v4/dataset_1/train/shard_3.tfrecord").stat().st_size == 32 << 20
