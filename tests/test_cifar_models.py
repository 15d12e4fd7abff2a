"""The authors' CIFAR-10 architectures, their checkpoint names, the training grid and recipe."""

from __future__ import annotations

import pytest
import torch

from sharpgen import plan, settings
from sharpgen.config import load_common, validate_block
from sharpgen.data.cifar_augment import augmenter, crop_flip
from sharpgen.networks.architectures import CIFAR10_MEAN, CIFAR10_STD, preact_resnet18, simple_vit
from sharpgen.settings.cifar import parse_checkpoint_name, resolve_factory
from sharpgen.training import triangular_lr
from helpers.workflow import REPO

COMMON = load_common(REPO / "workflow" / "schemas" / "setting.schema.yaml")
CIFAR = settings.get("cifar")


def authors_resnet18_keys(width_stages: int = 4, blocks: int = 2) -> set[str]:
    """The state-dict keys of the authors' PreActResNet18 (models.py, learnable_bn=True): conv1
    without bias, layer<s>.<b>.{bn1, conv1, bn2, conv2} with bias-free convolutions, a projection
    shortcut.0 in the first block of layers 2-4, a final bn and linear."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = {"conv1.weight", "linear.weight", "linear.bias", *(f"bn.{k}" for k in bn)}
    for s in range(1, width_stages + 1):
        for b in range(blocks):
            p = f"layer{s}.{b}"
            keys |= {f"{p}.conv1.weight", f"{p}.conv2.weight", *(f"{p}.bn1.{k}" for k in bn), *(f"{p}.bn2.{k}" for k in bn)}
            if s > 1 and b == 0:
                keys.add(f"{p}.shortcut.0.weight")
    return keys


def test_resnet18_key_set_equals_the_authors():
    model = preact_resnet18()
    assert set(model.state_dict()) == authors_resnet18_keys()
    assert model.state_dict()["layer2.0.shortcut.0.weight"].shape == (128, 64, 1, 1)
    assert model.linear.weight.shape == (10, 512) and sum(p.numel() for p in model.parameters()) == 11_172_170


def test_simple_vit_logits_equal_vit_pytorch_on_the_authors_checkpoint(tmp_path):
    vit_pytorch = pytest.importorskip("vit_pytorch")
    torch.manual_seed(0)
    # the authors' models.get_model('vit_exp', model_width=512)
    ref = vit_pytorch.SimpleViT(image_size=32, patch_size=4, num_classes=10, dim=512, depth=6, heads=16, mlp_dim=1024).eval()
    torch.save({"last": ref.state_dict()}, tmp_path / "vit.pth")
    ours = CIFAR.load_model(tmp_path / "vit.pth", "sharpgen.networks.architectures:simple_vit(width=512)", torch.device("cpu"))
    x = torch.rand(6, 3, 32, 32)
    mean, std = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = ref((x - mean) / std)  # the authors' loader normalises; our model does it inside
        got = ours(x)
    assert set(ours.state_dict()) == set(ref.state_dict())
    assert torch.equal(got, expected)
    assert sum(p.numel() for p in simple_vit().parameters()) == sum(p.numel() for p in ref.parameters())


def test_factory_arguments_in_arch_strings():
    model = resolve_factory("sharpgen.networks.architectures:simple_vit(width=32, depth=1, heads=2)")()
    assert len(model.transformer.layers) == 1 and model.linear_head[1].in_features == 32
    with pytest.raises(ValueError, match="cannot parse the arguments"):
        resolve_factory("sharpgen.networks.architectures:simple_vit(32)")


def test_checkpoint_names_give_the_hyperparameters():
    name = ("2023-01-19 10:11:12.345 dataset=cifar10 model=resnet18 epochs=200 lr_max=0.05 model_width=64 l2_reg=0.0 "
            "sam_rho=0.1 batch_size=128 augm=True randaug=False lr_schedule=cyclic seed=2 epoch=200.pth")
    hp = parse_checkpoint_name(name)
    assert hp == {"family": "resnet18", "model_width": 64, "lr": 0.05, "sam_rho": 0.1, "augment": True, "randaug": False,
                  "epochs": 200.0, "seed": 2.0, "weight_decay": 0.0, "batch_size": 128.0, "label_noise": hp["label_noise"]}
    assert parse_checkpoint_name("model=vit_exp lr_max=0.01 no_data_augm=True.pt")["augment"] is False
    with pytest.raises(ValueError, match="lacks \\['lr_max'\\]"):
        parse_checkpoint_name("model=resnet18 epochs=200.pth")
    with pytest.raises(ValueError, match="not one of the paper's families"):
        parse_checkpoint_name("model=vgg16 lr_max=0.1.pth")


def test_checkpoint_folder_and_urls_become_the_sheet(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "2023-01-01 00:00:00.000 model=resnet18 epochs=200 lr_max=0.1 model_width=64 sam_rho=0.0 seed=0 epoch=200.pth").write_bytes(b"")
    (folder / "notes.txt").write_text("ignored")
    url = "https://example.org/m/2023-01-02%2000:00:00.000%20model=vit_exp%20epochs=200%20lr_max=0.01%20model_width=512%20sam_rho=0.05%20randaug=True%20seed=1.pth"
    block = validate_block("cifar", {"checkpoints_dir": str(folder), "checkpoint_urls": [url]}, COMMON)
    sheet = plan.model_sheet("cifar", block)
    assert list(sheet["model_id"]) == ["resnet18-w64-lr0.1-sam0-aug1-ra0-e200-s0", "vit_exp-w512-lr0.01-sam0.05-aug1-ra1-e200-s1"]
    assert list(sheet["source"]) == ["local", "download"] and list(sheet["family"]) == ["resnet18", "vit_exp"]
    assert sheet.loc[0, "arch"] == "sharpgen.networks.architectures:preact_resnet18(width=64)"
    assert sheet.loc[1, "url"] == url and sheet.loc[1, "filename"] == "vit_exp-w512-lr0.01-sam0.05-aug1-ra1-e200-s1.pth"
    assert sheet.loc[0, "path"].endswith("epoch=200.pth") and list(sheet["lr_bin"]) == [0.125, 0.0078125]


def test_training_grid_and_randaug_only_on_top_of_augm():
    zoo = {"families": {"resnet18": {"lr_max": [0.05, 0.1]}, "vit_exp": {"lr_max": [0.01], "width": 32, "depth": 1, "heads": 2}},
           "sam_rho": [0.0, 0.05], "augm": [False, True], "randaug": [False, True]}
    sheet = plan.model_sheet("cifar", validate_block("cifar", {"zoo": zoo}, COMMON))
    assert len(sheet) == (2 + 1) * 2 * 3 and (sheet["source"] == "train").all()
    assert not (sheet["randaug"] & ~sheet["augment"]).any()
    # the paper's subgroups: one augmentation setting per model, six models each per family x setting
    assert sheet.groupby(["family", "augmentation"]).size().to_dict() == {
        (f, a): n for f, n in (("resnet18", 4), ("vit_exp", 2)) for a in ("none", "standard", "randaug")}
    assert sheet.loc[sheet["augmentation"] == "randaug", "randaug"].all()
    assert (sheet.loc[sheet["augmentation"] == "standard", ["augment", "randaug"]] == [True, False]).all().all()
    assert set(sheet["epochs"]) == {200} and set(sheet["batch_size"]) == {128} and set(sheet["weight_decay"]) == {0.0}
    assert sheet["arch"].iloc[-1] == "sharpgen.networks.architectures:simple_vit(width=32, depth=1, heads=2)"
    with pytest.raises(ValueError, match="no models"):
        plan.model_sheet("cifar", validate_block("cifar", {}, COMMON))
    assert set(sheet["randaug_impl"]) == {"authors"}  # the default: the authors' RandAugment, ids unchanged
    assert "resnet18-w64-lr0.05-sam0-aug1-ra1-e200-s0" in set(sheet["model_id"])
    tv = plan.model_sheet("cifar", validate_block("cifar", {"zoo": {**zoo, "randaug_impl": "torchvision"}}, COMMON))
    assert set(tv["randaug_impl"]) == {"torchvision"}
    assert {m for m in tv["model_id"] if "-ra1" in m} == {m.replace("-ra1", "-ra1-tv") for m in sheet["model_id"] if "-ra1" in m}


def test_triangular_lr_peaks_at_two_fifths():
    total = 200
    lrs = [triangular_lr(s, total, 0.1) for s in range(total)]
    assert lrs[79] == pytest.approx(0.1) and max(lrs) == pytest.approx(0.1)
    assert lrs[0] == pytest.approx(0.1 / 80) and lrs[-1] == 0.0 and lrs[139] == pytest.approx(0.05)


def test_crop_flip_is_a_padded_crop_then_flip_per_image():
    x = torch.rand(16, 3, 32, 32)
    out = crop_flip(x, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    offsets, flips = torch.randint(0, 9, (16, 2), generator=g), torch.rand(16, generator=g) < 0.5
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    assert flips.any() and not flips.all()
    for i in range(16):
        window = padded[i, :, offsets[i, 0] : offsets[i, 0] + 32, offsets[i, 1] : offsets[i, 1] + 32]
        assert torch.equal(out[i], window.flip(2) if flips[i] else window)
    assert augmenter(False, False) is None
    assert augmenter(True, True)(x, g).shape == x.shape
    with pytest.raises(ValueError, match="on top of the standard augmentation"):
        augmenter(False, True)
