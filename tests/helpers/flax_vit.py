"""An independent AugReg ViT in flax, written after google-research/vision_transformer
``vit_jax/models_vit.py`` (plain ViT, class token, no ResNet stem, no representation layer),
and its ``.npz`` checkpoint in the layout of the AugReg files.

The AugReg ``.npz`` files hold the parameter tree flattened with ``/`` and pre-Linen module
names (``LayerNorm_0, MultiHeadDotProductAttention_1, LayerNorm_2, MlpBlock_3`` in a block);
vit_jax's ``checkpoint.load`` reads them back with ``recover_tree`` and flax's
``convert_pre_linen``. :func:`save_npz` writes that layout, :func:`load_npz` is the upstream
reading path, so a test can check that one inverts the other.

Run as ``python -m helpers.flax_vit OUT_DIR SIZE...`` (from ``tests/``; sizes from
``CONFIGS``): writes ``OUT_DIR/SIZE/model.npz`` and ``OUT_DIR/SIZE/reference.npz`` (random images, the flax logits, the
parameter count, whether the upstream reading path restores the parameters exactly). It runs
in its own process because jax/TensorFlow and torch's triton must not share one.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
from flax.training.checkpoints import convert_pre_linen
from flax.traverse_util import flatten_dict, unflatten_dict

_NUMBERED = re.compile(r"^(.*)_\d+$")  # flax's MODULE_NUM_RE
# name -> (model config, image size, batch); b16 is AugReg's ViT-B/16 at 224 px
CONFIGS = {
    "tiny": (dict(num_classes=7, patch=16, hidden_size=24, num_layers=2, mlp_dim=48, num_heads=2), 32, 3),
    "b16": (dict(num_classes=1000, patch=16, hidden_size=768, num_layers=12, mlp_dim=3072, num_heads=12), 224, 2),
}


class AddPositionEmbs(nn.Module):
    @nn.compact
    def __call__(self, inputs):
        shape = (1, inputs.shape[1], inputs.shape[2])
        return inputs + self.param("pos_embedding", nn.initializers.normal(stddev=0.02), shape)


class MlpBlock(nn.Module):
    mlp_dim: int
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, inputs, *, deterministic):
        x = nn.Dense(self.mlp_dim)(inputs)
        x = nn.gelu(x)  # flax's default: the tanh approximation
        x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=deterministic)
        x = nn.Dense(inputs.shape[-1])(x)
        return nn.Dropout(rate=self.dropout_rate)(x, deterministic=deterministic)


class Encoder1DBlock(nn.Module):
    mlp_dim: int
    num_heads: int
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, inputs, *, deterministic):
        x = nn.LayerNorm()(inputs)
        x = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, broadcast_dropout=False,
                                            deterministic=deterministic, dropout_rate=0.0)(x, x)
        x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=deterministic) + inputs
        y = nn.LayerNorm()(x)
        return x + MlpBlock(mlp_dim=self.mlp_dim)(y, deterministic=deterministic)


class Encoder(nn.Module):
    num_layers: int
    mlp_dim: int
    num_heads: int

    @nn.compact
    def __call__(self, x, *, train):
        x = AddPositionEmbs(name="posembed_input")(x)
        for i in range(self.num_layers):
            x = Encoder1DBlock(mlp_dim=self.mlp_dim, num_heads=self.num_heads,
                               name=f"encoderblock_{i}")(x, deterministic=not train)
        return nn.LayerNorm(name="encoder_norm")(x)


class VisionTransformer(nn.Module):
    num_classes: int
    patch: int
    hidden_size: int
    num_layers: int
    mlp_dim: int
    num_heads: int

    @nn.compact
    def __call__(self, inputs, *, train):
        x = nn.Conv(self.hidden_size, (self.patch, self.patch), strides=(self.patch, self.patch),
                    padding="VALID", name="embedding")(inputs)
        n, h, w, c = x.shape
        x = jnp.reshape(x, [n, h * w, c])
        cls = jnp.tile(self.param("cls", nn.initializers.zeros, (1, 1, c)), [n, 1, 1])
        x = jnp.concatenate([cls, x], axis=1)
        x = Encoder(num_layers=self.num_layers, mlp_dim=self.mlp_dim, num_heads=self.num_heads,
                    name="Transformer")(x, train=train)
        return nn.Dense(self.num_classes, name="head", kernel_init=nn.initializers.zeros)(x[:, 0])


def random_params(model: VisionTransformer, img: int, seed: int) -> dict[str, Any]:
    """Parameters of ``model`` with every leaf random (the head and class token included)."""
    import jax

    params = model.init(jax.random.PRNGKey(seed), jnp.zeros((1, img, img, 3)), train=False)["params"]
    rng = np.random.default_rng(seed)
    flat = {k: np.asarray(v, np.float32) for k, v in flatten_dict(params).items()}
    noisy = {k: (v + rng.normal(0.0, 0.02, v.shape)).astype(np.float32) for k, v in flat.items()}
    return unflatten_dict(noisy)


def to_pre_linen(tree: dict[str, Any]) -> dict[str, Any]:
    """Rename Linen's per-class submodule counts to pre-Linen's one count per parent, in
    creation order (the inverse of flax's ``convert_pre_linen``)."""
    out, count = {}, 0
    for name, value in tree.items():
        match = _NUMBERED.match(name)
        if match:
            name, count = f"{match.group(1)}_{count}", count + 1
        out[name] = to_pre_linen(value) if isinstance(value, dict) else value
    return out


def save_npz(params: dict[str, Any], path: Path) -> None:
    """Write ``params`` as an AugReg ``.npz``: pre-Linen names, the tree flattened with ``/``."""
    flat = flatten_dict(to_pre_linen(params), sep="/")
    np.savez(path, **{k: np.asarray(v) for k, v in flat.items()})


def load_npz(path: Path) -> dict[str, Any]:
    """vit_jax's reading path: unflatten on ``/``, then ``convert_pre_linen``."""
    with np.load(path, allow_pickle=False) as ckpt:
        tree = unflatten_dict({tuple(k.split("/")): ckpt[k] for k in ckpt.files})
    return convert_pre_linen(tree)


def logits(model: VisionTransformer, params: dict[str, Any], images_nchw: np.ndarray) -> np.ndarray:
    """Logits of the flax model for NCHW float images (flax takes NHWC)."""
    x = jnp.asarray(np.transpose(images_nchw, (0, 2, 3, 1)))
    return np.asarray(model.apply({"params": params}, x, train=False))


def write(size: str, out: Path) -> None:
    """The model.npz and reference.npz of one configuration, in ``out``."""
    import jax

    out.mkdir(parents=True, exist_ok=True)
    config, img, batch = CONFIGS[size]
    model = VisionTransformer(**config)
    params = random_params(model, img, seed=0)
    save_npz(params, out / "model.npz")
    restored = load_npz(out / "model.npz")
    exact = jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, params, restored))
    images = np.random.default_rng(1).uniform(-1, 1, (batch, 3, img, img)).astype(np.float32)
    np.savez(out / "reference.npz", images=images, logits=logits(model, params, images),
             n_params=sum(leaf.size for leaf in jax.tree_util.tree_leaves(params)), restored_exactly=exact)


if __name__ == "__main__":
    for name in sys.argv[2:]:
        write(name, Path(sys.argv[1]) / name)
