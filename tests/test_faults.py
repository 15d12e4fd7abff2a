"""The fault suite: what a hostile user does, and the exact outcome each case must have.

One parametrised test per group. Every case ends in a clear error naming the file or key (and
the advice in it works), or in results identical to those of an undisturbed run.
- config: planning (``snakemake -n``) rejects bad configs before any job runs.
- models: bad checkpoints and non-finite models give errors naming the file or model.
- cache: the sharpness cache is keyed by content (rebuilt identical files stay cached; a
  changed architecture or a tampered row is recomputed).
- download: sizes and digests verified (a first download too), partial files tied to their
  URL and version, messages that say what the next run really does.
- data: downloaded archives are parsed, never executed (CIFAR-10's pickles).
- workflow: deleted, broken or replaced upstream artefacts (also behind an old modification
  time) are rebuilt or refused, never mixed into the tables; every table is a target.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from helpers.workflow import job_counts, snakemake, workdir
from sharpgen import checkpoint, datasets, settings, tables

# --- config: errors at planning time ------------------------------------------------------

DIGITS = """\
settings: [digits]
grid: tiny
digits:
  zoo:
    families:
      resnet: {{optimizer: sgd, lr: [0.05], epochs: 1, width: 8}}
      vit: {{optimizer: adamw, lr: [0.003], epochs: 1{vit}}}
    batch_size: [64]
    augment: [false]
    sam_rho: [0.0]
  sharpness: {{n: {n}, shards: 0}}
  grids:
    tiny:
      - {{algorithm: worst, norm: linf, variant: adaptive-lognorm, rho: {rho}, m: 128, n_iters: 2}}
  correlation: {{group_by: {group_by}, axes: {axes}}}
  figures: {{targets: {targets}, color: {color}, marker: {marker}}}
"""
GOOD = {"vit": "", "n": 256, "rho": "[0.002]", "group_by": "[arch]", "axes": "[arch]", "targets": "[test_error]", "color": "lr", "marker": "arch"}

CIFAR = """\
settings: [cifar]
grid: tiny
cifar:
  models_csv: {csv}
  sharpness: {{n: 256}}
  grids:
    tiny:
      - {{algorithm: average, norm: l2, variant: adaptive, rho: 0.1, m: 128, n_samples: 2}}
"""
CIFAR_HEADER = "model_id,arch,path,lr,sam_rho,augment,randaug\n"
FACTORY = "sharpgen.networks.architectures:preact_resnet18"


def digits(**changes: object) -> str:
    return DIGITS.format(**{**GOOD, **changes})


def cifar_sheet(header: str, *rows: str) -> str:
    return header + "".join(f"{row}\n" for row in rows)


# the ViT family takes the ResNet family's keys through a YAML merge key, overriding two
MERGED = digits().replace("resnet: {optimizer: sgd", "resnet: &family {optimizer: sgd").replace(
    "vit: {optimizer: adamw, lr: [0.003], epochs: 1}", "vit: {<<: *family, optimizer: adamw, lr: [0.003]}"
)

# (case, config text, CSV text or None, expected message parts; "" = planning succeeds)
CONFIG_CASES = [
    ("n-float", digits(n="256.0"), None, ["digits.sharpness.n", "integer"]),
    ("cifar-without-block", "settings: [cifar]\n", None, ["cifar.models_csv"]),
    ("duplicated-yaml-key", digits() + "grid: default\n", None, ["grid", "appears twice", "lines"]),
    ("unknown-figure-target", digits(targets="[tset_error]"), None, ["digits.figures.targets", "tset_error"]),
    ("unknown-color-column", digits(color="learning_rate"), None, ["digits.figures.color", "learning_rate"]),
    ("unknown-marker-column", digits(marker="aug"), None, ["digits.figures.marker", "'aug'"]),
    ("unknown-group-by-column", digits(group_by="[family]"), None, ["digits.correlation.group_by", "family"]),
    ("unknown-axes-column", digits(axes="[depth]"), None, ["digits.correlation.axes", "depth"]),
    ("n-above-training-set", digits(n=1536), None, ["digits.sharpness.n = 1536", "1258 training examples"]),
    ("vit-width-not-divisible", digits(vit=", width: 30"), None, ["digits.zoo.families.vit.width = 30", "4 attention heads"]),
    ("cifar-url-and-path", CIFAR, cifar_sheet("model_id,arch,url,path,lr,sam_rho,augment,randaug\n", f"a,{FACTORY},https://x.org/a.pt,a.pt,0.1,0,true,false"), ["models.csv", "['url', 'path']"]),
    ("cifar-same-file-name", CIFAR, cifar_sheet(CIFAR_HEADER, f"a,{FACTORY},one/m.pt,0.1,0,true,false", f"b,{FACTORY},two/m.pt,0.1,0,true,false"), ["['a', 'b']", "m.pt"]),
    ("cifar-missing-column", CIFAR, cifar_sheet("model_id,arch,path,lr,augment,randaug\n", f"a,{FACTORY},a.pt,0.1,true,false"), ["models.csv", "sam_rho"]),
    ("cifar-accuracy-in-percent", CIFAR, cifar_sheet(CIFAR_HEADER.replace("\n", ",test_acc\n"), f"a,{FACTORY},a.pt,0.1,0,true,false,94.5"), ["test_acc", "percent", "['a']"]),
    ("unknown-hyperparameter-column", digits(axes="[arch], hyperparameters: [depth]"), None, ["digits.correlation.hyperparameters", "'depth'"]),
    ("unknown-top-level-key", digits() + "device: cuda\n", None, ["unknown key 'device' at the top level", "known: settings"]),
    ("yaml-merge-key-plans", MERGED, None, ""),
    ("duplicate-key-beside-merge-key", MERGED.replace("optimizer: adamw,", "optimizer: adamw, optimizer: sgd,"), None, ["'optimizer' appears twice"]),
    ("valid-config-plans", digits(), None, ""),
]


@pytest.mark.parametrize("case, text, csv, expected", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_config_faults_fail_at_planning(tmp_path: Path, case: str, text: str, csv: str | None, expected: list[str] | str) -> None:
    root = workdir(tmp_path / "wf")
    config = tmp_path / "config.yaml"
    if csv is not None:
        (tmp_path / "models.csv").write_text(csv)
        text = text.format(csv=tmp_path / "models.csv")
    config.write_text(text)
    result = snakemake(root, "-n", "--configfile", str(config), check=False, timeout=120)
    output = result.stdout + result.stderr
    if not expected:
        assert result.returncode == 0, output[-3000:]
        return
    assert result.returncode != 0, f"{case}: planning accepted the config\n{output[-2000:]}"
    assert "Job stats" not in output  # nothing was scheduled
    missing = [part for part in expected if part not in output]
    assert not missing, f"{case}: message lacks {missing}:\n{output[-3000:]}"


def test_near_equal_radii_are_two_definitions() -> None:
    from sharpgen import plan

    family = {"algorithm": "worst", "norm": "linf", "variant": "standard", "rho": [0.002, 0.0020000001, 0.1, 2.0]}
    ids = [d.id for d in plan.definitions([family], "x")]
    assert len(set(ids)) == 4 and ids[2].split("_")[3] == "rho0.1" and ids[3].split("_")[3] == "rho2"
    assert ids[1].split("_")[3] == "rho0.0020000001"


# --- models: bad checkpoints -------------------------------------------------------------


def _digits_checkpoint(path: Path, arch: str, width: int | None = 8) -> None:
    from sharpgen.networks.architectures import build_model

    torch.manual_seed(0)
    checkpoint.save(build_model(arch, num_classes=10, width=width), path, arch=arch, width=width, num_classes=10)


def _tiny_data(path: Path) -> None:
    torch.manual_seed(1)
    x, y = torch.rand(128, 1, 8, 8), torch.arange(128) % 10
    datasets.save({"train": (x, y), "test": (x[:64], y[:64]), "sharpness": (x, y)}, path)


def _vit_as_resnet(p: Path) -> Callable[[], None]:
    _digits_checkpoint(p, "vit", width=16)
    return lambda: settings.get("digits").load_model(p, "resnet", torch.device("cpu"))


def _bytes(data: bytes, setting: str) -> Callable[[Path], Callable[[], None]]:
    def make(p: Path) -> Callable[[], None]:
        p.write_bytes(data)
        arch = "resnet" if setting == "digits" else "sharpgen.networks.architectures:preact_resnet18"
        return lambda: settings.get(setting).load_model(p, arch, torch.device("cpu"))

    return make


def _mismatched(p: Path) -> Callable[[], None]:
    from sharpgen.networks.architectures import build_model

    payload = {"format": checkpoint.FORMAT, "arch": "resnet", "width": 8, "num_classes": 10, "state_dict": build_model("resnet", 10, 16).state_dict()}
    torch.save(payload, p)
    return lambda: settings.get("digits").load_model(p, "resnet", torch.device("cpu"))


def _cifar_mismatched(p: Path) -> Callable[[], None]:
    torch.save(nn.Linear(3, 2).state_dict(), p)
    return lambda: settings.get("cifar").load_model(p, "sharpgen.networks.architectures:preact_resnet18", torch.device("cpu"))


def _nan_job(job: str, value: float = float("nan")) -> Callable[[Path], Callable[[], None]]:
    """A checkpoint with one tensor of ``value`` (NaN or inf), loaded by one kind of job."""

    def make(p: Path) -> Callable[[], None]:
        from sharpgen.jobs import measures, metrics, sharpness
        from sharpgen.measures import Measure
        from sharpgen.networks.architectures import build_model
        from sharpgen.sharpness import Definition

        model = build_model("resnet", 10, 8)
        with torch.no_grad():
            next(iter(model.parameters()))[0].fill_(value)
        checkpoint.save(model, p, arch="resnet", width=8, num_classes=10)
        data = p.with_name("data.pt")
        _tiny_data(data)
        models = [("broken-model", p, "resnet")]
        if job == "evaluate":
            return lambda: metrics.evaluate_models("digits", models, data, 1, p.with_name("m.parquet"))
        if job == "measures":
            chosen = [Measure("hessian_eig", n=64, iters=2), Measure("pacbayes_sigma", n=64, samples=2, iters=2)]
            return lambda: measures.measures("digits", models, data, chosen, p.with_name("cache"), 1, p.with_name("x.parquet"))
        if job == "calibrate":
            return lambda: sharpness.calibrate("digits", models[0], data, [64], 1, p.with_name("c.json"))
        definition = Definition("average", "l2", 0.1, m=64, n_samples=2)
        return lambda: sharpness.sharpness("digits", models, data, [definition], p.with_name("cache"), 1, p.with_name("s.parquet"))

    return make


MODEL_CASES = [
    ("vit-weights-under-resnet-id", _vit_as_resnet, ["'vit'", "'resnet'"]),
    ("random-bytes-digits", _bytes(os.urandom(4096), "digits"), ["unreadable checkpoint"]),
    ("empty-digits", _bytes(b"", "digits"), ["unreadable checkpoint", "empty file"]),
    ("random-bytes-cifar", _bytes(os.urandom(4096), "cifar"), ["unreadable checkpoint"]),
    ("empty-cifar", _bytes(b"", "cifar"), ["unreadable checkpoint", "empty file"]),
    ("mismatched-weights-digits", _mismatched, ["do not fit"]),
    ("mismatched-weights-cifar", _cifar_mismatched, ["does not match architecture"]),
    ("nan-weights-evaluate", _nan_job("evaluate"), ["broken-model", "non-finite", "delete"]),
    ("nan-weights-sharpness", _nan_job("sharpness"), ["broken-model", "non-finite", "delete"]),
    ("inf-weights-measures", _nan_job("measures", float("inf")), ["broken-model", "non-finite", "delete"]),
    ("nan-weights-measures", _nan_job("measures"), ["broken-model", "non-finite", "delete"]),
    ("nan-weights-calibrate", _nan_job("calibrate"), ["broken-model", "non-finite", "delete"]),
]


@pytest.mark.parametrize("case, make, expected", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_bad_models_fail_naming_file_or_model(tmp_path: Path, case: str, make, expected: list[str]) -> None:
    path = tmp_path / "checkpoint.pt"
    call = make(path)
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        call()
    message = str(info.value)
    assert str(path) in message, message
    missing = [part for part in expected if part not in message]
    assert not missing, f"{case}: message lacks {missing}: {message}"


# --- cache: content-addressed -------------------------------------------------------------

FACTORIES = textwrap.dedent(
    """
    from torch import nn

    def linear():
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def linear_again():
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    """
)


def _sharpness_run(tmp: Path, arch: str = "faults_factories:linear") -> tuple[pd.DataFrame, str]:
    """One cifar-style sharpness job on a linear model; returns its table and what it logged."""
    import contextlib
    import io

    from sharpgen.jobs import sharpness
    from sharpgen.sharpness import Definition

    out = io.StringIO()
    with contextlib.redirect_stderr(out), contextlib.redirect_stdout(out):
        sharpness.sharpness(
            "cifar", [("lin", tmp / "lin.pt", arch)], tmp / "data.pt",
            [Definition("average", "l2", 0.1, m=64, n_samples=2)], tmp / "cache", 1, tmp / "out.parquet",
        )
    return tables.read(tmp / "out.parquet", tables.SHARPNESS), out.getvalue()


@pytest.fixture
def cache_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "faults_factories.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.manual_seed(0)
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).state_dict(), tmp_path / "lin.pt")
    _tiny_data(tmp_path / "data.pt")
    return tmp_path


def _rebuilt_subset(tmp: Path) -> None:
    _tiny_data(tmp / "data.pt")


def _rebuilt_checkpoint(tmp: Path) -> None:
    state = torch.load(tmp / "lin.pt", weights_only=True)
    (tmp / "lin.pt").unlink()
    torch.save({k: v.clone() for k, v in state.items()}, tmp / "lin.pt")


def _tamper_row(tmp: Path) -> None:
    import pyarrow.parquet as pq

    (path,) = (tmp / "cache" / "lin").glob("*.parquet")
    table = pq.read_table(path)
    frame = table.to_pandas()
    frame.loc[0, "sharpness_loss"] = 123.0
    pq.write_table(type(table).from_pandas(frame, schema=table.schema, preserve_index=False), path)


# (case, change between the runs, arch of the second run, pair recomputed?)
CACHE_CASES = [
    ("subset-rebuilt-identically", _rebuilt_subset, "faults_factories:linear", False),
    ("checkpoint-rewritten-identically", _rebuilt_checkpoint, "faults_factories:linear", False),
    ("architecture-changed", lambda tmp: None, "faults_factories:linear_again", True),
    ("cached-row-tampered", _tamper_row, "faults_factories:linear", True),
]


@pytest.mark.parametrize("case, change, arch, recomputed", CACHE_CASES, ids=[c[0] for c in CACHE_CASES])
def test_sharpness_cache_is_keyed_by_content(cache_case: Path, case: str, change, arch: str, recomputed: bool) -> None:
    first, _ = _sharpness_run(cache_case)
    change(cache_case)
    second, log = _sharpness_run(cache_case, arch)
    assert (": cached (" not in log) == recomputed, f"{case}: log was\n{log}"
    assert second.loc[0, "sharpness_loss"] == first.loc[0, "sharpness_loss"]  # never the tampered value


def test_identical_runs_write_identical_bytes(tmp_path: Path) -> None:
    for name in ("a", "b"):
        _digits_checkpoint(tmp_path / name / "checkpoint.pt", "resnet")
        _tiny_data(tmp_path / name / "subset.pt")
    for file in ("checkpoint.pt", "subset.pt"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file


# --- download: verified ---------------------------------------------------------------------

PAYLOAD = os.urandom((1 << 20) + 777)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _fetch(server, dest: Path, lock: Path, trust: bool = True) -> Path:
    from sharpgen.download import download

    return download(server.url("model.bin"), dest, lock=lock, backoff=0, retries=2, trust_first=trust)


def _lock(server, lock: Path, size: int = len(PAYLOAD), sha: str = SHA) -> None:
    lock.write_text(json.dumps({server.url("model.bin"): {"size": size, "sha256": sha}}))


def _dl_cut_no_length_first(server, dest, lock):
    server.state.content_length, server.state.truncate_next, server.state.truncate_to = False, 1, len(PAYLOAD) // 2
    return "error", ["did not announce", server.url("model.bin")]


def _dl_cut_no_length_locked(server, dest, lock):
    _dl_cut_no_length_first(server, dest, lock)
    _lock(server, lock)
    return "ok", PAYLOAD


def _dl_part_of_other_url(server, dest, lock):
    from sharpgen.download import part_meta_path, part_path

    other = os.urandom(5000)
    part_path(dest).write_bytes(other)
    part_meta_path(dest).write_text(json.dumps({"url": server.url("other.bin"), "etag": '"x"'}))
    return "ok", PAYLOAD


def _dl_part_of_old_version(server, dest, lock):
    from sharpgen.download import part_meta_path, part_path

    part_path(dest).write_bytes(os.urandom(5000))  # a prefix of the file's previous version
    part_meta_path(dest).write_text(json.dumps({"url": server.url("model.bin"), "etag": '"old-version"'}))
    return "ok", PAYLOAD


def _dl_part_longer_than_file(server, dest, lock):
    from sharpgen.download import part_meta_path, part_path

    part_path(dest).write_bytes(PAYLOAD + b"tail of something else")
    etag = f'"{hashlib.sha256(PAYLOAD).hexdigest()[:16]}"'
    part_meta_path(dest).write_text(json.dumps({"url": server.url("model.bin"), "etag": etag}))
    return "ok", PAYLOAD


def _dl_same_size_corrupt(server, dest, lock):
    _lock(server, lock)
    (server.root / "model.bin").write_bytes(bytes(b ^ 1 for b in PAYLOAD[:100]) + PAYLOAD[100:])
    return "error", ["sha256", str(lock), "remove the entry"]


def _dl_overlong(server, dest, lock):
    _lock(server, lock, size=len(PAYLOAD) - 10)
    return "error", ["overlong", str(lock)]


def _dl_first_records_lock(server, dest, lock):
    return "ok", PAYLOAD


def _dl_404(server, dest, lock):
    (server.root / "model.bin").unlink()
    return "error", ["404", server.url("model.bin"), "check the URL", "!resumes"]


def _dl_untrusted_first(server, dest, lock):
    return "error", ["refusing the first download", str(lock), "trust_first_download=true"]


def _published_md5(server, lock: Path) -> None:
    lock.write_text(json.dumps({server.url("model.bin"): {"md5": hashlib.md5(PAYLOAD).hexdigest(), "source": "the publisher"}}))


def _dl_corrupted_first_download(server, dest, lock):
    _published_md5(server, lock)
    middle = len(PAYLOAD) // 2
    flipped = bytes(b ^ 0xFF for b in PAYLOAD[middle : middle + 8])
    (server.root / "model.bin").write_bytes(PAYLOAD[:middle] + flipped + PAYLOAD[middle + 8 :])
    return "error", ["md5", "as published", str(lock)]


def _dl_published_md5_first_download(server, dest, lock):
    _published_md5(server, lock)
    return "ok", PAYLOAD


def _dl_cut_without_validators(server, dest, lock):
    server.state.validators, server.state.truncate_next, server.state.truncate_to = False, 3, len(PAYLOAD) // 3
    return "error", ["no ETag or Last-Modified", "from the start", "!resumes"]


def _dl_disk_full(server, dest, lock):
    from sharpgen.download import part_meta_path, part_path

    part_path(dest).symlink_to("/dev/full")  # every write there fails with ENOSPC, a real full disk
    part_meta_path(dest).write_text(json.dumps({"url": server.url("model.bin"), "etag": '"x"'}))
    return "error", ["disk is full", "No space left on device", "!network"]


def _dl_503_then_ok(server, dest, lock):
    server.state.fail_next = 1
    return "ok", PAYLOAD


# (case, arrangement, trust a first download?) Cases about other checks opt in to a first
# download without a digest, as `--config trust_first_download=true` does in the workflow.
DOWNLOAD_CASES = [
    ("cut-body-without-length-first-download", _dl_cut_no_length_first, True),
    ("cut-body-without-length-locked", _dl_cut_no_length_locked, True),
    ("part-of-another-url", _dl_part_of_other_url, True),
    ("part-of-an-old-version", _dl_part_of_old_version, True),
    ("part-longer-than-file-416", _dl_part_longer_than_file, True),
    ("same-size-corrupted-file", _dl_same_size_corrupt, True),
    ("body-longer-than-recorded", _dl_overlong, True),
    ("first-download-records-lock", _dl_first_records_lock, True),
    ("missing-file-404", _dl_404, True),
    ("transient-503", _dl_503_then_ok, True),
    ("first-download-without-digest-refused", _dl_untrusted_first, False),
    ("corrupted-first-download-refused", _dl_corrupted_first_download, False),
    ("published-md5-verifies-first-download", _dl_published_md5_first_download, False),
    ("cut-without-validators-promises-no-resume", _dl_cut_without_validators, True),
    ("disk-full-named-as-such", _dl_disk_full, True),
]


@pytest.mark.parametrize("case, arrange, trust", DOWNLOAD_CASES, ids=[c[0] for c in DOWNLOAD_CASES])
def test_downloads_are_verified(http_server, tmp_path: Path, case: str, arrange, trust: bool) -> None:
    """Each error message holds the expected parts and none of the "!"-marked ones."""
    from sharpgen.download import DownloadError, part_meta_path

    (http_server.root / "model.bin").write_bytes(PAYLOAD)
    dest, lock = tmp_path / "out" / "model.bin", tmp_path / "downloads.lock"
    dest.parent.mkdir()
    outcome, expected = arrange(http_server, dest, lock)
    if outcome == "error":
        with pytest.raises(DownloadError) as info:
            _fetch(http_server, dest, lock, trust)
        message = str(info.value)
        missing = [part for part in expected if not part.startswith("!") and part not in message]
        present = [part[1:] for part in expected if part.startswith("!") and part[1:] in message]
        assert not missing and not present, f"{case}: message lacks {missing}, has {present}: {message}"
        assert not dest.exists()
        return
    _fetch(http_server, dest, lock, trust)
    assert dest.read_bytes() == expected and not part_meta_path(dest).exists()
    recorded = json.loads(lock.read_text())[http_server.url("model.bin")]
    assert {key: recorded[key] for key in ("size", "sha256")} == {"size": len(PAYLOAD), "sha256": SHA}


def test_untrusted_first_download_sends_no_request(http_server, tmp_path: Path) -> None:
    from sharpgen.download import DownloadError

    (http_server.root / "model.bin").write_bytes(PAYLOAD)
    with pytest.raises(DownloadError, match="trust_first_download=true"):
        _fetch(http_server, tmp_path / "model.bin", tmp_path / "downloads.lock", trust=False)
    assert not http_server.state.requests and not (tmp_path / "downloads.lock").exists()


def test_shipped_digests_name_their_sources() -> None:
    """Every entry of the shipped lock has a digest and a source that the sources file cites."""
    from sharpgen.data.sources.cifar10 import CIFAR10C_URL
    from sharpgen.download import read_lock
    from sharpgen.settings.cifar import TRAIN_URL

    repo = Path(__file__).resolve().parents[1]
    entries = read_lock(repo / "config" / "downloads.lock")
    cited = (repo / "config" / "downloads.sources.md").read_text()
    assert {TRAIN_URL, CIFAR10C_URL} <= set(entries)
    for url, entry in entries.items():
        digest = entry.get("sha256") or entry.get("md5")
        assert digest in cited and url in cited and entry["source"].split("@")[1][:40] in cited, url


def test_lock_advice_works(http_server, tmp_path: Path) -> None:
    """A changed upstream file is refused; removing its lock entry, as advised, accepts it."""
    from sharpgen.download import DownloadError

    dest, lock = tmp_path / "model.bin", tmp_path / "downloads.lock"
    (http_server.root / "model.bin").write_bytes(PAYLOAD)
    _fetch(http_server, dest, lock)
    dest.unlink()
    changed = os.urandom(len(PAYLOAD))
    (http_server.root / "model.bin").write_bytes(changed)
    with pytest.raises(DownloadError, match="remove the entry"):
        _fetch(http_server, dest, lock)
    lock.write_text(json.dumps({}))
    _fetch(http_server, dest, lock)
    assert dest.read_bytes() == changed


# --- data: parsed, never executed ----------------------------------------------------------


class _Payload:
    """Pickles as a call of os.mkdir: what a malicious archive would run on unpickling."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def _archive_with(path: Path, batch: object, protocol: int) -> None:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            blob = pickle.dumps(batch, protocol=protocol)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar_batches_read_with_the_format_s_types_only(tmp_path: Path, protocol: int) -> None:
    """A batch as published (a Python 2 dict of bytes, lists and a uint8 array) reads; any other
    global is refused before it is resolved, so it never runs."""
    import numpy as np

    from sharpgen.data.sources.cifar10 import read_cifar10

    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    good = {b"batch_label": b"x", b"labels": [3, 7], b"data": data, b"filenames": [b"a.png", b"b.png"]}
    _archive_with(tmp_path / "good.tar.gz", good, protocol)
    images, labels = read_cifar10(tmp_path / "good.tar.gz", "test")
    assert labels.tolist() == [3, 7] and images[1].transpose(2, 0, 1).reshape(-1).tolist() == data[1].tolist()
    marker = tmp_path / "executed"
    _archive_with(tmp_path / "evil.tar.gz", {**good, b"labels": _Payload(marker)}, protocol)
    with pytest.raises(ValueError, match=r"mkdir is not part of the CIFAR-10 batch format") as info:
        read_cifar10(tmp_path / "evil.tar.gz", "test")
    assert "evil.tar.gz" in str(info.value) and not marker.exists()


# --- paths: quoted in every rule ---------------------------------------------------------------


def test_every_path_in_a_rule_command_is_quoted() -> None:
    """Inputs, outputs, logs and cache folders reach the shell quoted ({...:q}); common.smk
    builds its arguments in Python, with shlex.quote."""
    import re

    rules = Path(__file__).resolve().parents[1] / "workflow" / "rules"
    unquoted = [
        f"{path.name}: {match.group(0)}"
        for path in sorted(rules.glob("*.smk"))
        if path.name != "common.smk"
        for match in re.finditer(r"\{(input|output|log|params\.(cache|lock))(\.[a-z_]+)?\}", path.read_text())
    ]
    assert not unquoted, unquoted


def test_checkpoint_and_project_paths_with_spaces_and_accents(tmp_path: Path) -> None:
    """A model sheet's checkpoint in a folder named with a space and accents, imported by a
    project in such a folder: the link is made, its log is where the rule says."""
    folder = tmp_path / "modèles à tester"
    folder.mkdir()
    source = folder / "réseau 1.pt"
    source.write_bytes(b"weights")
    root = workdir(tmp_path / "étude n°1" / "wf")
    (tmp_path / "models.csv").write_text(cifar_sheet(CIFAR_HEADER, f"a,{FACTORY},{source},0.1,0,true,false"))
    (root / "config.yaml").write_text(CIFAR.format(csv=tmp_path / "models.csv"))
    snakemake(root, "results/imports/cifar/réseau 1.pt", timeout=300)
    link = root / "results" / "imports" / "cifar" / "réseau 1.pt"
    assert link.resolve() == source.resolve() and link.read_bytes() == b"weights"
    assert str(source) in (root / "results" / "logs" / "import_checkpoint" / "cifar" / "réseau 1.pt.log").read_text()


def test_first_download_in_the_workflow_needs_a_digest_or_the_opt_in(http_server, tmp_path: Path) -> None:
    """Over HTTP on 127.0.0.1: the download job refuses a URL without a digest, naming the
    opt-in; with --config trust_first_download=true it downloads and records the digest."""
    from helpers.cifar import cifar10_archive

    cifar10_archive(http_server.root / "cifar-10-python.tar.gz", per_batch=2, test=2)
    root = workdir(tmp_path / "wf")
    (tmp_path / "models.csv").write_text(cifar_sheet(CIFAR_HEADER, f"a,{FACTORY},a.pt,0.1,0,true,false"))
    url = http_server.url("cifar-10-python.tar.gz")
    (root / "config.yaml").write_text(CIFAR.format(csv=tmp_path / "models.csv") + f"  data_url: {url}\n")
    target = "results/downloads/cifar/cifar-10-python.tar.gz"
    refused = snakemake(root, target, check=False, timeout=300)
    log = (root / "results" / "logs" / "download" / "cifar" / "cifar-10-python.tar.gz.log").read_text()
    assert refused.returncode != 0 and "trust_first_download=true" in log and not (root / target).exists()
    assert not http_server.state.requests
    snakemake(root, target, "--config", "trust_first_download=true", timeout=300)
    recorded = json.loads((root / "config" / "downloads.lock").read_text())[url]
    assert recorded["sha256"] == hashlib.sha256((root / target).read_bytes()).hexdigest()


# --- workflow: no mixed state ---------------------------------------------------------------

STUDY = """\
settings: [digits]
grid: tiny
theory: {dln: {run: false}, scale: {run: false}, linear: {run: false}}
digits:
  zoo:
    families:
      resnet: {optimizer: sgd, lr: [0.05], epochs: 2, width: 8}
    batch_size: [64]
    augment: [false, true]
    sam_rho: [0.0]
  sharpness: {n: 256, shards: 0, max_train_error: 1.0}
  grids:
    tiny:
      - {algorithm: average, norm: l2, variant: adaptive-lognorm, rho: [0.1], m: 128, n_samples: 2}
  correlation: {group_by: [], axes: [augment]}
  figures: {targets: [test_error], color: lr, marker: augment}
"""
MODEL = "resnet-lr0.05-bs64-aug0-sam0-s0"


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A two-model study, run once; each case works on a copy. Its config replaces config.yaml
    (a --configfile would be merged into it, adding the default ViT family)."""
    root = workdir(tmp_path_factory.mktemp("faults-study"))
    (root / "config.yaml").write_text(STUDY)
    snakemake(root)
    return root


def _values(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    t = root / "results" / "tables" / "digits"
    sharp = tables.read(t / "sharpness.parquet", tables.SHARPNESS)[["model_id", "definition", "sharpness_loss", "fingerprint"]]
    metrics = tables.read(t / "metrics.parquet", tables.METRICS)[["model_id", "split", "loss", "error"]]
    return sharp, metrics


def _wf_delete_checkpoint(root: Path) -> None:
    (root / f"results/models/digits/{MODEL}/checkpoint.pt").unlink()


def _wf_delete_subset(root: Path) -> None:
    (root / "results/data/digits/subset.pt").unlink()


def _wf_nan_then_advice(root: Path) -> None:
    path = root / f"results/models/digits/{MODEL}/checkpoint.pt"
    payload = torch.load(path, weights_only=True)
    first = next(iter(payload["state_dict"]))
    payload["state_dict"][first] = torch.full_like(payload["state_dict"][first], float("nan"))
    torch.save(payload, path)
    failed = snakemake(root, check=False)
    logs = "".join(p.read_text() for p in (root / "results" / "logs").rglob("*.log"))
    assert failed.returncode != 0 and MODEL in logs and f"delete {path.relative_to(root)}" in logs
    path.unlink()  # the advice


# (case, damage, jobs the dry run must plan, run it?) A deleted checkpoint is run to the end
# by the NaN case, whose advice deletes it.
WORKFLOW_CASES = [
    ("deleted-checkpoint", _wf_delete_checkpoint, {"train_model": 1}, False),
    ("deleted-subset", _wf_delete_subset, {"prepare_subset": 1}, True),
    ("nan-checkpoint-then-advice", _wf_nan_then_advice, {"train_model": 1}, True),
    ("nothing-changed", lambda root: None, {}, False),
]


@pytest.mark.slow
@pytest.mark.parametrize("case, damage, planned, run", WORKFLOW_CASES, ids=[c[0] for c in WORKFLOW_CASES])
def test_upstream_faults_are_rebuilt_not_mixed(study: Path, tmp_path: Path, case: str, damage, planned: dict[str, int], run: bool) -> None:
    root = tmp_path / "copy"
    shutil.copytree(study, root, symlinks=True)
    before = _values(root)
    damage(root)
    dry = snakemake(root, "-n")
    counts = job_counts(dry.stdout + dry.stderr)
    assert {rule: counts.get(rule, 0) for rule in planned} == planned, counts
    if not planned:
        assert not counts
    if not run:
        return
    snakemake(root)
    after = _values(root)
    pd.testing.assert_frame_equal(after[0], before[0])
    pd.testing.assert_frame_equal(after[1], before[1])
    logs = "".join(p.read_text() for p in (root / "results" / "logs" / "sharpness").rglob("*.log"))
    assert ": cached (" in logs  # identical rebuilt inputs: the pairs came from the cache
    assert not snakemake(root, "-n").stdout.count("rule ")


OTHER = "resnet-lr0.05-bs64-aug1-sam0-s0"  # MODEL is the first resnet: its calibration model
# the per-model tables; runs of these cases stop there (correlation, figures, reports take long)
TABLES = [f"results/tables/digits/{name}.parquet" for name in ("metrics", "sharpness", "measures")]


def _checkpoint(root: Path, model: str) -> Path:
    return root / f"results/models/digits/{model}/checkpoint.pt"


def _all_values(root: Path) -> dict[str, pd.DataFrame]:
    """Every per-model value of the tables, without the fingerprints (they name the model's cache)."""
    t = root / "results" / "tables" / "digits"
    sharp, metrics = _values(root)
    measures = tables.read(t / "measures.parquet", tables.MEASURES)[["model_id", "measure", "value"]]
    return {"sharpness": sharp.drop(columns="fingerprint"), "metrics": metrics, "measures": measures}


def _of(frame: pd.DataFrame, model: str) -> pd.DataFrame:
    return frame[frame["model_id"] == model].drop(columns="model_id").reset_index(drop=True)


def _assert_rows(after: dict[str, pd.DataFrame], before: dict[str, pd.DataFrame], expected: dict[str, str]) -> None:
    """Each model's rows in every table after equal the rows ``expected[model]`` had before, to
    float32 rounding: a recomputed average case may take the other noise path (loop or vmap, by
    the new calibration's timing), which sums the same draws in another order."""
    for kind in before:
        for model, source in expected.items():
            pd.testing.assert_frame_equal(_of(after[kind], model), _of(before[kind], source), check_exact=False, rtol=1e-5, obj=f"{kind} of {model}")


def _copy_checkpoint(root: Path, source: str, target: str, keep_mtime: bool) -> None:
    (shutil.copy2 if keep_mtime else shutil.copyfile)(_checkpoint(root, source), _checkpoint(root, target))


@pytest.mark.slow
def test_swapped_checkpoints_recompute_their_rows_in_one_run(study: Path, tmp_path: Path) -> None:
    """The checkpoints of the calibration model and of another model swapped (new times): one
    run recomputes metrics, measures and sharpness of both, and nothing is left to do."""
    root = tmp_path / "copy"
    shutil.copytree(study, root, symlinks=True)
    before = _all_values(root)
    stash = tmp_path / "checkpoint.pt"
    shutil.copyfile(_checkpoint(root, MODEL), stash)
    _copy_checkpoint(root, OTHER, MODEL, keep_mtime=False)
    shutil.copyfile(stash, _checkpoint(root, OTHER))
    dry = job_counts(snakemake(root, "-n", *TABLES).stdout)
    assert {rule: dry.get(rule) for rule in ("calibrate", "sharpness", "evaluate_models", "measures")} == {
        "calibrate": 1, "sharpness": 2, "evaluate_models": 2, "measures": 2}, dry
    snakemake(root, *TABLES)
    _assert_rows(_all_values(root), before, {MODEL: OTHER, OTHER: MODEL})
    assert not job_counts(snakemake(root, "-n", *TABLES).stdout)


@pytest.mark.slow
def test_checkpoint_replaced_behind_its_mtime_is_refused_then_recomputed(study: Path, tmp_path: Path) -> None:
    """cp -p of another model's checkpoint: planning refuses, naming the file and `touch`; after
    the advice, one run recomputes exactly that model's rows."""
    root = tmp_path / "copy"
    shutil.copytree(study, root, symlinks=True)
    before = _all_values(root)
    _copy_checkpoint(root, OTHER, MODEL, keep_mtime=True)
    refused = snakemake(root, "-n", check=False)
    output = refused.stdout + refused.stderr
    path = str(_checkpoint(root, MODEL).relative_to(root))
    assert refused.returncode != 0 and path in output and f"touch {path}" in output, output[-3000:]
    os.utime(_checkpoint(root, MODEL))  # the advice
    snakemake(root, *TABLES)
    _assert_rows(_all_values(root), before, {MODEL: OTHER, OTHER: OTHER})
    assert not job_counts(snakemake(root, "-n", *TABLES).stdout)


@pytest.mark.slow
def test_truncated_shard_names_the_command_that_recovers(study: Path, tmp_path: Path) -> None:
    """A truncated sharpness shard stops the aggregation naming it; deleting it and rerunning
    snakemake, as advised, restores the identical table (its pairs come from the cache)."""
    root = tmp_path / "copy"
    shutil.copytree(study, root, symlinks=True)
    before = _all_values(root)
    shard = root / "results" / "sharpness" / "digits" / f"{MODEL}.parquet"
    shard.write_bytes(shard.read_bytes()[:100])
    assert snakemake(root, *TABLES, check=False).returncode != 0
    log = (root / "results" / "logs" / "aggregate_sharpness" / "digits.log").read_text()
    assert "results/sharpness/digits/" + shard.name in log and "delete it and rerun" in log
    shard.unlink()  # the advice
    snakemake(root, *TABLES)
    after = _all_values(root)
    for kind in before:
        pd.testing.assert_frame_equal(after[kind], before[kind])
    assert not job_counts(snakemake(root, "-n", *TABLES).stdout)


@pytest.mark.slow
def test_every_table_is_a_target(study: Path, tmp_path: Path) -> None:
    """A deleted table (the reports computed from it still there) is planned again."""
    root = tmp_path / "copy"
    shutil.copytree(study, root, symlinks=True)
    names = ["models", "metrics", "sharpness", "measures", "history", "correlation", "granulated"]
    for name in names:
        (root / "results" / "tables" / "digits" / f"{name}.parquet").unlink()
    counts = job_counts(snakemake(root, "-n").stdout)
    planned = {"models_table", "aggregate_metrics", "aggregate_sharpness", "aggregate_measures", "aggregate_history", "correlate"}
    assert planned <= set(counts), counts


def test_digits_declares_the_splits_and_training_size_it_builds() -> None:
    """What planning knows of digits (sharpgen.settings.digits) matches the data it builds."""
    from sharpgen.data.digits import digits_splits

    block = {"data": {"test_fraction": 0.3}}
    splits, _ = digits_splits(0.3, 0, 3, 0)
    digits = settings.get("digits")
    assert set(digits.evaluated_splits(block)) == set(splits)
    assert digits.train_size(block) == len(splits["train"][1])
