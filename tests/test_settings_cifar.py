"""CIFAR-10 setting: user model sheet validation, checkpoint loading, CIFAR-10 / -C readers over HTTP."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from sharpgen.data.sources.cifar10 import CORRUPTIONS, cifar10, cifar10c_mixed, mixed_assignment
from sharpgen.download import download
from sharpgen import settings

HEADER = "model_id,arch,url,lr,sam_rho,augment,randaug,epochs\n"


def test_sheet_from_user_csv(tmp_path):
    path = tmp_path / "models.csv"
    path.write_text(HEADER + "rn_a,torch.nn:Identity,https://example.org/a.pt,0.05,0.1,true,0,200\n"
                    "rn_b,torch.nn:Identity,ckpts/b.pth,0.1,0,false,1,200\n")
    sheet = settings.get("cifar").sheet({"models_csv": str(path)})
    assert list(sheet["source"]) == ["download", "local"]
    assert list(sheet["filename"]) == ["rn_a.pt", "b.pth"] and sheet.loc[1, "path"] == str(tmp_path / "ckpts" / "b.pth")
    assert sheet["lr"].dtype == float and list(sheet["augment"]) == [True, False]


@pytest.mark.parametrize("row, message", [
    ("rn a,torch.nn:Identity,x.pt,0.1,0,true,0,200", "filesystem-safe"),
    ("rn,resnet18,x.pt,0.1,0,true,0,200", "module:function"),
    ("rn,torch.nn:Identity,x.pt,fast,0,true,0,200", "'lr' must be numeric"),
    ("rn,torch.nn:Identity,x.pt,0.1,0,maybe,0,200", "'augment' must be true/false"),
])
def test_sheet_errors_name_file_and_problem(tmp_path, row, message):
    path = tmp_path / "models.csv"
    path.write_text(HEADER + row + "\n")
    with pytest.raises(ValueError, match=message) as info:
        settings.get("cifar").sheet({"models_csv": str(path)})
    assert str(path) in str(info.value)


def test_sheet_missing_column(tmp_path):
    path = tmp_path / "models.csv"
    path.write_text("model_id,arch,url\nrn,torch.nn:Identity,x.pt\n")
    with pytest.raises(ValueError, match="sam_rho"):
        settings.get("cifar").sheet({"models_csv": str(path)})


def test_authors_checkpoint_format_loads(tmp_path):
    ref = torch.nn.Linear(4, 2)
    torch.save({"last": ref.state_dict(), "best": {}}, tmp_path / "m.pt")
    model = settings.get("cifar").load_model(tmp_path / "m.pt", "helpers.factories:linear_4_2", torch.device("cpu"))
    x = torch.randn(3, 4)
    torch.testing.assert_close(model(x), ref(x))


def _batch(n: int, rng) -> dict:
    return {b"batch_label": b"x", b"labels": list(rng.integers(0, 10, n)), b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [b"f"] * n}


def test_cifar10_tarball_over_http(http_server, tmp_path):
    rng = np.random.default_rng(0)
    batches = {f"data_batch_{i}": _batch(4, rng) for i in range(1, 6)} | {"test_batch": _batch(3, rng)}
    with tarfile.open(http_server.root / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, batch in batches.items():
            blob = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    path = download(http_server.url("cifar-10-python.tar.gz"), tmp_path / "cifar-10-python.tar.gz")
    x, y = cifar10(path, "train")
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (20,)
    first = batches["data_batch_1"][b"data"][0]
    np.testing.assert_allclose(x[0, 1].numpy(), first[1024:2048].reshape(32, 32) / 255, rtol=0, atol=1e-7)
    assert y[5] == batches["data_batch_2"][b"labels"][1]
    xt, yt = cifar10(path, "test", n=2)
    assert xt.shape == (2, 3, 32, 32) and yt.tolist() == batches["test_batch"][b"labels"][:2]


def test_cifar10c_mixed_severity5(http_server, tmp_path):
    root = tmp_path / "CIFAR-10-C"
    root.mkdir()
    labels = np.tile(np.arange(10, dtype=np.uint8), 50)  # 5 severities x 100 images
    np.save(http_server.root / "labels.npy", labels)
    for k, name in enumerate(CORRUPTIONS):  # image value = corruption index, severity in channel 0
        arr = np.full((500, 32, 32, 3), k, dtype=np.uint8)
        arr[:, :, :, 0] = np.repeat(np.arange(1, 6, dtype=np.uint8), 100)[:, None, None]
        np.save(http_server.root / f"{name}.npy", arr)
    for name in (*CORRUPTIONS, "labels"):
        download(http_server.url(f"{name}.npy"), root / f"{name}.npy")
    x, y = cifar10c_mixed(root, severity=5, seed=0)
    assert x.shape == (100, 3, 32, 32) and y.shape == (100,)
    assert torch.all(x[:, 0] == 5 / 255)
    choice = mixed_assignment(100, 15, 0)
    assert torch.equal((x[:, 1, 0, 0] * 255).round().long(), torch.from_numpy(choice))
    assert np.bincount(choice).tolist() == [7] * 10 + [6] * 5
    assert torch.equal(y, torch.from_numpy(labels[400:].astype(np.int64)))
    x2, _ = cifar10c_mixed(root, severity=5, seed=0)
    assert torch.equal(x, x2) and not np.array_equal(choice, mixed_assignment(100, 15, 1))
