"""Baseline and curvature measures of a model, beside the sharpness definitions in the tau tables.

Each :class:`Measure` is a definition-like, frozen object with a stable ``id``; a measure job
computes every configured measure of its models and caches each (model, measure) pair, so adding
one computes only it. Larger values mean "predicts a larger error" for every measure (so a good
measure has a positive tau), following Jiang et al. (2020, Table 5):

* ``param_norm``: ||w||_2 over all parameters; ``dist_init``: ||w - w_0||_2 (nan when the
  checkpoint has no initial weights).
* ``frobenius_sum`` / ``frobenius_product``: sum and product over weight matrices of ||W||_F^2;
  ``spectral_sum`` / ``spectral_product``: the same with ||W||_2^2. A weight with more than two
  dimensions (a convolution kernel) is reshaped to (out, in x kernel), as Jiang et al. do; products
  are reported as their logarithm (they overflow otherwise; the rank is the same).
* ``path_norm``: the sum of the outputs of the network with every parameter squared on an all-ones
  input (Jiang et al.'s definition; a heuristic beyond ReLU networks without normalisation).
* ``inverse_margin``: 1 / gamma^2 with gamma the ``percentile``-th percentile of the output margin
  (true logit minus the largest other logit) on the data; inf when gamma <= 0.
* ``pacbayes_sigma``: 1 / sigma^2 for the largest sigma whose Gaussian perturbation (sigma |w| with
  ``adaptive``) raises the average loss by at most ``threshold``, found by bisection on log sigma
  with ``samples`` fixed noise draws (common random numbers make the curve monotone in practice).
* ``jacobian_norm``: the PGDL starting kit's baseline 2 (``complexity`` of its Jacobian baseline,
  by the organisers): for every layer l of the model (the children of an ``nn.Sequential``: the
  Keras layers of a PGDL model, Flatten, Dropout and activations included), the mean over its
  entries of the squared Jacobian of the model's output (logits, or probabilities where the
  model ends in a softmax) with respect to the layer's *input*, per example (TensorFlow's
  ``batch_jacobian``); then the mean over layers, the mean over each batch of
  :data:`JACOBIAN_BATCH` examples, and the mean of the batch means. The kit stops after 33
  batches of 16 (528 examples: ``n: 528``); eval mode, as the kit calls Keras in inference mode.
  Examples must not interact (batch norm in eval mode), since each Jacobian is taken per example.
* ``hessian_trace``: Hutchinson's estimate of tr(H) (``samples`` Rademacher probes);
  ``hessian_eig``: the largest eigenvalue of H by power iteration (``iters`` steps). With
  ``adaptive``, of C H C with C = diag(|w|): the rho -> 0 limits of adaptive sharpness.

Data-dependent measures use the first ``n`` examples of the sharpness data, in eval mode.

A measure from outside the package (kind ``function``) is any function ``f(model, batches) ->
float`` named ``module:function``: ``model`` in eval mode on its device, ``batches`` a list of
(x, y) pairs on that device, the first ``n`` examples of the sharpness data in batches of ``m``.
Its id is ``<name>_n<n>_m<m>`` (``name``: the function's, or the entry point's of the group
``sharpgen.measures``); its cache is keyed by the function's source (README: Measures).
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

KINDS = (
    "param_norm", "dist_init", "frobenius_sum", "frobenius_product", "spectral_sum", "spectral_product",
    "path_norm", "inverse_margin", "pacbayes_sigma", "hessian_trace", "hessian_eig", "jacobian_norm", "function",
)
DATA_KINDS = ("inverse_margin", "pacbayes_sigma", "hessian_trace", "hessian_eig", "jacobian_norm")
ADAPTIVE_KINDS = ("pacbayes_sigma", "hessian_trace", "hessian_eig")
JACOBIAN_BATCH = 16  # the starting kit's batch size of its Jacobian baseline


@dataclass(frozen=True)
class Measure:
    """One measure and its parameters; ``id`` names it in tables and cache files."""

    kind: str
    adaptive: bool = False
    n: int = 256  # examples (data-dependent kinds)
    samples: int = 4  # Hutchinson probes, PAC-Bayes noise draws
    iters: int = 10  # power iterations, bisection steps
    percentile: float = 10.0  # inverse_margin
    threshold: float = 0.1  # pacbayes_sigma: allowed increase of the average loss
    seed: int = 0
    function: str = ""  # kind function: module:function
    name: str = ""  # kind function: the id's stem (default: the function's name)
    m: int = 128  # kind function: examples per batch
    digest: str = ""  # kind function: digest of its module at planning (reruns the job when it changes)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown measure kind {self.kind!r}; valid: {', '.join(KINDS)}")
        if (self.kind == "function") != bool(self.function):
            raise ValueError(f"measure {self.kind}: `function: module:function` goes with kind function, and only with it")
        if self.adaptive and self.kind not in ADAPTIVE_KINDS:
            raise ValueError(f"measure {self.kind} has no adaptive variant (only {', '.join(ADAPTIVE_KINDS)})")

    @property
    def id(self) -> str:
        parts = [self.kind] + (["adaptive"] if self.adaptive else [])
        if self.kind == "inverse_margin":
            parts += [f"p{self.percentile:g}", f"n{self.n}"]
        elif self.kind == "pacbayes_sigma":
            parts += [f"t{self.threshold:g}", f"s{self.samples}", f"it{self.iters}", f"n{self.n}"]
        elif self.kind == "hessian_trace":
            parts += [f"s{self.samples}", f"n{self.n}"]
        elif self.kind == "hessian_eig":
            parts += [f"it{self.iters}", f"n{self.n}"]
        elif self.kind == "jacobian_norm":
            parts += [f"n{self.n}"]
        elif self.kind == "function":
            parts = [self.name or self.function.rpartition(":")[2], f"n{self.n}", f"m{self.m}"]
        return "_".join(parts)

    def callable(self) -> Callable[[nn.Module, list[tuple[Tensor, Tensor]]], float]:
        """The function of a measure of kind function."""
        module, _, name = self.function.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"measure {self.function!r}: cannot import it ({error})") from None

    def source(self) -> bytes:
        """What the cache of this measure's values depends on: the function's source for kind
        function, this module's for the built-in kinds."""
        if self.kind == "function":
            return inspect.getsource(self.callable()).encode()
        return inspect.getsource(inspect.getmodule(Measure)).encode()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measure:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"measure {dict(data)}: unknown keys {unknown}; valid: {sorted(known)}")
        return cls(**data)


def _weights(model: nn.Module) -> list[Tensor]:
    """Weight matrices (>= 2 dimensions), reshaped to (out, rest)."""
    return [p.detach().reshape(p.shape[0], -1) for name, p in model.named_parameters() if p.ndim >= 2]


def _norms(model: nn.Module, kind: str) -> float:
    weights = [w.double() for w in _weights(model)]
    if kind.startswith("frobenius"):
        squares = [w.pow(2).sum() for w in weights]
    else:
        squares = [torch.linalg.matrix_norm(w, ord=2).pow(2) for w in weights]
    if kind.endswith("_sum"):
        return float(sum(squares))
    return float(sum(torch.log(s) for s in squares))


def _path_norm(model: nn.Module, x: Tensor) -> float:
    params = {name: p.detach().pow(2) for name, p in model.named_parameters()}
    buffers = dict(model.named_buffers())
    with torch.no_grad():
        out = functional_call(model, (params, buffers), (torch.ones_like(x[:1]),))
    return float(out.double().sum())


def _loss_fn(model: nn.Module, x: Tensor, y: Tensor):
    """The loss as a function of the trainable parameters (a tuple), and their current values."""
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    buffers = dict(model.named_buffers())

    def loss(params: tuple[Tensor, ...]) -> Tensor:
        return F.cross_entropy(functional_call(model, ({**dict(zip(names, params, strict=True)), **buffers}), (x,)), y)

    base = tuple(dict(model.named_parameters())[n].detach() for n in names)
    return loss, base


def _dot(a: tuple[Tensor, ...], b: tuple[Tensor, ...]) -> float:
    return float(sum((s.double() * t.double()).sum() for s, t in zip(a, b, strict=True)))


def _curvature(measure: Measure, model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Hutchinson trace or power-iteration top eigenvalue of H (or C H C): Hessian-vector
    products by double backpropagation through one retained graph."""
    params = [p for p in model.parameters() if p.requires_grad]
    scale = [p.detach().abs() for p in params] if measure.adaptive else None
    with torch.enable_grad():
        grads = torch.autograd.grad(F.cross_entropy(model(x), y), params, create_graph=True)

    def hvp(v: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        if scale is not None:
            v = tuple(s * t for s, t in zip(scale, v, strict=True))
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
        return hv if scale is None else tuple(s * t for s, t in zip(scale, hv, strict=True))

    generator = torch.Generator().manual_seed(measure.seed)
    if measure.kind == "hessian_trace":
        total = 0.0
        for _ in range(measure.samples):
            v = tuple((torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(p) for p in params)
            total += _dot(v, hvp(v))
        return total / measure.samples
    v = tuple(torch.randn(p.shape, generator=generator).to(p) for p in params)
    eigenvalue = math.nan
    for _ in range(measure.iters):
        norm = math.sqrt(_dot(v, v))
        v = tuple(t / norm for t in v)
        hv = hvp(v)
        eigenvalue = _dot(v, hv)
        v = hv
    return eigenvalue


def _pacbayes(measure: Measure, model: nn.Module, x: Tensor, y: Tensor) -> float:
    loss, params = _loss_fn(model, x, y)
    generator = torch.Generator().manual_seed(measure.seed)
    noise = [tuple(torch.randn(p.shape, generator=generator).to(p) for p in params) for _ in range(measure.samples)]
    scale = tuple(p.abs() if measure.adaptive else torch.ones_like(p) for p in params)
    with torch.no_grad():
        clean = float(loss(params))

        def rise(sigma: float) -> float:
            return sum(float(loss(tuple(p + sigma * c * z for p, c, z in zip(params, scale, draw, strict=True)))) for draw in noise) / len(noise) - clean

        low, high = -8.0, 2.0  # log10 sigma
        if rise(10**high) <= measure.threshold:
            return 10 ** (-2 * high)
        for _ in range(measure.iters):
            mid = (low + high) / 2
            low, high = (mid, high) if rise(10**mid) <= measure.threshold else (low, mid)
    return 10 ** (-2 * low)


def _inverse_margin(measure: Measure, model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        logits = model(x).double()
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], -math.inf).amax(1)
    gamma = float(torch.quantile(true - others, measure.percentile / 100))
    return 1 / gamma**2 if gamma > 0 else math.inf


def _layer_jacobian_norm(model: nn.Module, x: Tensor) -> Tensor:
    """Per example: the mean over layers of the mean squared entry of d output / d (layer input)."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"measure jacobian_norm needs an nn.Sequential model (one child per layer, as the PGDL models), got {type(model).__name__}")
    with torch.enable_grad():
        inputs, a = [], x.detach().clone().requires_grad_(True)
        for layer in model:
            inputs.append(a)
            a = layer(a)
        out = a.reshape(len(x), -1)
        squares = [torch.zeros(len(x), dtype=torch.float64, device=x.device) for _ in inputs]
        for k in range(out.shape[1]):  # one backward pass per output unit: examples do not interact
            grads = torch.autograd.grad(out[:, k].sum(), inputs, retain_graph=k + 1 < out.shape[1], allow_unused=True)
            for total, g in zip(squares, grads, strict=True):
                if g is not None:
                    total += g.detach().double().pow(2).reshape(len(x), -1).sum(1)
    means = [total / (out.shape[1] * a_l[0].numel()) for total, a_l in zip(squares, inputs, strict=True)]
    return torch.stack(means).mean(0)


def _jacobian_norm(model: nn.Module, x: Tensor) -> float:
    batches = [_layer_jacobian_norm(model, x[i : i + JACOBIAN_BATCH]).mean() for i in range(0, len(x), JACOBIAN_BATCH)]
    return float(torch.stack(batches).mean())


def compute_measure(
    measure: Measure, model: nn.Module, data: tuple[Tensor, Tensor], init_state: Mapping[str, Tensor] | None
) -> float:
    """The value of ``measure`` for ``model`` (eval mode, on its device) on the first
    ``measure.n`` examples of ``data``; ``init_state`` are its initial weights, if known."""
    device = next(model.parameters()).device
    x, y = data[0][: measure.n].to(device), data[1][: measure.n].to(device)
    kind = measure.kind
    if kind == "function":
        batches = [(x[i : i + measure.m], y[i : i + measure.m]) for i in range(0, len(y), measure.m)]
        return float(measure.callable()(model, batches))
    if kind == "param_norm":
        return math.sqrt(sum(float(p.detach().double().pow(2).sum()) for p in model.parameters()))
    if kind == "dist_init":
        if init_state is None:
            return math.nan
        return math.sqrt(
            sum(float((p.detach().double() - init_state[name].to(device).double()).pow(2).sum()) for name, p in model.named_parameters())
        )
    if kind in ("frobenius_sum", "frobenius_product", "spectral_sum", "spectral_product"):
        return _norms(model, kind)
    if kind == "path_norm":
        return _path_norm(model, x)
    if kind == "inverse_margin":
        return _inverse_margin(measure, model, x, y)
    if kind == "pacbayes_sigma":
        return _pacbayes(measure, model, x, y)
    if kind == "jacobian_norm":
        return _jacobian_norm(model, x)
    return _curvature(measure, model, x, y)
