"""A setting defined in the tests only: logistic regressions on three Gaussian blobs.

Registered through ``SHARPGEN_SETTING_MODULES=toy_setting`` (with this folder on PYTHONPATH), it
runs through the unchanged workflow and CLI: proof that a setting is one module.
"""

from __future__ import annotations

import time

import pandas as pd

from sharpgen.settings import Ref, Setting, register


def _blobs(n: int, seed: int, noise: float = 1.0):
    import torch

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    return centres[y] + noise * torch.randn(n, 2, generator=g), y


@register
class Toy(Setting):
    name = "toy"
    description = "Logistic regressions on three Gaussian blobs (a test-only setting)."
    columns = (("lr", "float64"), ("epochs", "int64"), ("seed", "int64"))
    sheet_keys = ("lrs",)
    data_keys = ("points",)
    block_schema = {
        "lrs": {"description": "Learning rates, one model each.", "type": "array", "items": {"type": "number"}, "default": [0.05, 0.5]},
        "points": {"description": "Training points.", "type": "integer", "default": 256},
    }
    defaults = {"figures": {"color": "lr", "marker": None}}
    published_values = "toy_published_values.csv"  # data/ beside this module

    def sheet(self, block):
        return pd.DataFrame([
            {"setting": self.name, "model_id": f"toy-lr{lr:g}", "arch": "linear", "source": "train", "lr": float(lr), "epochs": 3, "seed": 0}
            for lr in block["lrs"]
        ])

    def subset_inputs(self, block, sheet):
        return {"dataset": Ref("dataset")}

    def dataset(self, block, inputs):
        splits = {"train": _blobs(block["points"], 0), "test": _blobs(128, 1), "shift:wide": _blobs(128, 2, noise=2.0)}
        return splits, pd.DataFrame({"split": ["train"] * block["points"], "index": range(block["points"])})

    def subset(self, block, n, seed, inputs):
        from sharpgen import datasets

        return datasets.first_n(datasets.load(inputs["dataset"]), n)

    def train(self, row, splits, device, on_epoch):
        import torch

        torch.manual_seed(row["seed"])
        model = torch.nn.Linear(2, 3)
        optimizer = torch.optim.SGD(model.parameters(), lr=row["lr"])
        x, y = splits["train"]
        history = []
        for epoch in range(1, row["epochs"] + 1):
            start = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            error = (model(x).argmax(1) != y).float().mean().item()
            record = {"epoch": epoch, "lr": row["lr"], "train_loss": loss.item(), "train_error": error, "seconds": time.perf_counter() - start}
            history.append(record)
            on_epoch(record)
        return model.eval(), history

    def load_model(self, path, arch, device):
        import torch

        model = torch.nn.Linear(2, 3)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["state_dict"])
        return model.to(device).eval()
