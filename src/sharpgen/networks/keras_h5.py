"""Keras Sequential models rebuilt in torch from a layer list, weights read from Keras' HDF5 file.

No TensorFlow at run time: the architecture is a list of layer dicts, ``{"layer_name":
<tf.keras.layers class>, **its keyword arguments}`` (the PGDL competition's ``config.json``,
``{"model_config": [...], "input_shape": [H, W, C]}``, built by its starting kit as
``tf.keras.Sequential([getattr(tf.keras.layers, d.pop("layer_name"))(**d) ...])``), and the
weights are a Keras HDF5 weights file (``model.save_weights("weights.hdf5")`` of tf.keras 2,
the "legacy" h5 format): root attribute ``layer_names``, one group per layer with attribute
``weight_names`` naming its datasets. As Keras' own h5 loader does, layers that hold weights
are matched to the file's non-empty groups in order (names differ between Keras sessions).

The torch model takes NCHW images (the records' NHWC images permuted) and computes what Keras
computes on NHWC: convolutions with Keras' "same" padding (asymmetric when the stride is
above 1), ``Flatten`` in Keras' (H, W, C) order, batch normalisation in inference mode with
Keras' epsilon. Layers: Conv2D, Dense, BatchNormalization, MaxPooling2D, AveragePooling2D,
GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, Dropout, Activation, ReLU; activations
linear, relu, tanh, sigmoid, softmax. Anything else is refused with the layer's name, as is a
Keras default this module does not implement (e.g. ``data_format: channels_first``). A final
``softmax`` is kept: the model then returns probabilities, as in Keras.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"linear": nn.Identity, None: nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if isinstance(value, Sequence) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise ValueError(f"{name} must be an int or a pair, got {value!r}")


def _activation(name: str | None) -> nn.Module:
    if name == "softmax":
        return nn.Softmax(dim=-1)
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} is not supported; supported: {sorted(k for k in ACTIVATIONS if k)} and softmax")
    return ACTIVATIONS[name]()


def _same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding of one spatial axis: (before, after), the extra one after."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


class SamePad(nn.Module):
    """Zero padding (or -inf for max pooling) as TensorFlow's "same" for a kernel and stride."""

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int] = (1, 1), value: float = 0.0):
        super().__init__()
        self.kernel, self.stride, self.dilation, self.value = kernel, stride, dilation, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = _same_padding(x.shape[-2], self.kernel[0], self.stride[0], self.dilation[0])
        left, right = _same_padding(x.shape[-1], self.kernel[1], self.stride[1], self.dilation[1])
        return F.pad(x, (left, right, top, bottom), value=self.value)


class KerasFlatten(nn.Module):
    """Flatten in Keras' channels-last order: NCHW -> N(HWC)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.permute(0, 2, 3, 1) if x.dim() == 4 else x).flatten(1)


class GlobalPool(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3)) if self.kind == "avg" else x.amax((2, 3))


class Layer(nn.Sequential):
    """One Keras layer: its torch modules, and the Keras weight names it loads, in file order."""

    def __init__(self, modules: Sequence[nn.Module], weights: Sequence[tuple[str, str]] = ()):
        super().__init__(*modules)
        self.weight_slots = tuple(weights)  # (Keras weight name, our parameter / buffer path)


def _kwargs(layer: Mapping[str, Any], allowed: set[str], name: str) -> dict[str, Any]:
    """The layer's keyword arguments, refusing any we do not implement."""
    unknown = sorted(set(layer) - allowed - {"layer_name", "name", "trainable", "dtype", "input_shape", "kernel_initializer", "bias_initializer",
                                             "kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"})
    if unknown:
        raise ValueError(f"layer {name}: keyword arguments {unknown} are not supported")
    if layer.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"layer {name}: data_format {layer['data_format']!r} is not supported (channels_last only)")
    return dict(layer)


def build_layer(layer: Mapping[str, Any], shape: tuple[int, ...]) -> tuple[Layer, tuple[int, ...]]:
    """The torch layer for one Keras layer dict and the output shape (channels first, no batch)."""
    kind = layer.get("layer_name")
    if kind == "Conv2D":
        k = _kwargs(layer, {"filters", "kernel_size", "strides", "padding", "activation", "use_bias", "dilation_rate", "data_format"}, kind)
        kernel, stride = _pair(k["kernel_size"], "kernel_size"), _pair(k.get("strides", 1), "strides")
        dilation = _pair(k.get("dilation_rate", 1), "dilation_rate")
        use_bias = k.get("use_bias", True)
        conv = nn.Conv2d(shape[0], int(k["filters"]), kernel, stride, dilation=dilation, bias=use_bias)
        pad = k.get("padding", "valid").lower()
        modules: list[nn.Module] = [SamePad(kernel, stride, dilation)] if pad == "same" else []
        if pad not in ("same", "valid"):
            raise ValueError(f"layer Conv2D: padding {pad!r} is not supported")
        modules += [conv, _activation(k.get("activation"))]
        h, w = (_out(shape[1], kernel[0], stride[0], pad, dilation[0]), _out(shape[2], kernel[1], stride[1], pad, dilation[1]))
        slots = [("kernel", f"{len(modules) - 2}.weight")] + ([("bias", f"{len(modules) - 2}.bias")] if use_bias else [])
        return Layer(modules, slots), (int(k["filters"]), h, w)
    if kind == "Dense":
        k = _kwargs(layer, {"units", "activation", "use_bias"}, kind)
        if len(shape) != 1:
            raise ValueError(f"layer Dense on an input of shape {shape}: Keras applies it to the last axis; add a Flatten first")
        use_bias = k.get("use_bias", True)
        slots = [("kernel", "0.weight")] + ([("bias", "0.bias")] if use_bias else [])
        return Layer([nn.Linear(shape[0], int(k["units"]), bias=use_bias), _activation(k.get("activation"))], slots), (int(k["units"]),)
    if kind == "BatchNormalization":
        k = _kwargs(layer, {"axis", "momentum", "epsilon", "center", "scale"}, kind)
        axis = k.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        if axis not in (-1, len(shape)):  # Keras' last axis: 3 of (N, H, W, C), 1 of (N, F)
            raise ValueError(f"layer BatchNormalization: axis {axis!r} is not supported (the channel axis, -1, only)")
        center, scale = k.get("center", True), k.get("scale", True)
        norm = (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(shape[0], eps=float(k.get("epsilon", 1e-3)),
                                                                       momentum=1.0 - float(k.get("momentum", 0.99)), affine=True)
        if not scale:
            norm.weight.requires_grad_(False)
        if not center:
            norm.bias.requires_grad_(False)
        slots = ([("gamma", "0.weight")] if scale else []) + ([("beta", "0.bias")] if center else [])
        slots += [("moving_mean", "0.running_mean"), ("moving_variance", "0.running_var")]
        return Layer([norm], slots), shape
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        k = _kwargs(layer, {"pool_size", "strides", "padding", "data_format"}, kind)
        size = _pair(k.get("pool_size", 2), "pool_size")
        stride = _pair(k.get("strides") or size, "strides")
        pad = k.get("padding", "valid").lower()
        if kind == "MaxPooling2D":
            modules = ([SamePad(size, stride, value=-math.inf)] if pad == "same" else []) + [nn.MaxPool2d(size, stride)]
        elif pad == "same":  # Keras averages over the window's valid cells only
            modules = [AvgPoolSame(size, stride)]
        else:
            modules = [nn.AvgPool2d(size, stride)]
        return Layer(modules), (shape[0], _out(shape[1], size[0], stride[0], pad), _out(shape[2], size[1], stride[1], pad))
    if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        _kwargs(layer, {"data_format"}, kind)
        return Layer([GlobalPool("avg" if "Average" in kind else "max")]), (shape[0],)
    if kind == "Flatten":
        _kwargs(layer, {"data_format"}, kind)
        return Layer([KerasFlatten()]), (int(np.prod(shape)),)
    if kind == "Dropout":
        k = _kwargs(layer, {"rate", "noise_shape", "seed"}, kind)
        return Layer([nn.Dropout(float(k["rate"]))]), shape
    if kind == "Activation":
        k = _kwargs(layer, {"activation"}, kind)
        return Layer([_activation(k["activation"])]), shape
    if kind == "ReLU":
        _kwargs(layer, set(), kind)
        return Layer([nn.ReLU()]), shape
    raise ValueError(f"Keras layer {kind!r} is not supported; supported: Conv2D, Dense, BatchNormalization, MaxPooling2D, "
                     "AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, Dropout, Activation, ReLU")


class AvgPoolSame(nn.Module):
    """Average pooling with TensorFlow's "same" padding: padded cells are not counted."""

    def __init__(self, size: tuple[int, int], stride: tuple[int, int]):
        super().__init__()
        self.pad, self.pool = SamePad(size, stride), nn.AvgPool2d(size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ones = torch.ones_like(x[:1, :1])
        return self.pool(self.pad(x)) / self.pool(self.pad(ones))


def _out(size: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - (kernel - 1) * dilation - 1) // stride + 1


def build(layers: Sequence[Mapping[str, Any]], input_shape: Sequence[int]) -> nn.Sequential:
    """The torch model of a Keras layer list for inputs of Keras shape ``input_shape`` (H, W, C
    or features), taking channels-first inputs."""
    shape = tuple(int(s) for s in input_shape)
    shape = (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape
    modules = []
    for i, layer in enumerate(layers):
        try:
            module, shape = build_layer(layer, shape)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"layer {i} ({layer.get('layer_name')!r}): {error}") from None
        modules.append(module)
    return nn.Sequential(*modules)


def _weight_groups(path: Path) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
    """(layer name, [(weight name, array)]) of every layer with weights, in the file's order."""
    import h5py

    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in root.attrs:
            raise ValueError(f"{path}: not a Keras HDF5 weights file (no layer_names attribute)")
        out = []
        for raw in root.attrs["layer_names"]:
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            group = root[name]
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
            if names:
                out.append((name, [(n, np.asarray(group[n])) for n in names]))
        return out


def _short(weight_name: str) -> str:
    """``conv2d_3/kernel:0`` -> ``kernel``."""
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]


def load_weights(model: nn.Sequential, path: str | Path) -> None:
    """Copy the Keras HDF5 weights at ``path`` into ``model`` (from :func:`build`), in place."""
    path = Path(path)
    groups = _weight_groups(path)
    layers = [layer for layer in model if layer.weight_slots]
    if len(groups) != len(layers):
        raise ValueError(f"{path}: {len(groups)} layers with weights, the architecture has {len(layers)}")
    state = {}
    for index, (layer, (group, weights)) in enumerate(zip(layers, groups, strict=True)):
        wanted = [name for name, _ in layer.weight_slots]
        found = [_short(name) for name, _ in weights]
        if found != wanted:
            raise ValueError(f"{path}: layer {group} holds weights {found}, layer {index} with weights expects {wanted}")
        for (_, target), (_, array) in zip(layer.weight_slots, weights, strict=True):
            tensor = torch.from_numpy(np.ascontiguousarray(array))
            if tensor.dim() == 4:  # Conv2D kernel (kh, kw, in, out) -> (out, in, kh, kw)
                tensor = tensor.permute(3, 2, 0, 1)
            elif tensor.dim() == 2:  # Dense kernel (in, out) -> (out, in)
                tensor = tensor.t()
            state[f"{model_index(model, layer)}.{target}"] = tensor.contiguous()
    try:  # every slot is filled; what is not a slot (BatchNorm without center/scale) keeps 0 / 1
        model.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise ValueError(f"{path}: weights do not fit the architecture: {error}") from None


def model_index(model: nn.Sequential, layer: nn.Module) -> int:
    return next(i for i, m in enumerate(model) if m is layer)


def load(config_path: str | Path, weights_path: str | Path) -> nn.Sequential:
    """The model of a PGDL ``config.json`` with the weights of ``weights_path``, in eval mode."""
    import json

    config = json.loads(Path(config_path).read_text())
    if "model_config" not in config or "input_shape" not in config:
        raise ValueError(f"{config_path}: expected keys model_config and input_shape (a PGDL model config.json)")
    try:
        model = build(config["model_config"], config["input_shape"])
    except ValueError as error:
        raise ValueError(f"{config_path}: {error}") from None
    load_weights(model, weights_path)
    return model.eval()
