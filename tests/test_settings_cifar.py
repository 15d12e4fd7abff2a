"""CIFAR-10 setting: user model sheet validation, checkpoint loading, CIFAR-10 / -C readers over HTTP."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.cifar import cifar10_archive, cifar10c_folder
from sharpgen.data.sources.cifar10 import CORRUPTIONS, cifar10, cifar10c_robustbench
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


def test_cifar10_tarball_over_http(http_server, tmp_path):
    batches = cifar10_archive(http_server.root / "cifar-10-python.tar.gz")
    path = download(http_server.url("cifar-10-python.tar.gz"), tmp_path / "cifar-10-python.tar.gz")
    x, y = cifar10(path, "train")
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (20,)
    first = batches["data_batch_1"][b"data"][0]
    np.testing.assert_allclose(x[0, 1].numpy(), first[1024:2048].reshape(32, 32) / 255, rtol=0, atol=1e-7)
    assert y[5] == batches["data_batch_2"][b"labels"][1]
    xt, yt = cifar10(path, "test", n=2)
    assert xt.shape == (2, 3, 32, 32) and yt.tolist() == batches["test_batch"][b"labels"][:2]


def test_cifar10c_is_robustbench_mix_shuffled_with_seed_0(http_server, tmp_path):
    """robustbench's load_cifar10c(n_examples=pool, severity=5, shuffle=True) after np.random.seed(0):
    the first ceil(pool/15) images of each corruption (robustbench's order), concatenated,
    permuted by NumPy's global generator, then the first n."""
    labels = cifar10c_folder(http_server.root / "c", per_severity=20)
    root = tmp_path / "CIFAR-10-C"
    for name in (*CORRUPTIONS, "labels"):
        download(http_server.url(f"c/{name}.npy"), root / f"{name}.npy")
    x, y = cifar10c_robustbench(root, n=40, severity=5, pool=45, seed=0)
    assert x.shape == (40, 3, 32, 32) and y.shape == (40,)
    assert torch.all(x[:, 0] == 5 / 255)  # severity 5 only
    np.random.seed(0)
    order = np.random.permutation(45)[:40]  # 15 corruptions x 3 images, as robustbench shuffles
    corruption, image = order // 3, order % 3
    assert torch.equal((x[:, 1, 0, 0] * 255).round().long(), torch.from_numpy(corruption))
    assert torch.equal((x[:, 2, 0, 0] * 255).round().long(), torch.from_numpy(image))
    assert torch.equal(y, torch.from_numpy(labels[image].astype(np.int64)))
    assert CORRUPTIONS[:4] == ("shot_noise", "motion_blur", "snow", "pixelate")  # robustbench's order
    with pytest.raises(ValueError, match="20 images per severity; 67 are needed"):
        cifar10c_robustbench(root, n=10, pool=1000)
