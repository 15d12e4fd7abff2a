"""What a sharpness measurement is: one frozen dataclass, validated, with a stable id."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Mapping

ALGORITHMS = ("average", "worst")
NORMS = ("l2", "linf")
MOMENTA = ("reference", "autoattack")
RESETS = ("reference", "clean")
INITS = ("zero", "random")
DATA = ("train", "test", "augmented")


@dataclass(frozen=True)
class Definition:
    """One sharpness definition of Andriushchenko et al. (2023), plus the knobs of its estimator.

    algorithm: "average" (expected loss increase under noise) or "worst" (APGD maximisation).
    norm: "l2" (Gaussian noise / l2 ball) or "linf" (uniform noise / box).
    rho: the radius. adaptive: scale by c = |w0| instead of c = 1.
    logit_norm: normalise logits per example (centred, divided by their l2 norm) before the loss.
    m: batch size of m-sharpness (the data are split into fixed disjoint batches of m examples).
    n_samples: noise draws per batch (average). antithetic: draw them as (+delta, -delta) pairs.
    n_iters: APGD iterations (worst). momentum, reset, init, restarts: APGD variants; the
    defaults reproduce the authors' algorithm (see docs/engine.md). seed: noise / init seed.
    data: which examples the batches hold (appendix H): "train" (the sharpness subset of training
    examples), "test" (test examples) or "augmented" (the training subset under the setting's
    training augmentation); the engine itself does not read it, the job that feeds it does.
    """

    algorithm: str
    norm: str
    rho: float
    adaptive: bool = True
    logit_norm: bool = True
    m: int = 128
    n_samples: int = 20
    antithetic: bool = False
    n_iters: int = 20
    momentum: str = "reference"
    reset: str = "reference"
    init: str = "zero"
    restarts: int = 1
    seed: int = 0
    data: str = "train"

    def __post_init__(self) -> None:
        _choice("algorithm", self.algorithm, ALGORITHMS)
        _choice("data", self.data, DATA)
        _choice("norm", self.norm, NORMS)
        _choice("momentum", self.momentum, MOMENTA)
        _choice("reset", self.reset, RESETS)
        _choice("init", self.init, INITS)
        if not (isinstance(self.rho, (int, float)) and self.rho > 0):
            raise ValueError(f"sharpness definition: rho must be a positive number, got {self.rho!r}")
        for key in ("m", "n_samples", "n_iters", "restarts"):
            value = getattr(self, key)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"sharpness definition: {key} must be an integer >= 1, got {value!r}")
        if self.antithetic and self.n_samples % 2:
            raise ValueError(
                f"sharpness definition: antithetic sampling needs an even n_samples, got {self.n_samples}"
            )
        if self.init == "zero" and self.restarts > 1:
            raise ValueError(
                "sharpness definition: restarts > 1 need init: random (from zero every restart is identical)"
            )

    @property
    def variant(self) -> str:
        """The paper's variant name: standard, adaptive, or either with -lognorm."""
        base = "adaptive" if self.adaptive else "standard"
        return f"{base}-lognorm" if self.logit_norm else base

    @property
    def id(self) -> str:
        """A stable, file-name-safe id that differs whenever any field that matters differs."""
        parts = [self.algorithm, self.norm, self.variant, f"rho{_exact(self.rho)}", f"m{self.m}"]
        if self.algorithm == "average":
            parts.append(f"s{self.n_samples}")
            if self.antithetic:
                parts.append("anti")
        else:
            parts.append(f"it{self.n_iters}")
            if self.momentum != "reference":
                parts.append(f"mom-{self.momentum}")
            if self.reset != "reference":
                parts.append(f"reset-{self.reset}")
            if self.init != "zero":
                parts.append(f"init-{self.init}{self.restarts}")
        if self.seed:
            parts.append(f"seed{self.seed}")
        if self.data != "train":
            parts.append(f"data-{self.data}")
        return "_".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_id(cls, text: str) -> Definition:
        """The definition whose ``id`` is ``text``: the inverse of :attr:`id`.

        An id that is not in the canonical form :attr:`id` writes (unknown part, wrong order,
        a number written differently) is an error naming it.
        """
        parts = text.split("_")
        try:
            if len(parts) < 5 or parts[2] not in ("standard", "adaptive", "standard-lognorm", "adaptive-lognorm"):
                raise ValueError("expected <algorithm>_<norm>_<variant>_rho<r>_m<m>[_...]")
            algorithm, norm, variant, rho, m, *rest = parts
            fields: dict[str, Any] = {
                "algorithm": algorithm, "norm": norm, "adaptive": variant.startswith("adaptive"),
                "logit_norm": variant.endswith("-lognorm"), "rho": float(_prefixed(rho, "rho")), "m": int(_prefixed(m, "m")),
            }
            for part in rest:
                fields.update(_id_part(part))
            definition = cls(**fields)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{text!r} is not a sharpness definition id ({error})") from None
        if definition.id != text:
            raise ValueError(f"{text!r} is not a sharpness definition id in canonical form; it reads as {definition.id!r}")
        return definition

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Definition:
        """Build from a mapping (e.g. a config entry); unknown keys are an error naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"sharpness definition: unknown key(s) {unknown}; valid keys are {sorted(known)}"
            )
        return cls(**dict(values))


def _choice(key: str, value: object, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"sharpness definition: {key} must be one of {list(options)}, got {value!r}")


_ID_PARTS = (  # optional id parts after rho and m: (regex, field values)
    (re.compile(r"s(\d+)"), lambda g: {"n_samples": int(g[0])}),
    (re.compile(r"anti"), lambda g: {"antithetic": True}),
    (re.compile(r"it(\d+)"), lambda g: {"n_iters": int(g[0])}),
    (re.compile(r"mom-(\w+)"), lambda g: {"momentum": g[0]}),
    (re.compile(r"reset-(\w+)"), lambda g: {"reset": g[0]}),
    (re.compile(r"init-([a-z]+)(\d+)"), lambda g: {"init": g[0], "restarts": int(g[1])}),
    (re.compile(r"seed(\d+)"), lambda g: {"seed": int(g[0])}),
)


def _prefixed(part: str, prefix: str) -> str:
    if not part.startswith(prefix) or len(part) == len(prefix):
        raise ValueError(f"expected {prefix}<number>, got {part!r}")
    return part[len(prefix):]


def _id_part(part: str) -> dict[str, Any]:
    for pattern, values in _ID_PARTS:
        match = pattern.fullmatch(part)
        if match:
            return values(match.groups())
    raise ValueError(f"unknown part {part!r}")


def _exact(value: float) -> str:
    """Short form of a number (0.1, 2, 1e-05) when it is exact, else every digit (0.0020000001)."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))
