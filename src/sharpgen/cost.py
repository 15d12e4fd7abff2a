"""The cost model of sharpness jobs: passes per definition, and time and memory from a calibration.

A calibration (``jobs.sharpness.calibrate``) measures, for one model of an architecture on the
job's device, the load time and the seconds of one forward and of one forward+backward pass at
each batch size m, and the peak memory of the latter. A job's predicted time is its fixed start
cost plus, per model, the load time plus the passes of every definition times their measured
seconds. Light (no torch): the workflow uses it to size cluster requests.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sharpgen.sharpness.definition import Definition

START_SECONDS = 15.0  # interpreter, imports and data loading of one job (measured: 6-12 s on 2 cores)
RUNTIME_SAFETY = 2.0  # requested runtime = safety x predicted (x attempt on retries)
MEMORY_SAFETY = 1.5
BASE_MEMORY_MB = 2000.0  # the job process itself: torch, the data subset, the model on the host


@dataclass(frozen=True)
class Passes:
    forward: int
    backward: int

    def __add__(self, other: Passes) -> Passes:
        return Passes(self.forward + other.forward, self.backward + other.backward)


def passes(definition: Definition, n: int) -> Passes:
    """Forward and backward passes of the engine for one definition on n examples (n/m batches).

    Worst case: n_iters x (forward + backward) + 1 forward per restart, plus one clean forward
    for random starts; average case: n_samples + 1 forwards.
    """
    batches = n // definition.m
    if definition.algorithm == "average":
        return Passes(batches * (definition.n_samples + 1), 0)
    per_restart = Passes(definition.n_iters + 1, definition.n_iters)
    clean = 0 if definition.init == "zero" else 1
    return Passes(batches * (clean + definition.restarts * per_restart.forward), batches * definition.restarts * per_restart.backward)


@dataclass(frozen=True)
class Calibration:
    """Measured costs of one architecture on one device.

    ``batch_samples[m]``: how the average case evaluates its noise samples at batch size m, as
    measured faster on this device (1 = the loop, k = torch.func.vmap over k samples), and
    ``noise_sample_seconds[m]`` the seconds per noise sample on that path (draw and perturbation
    included). Calibrations made before these were measured have neither: the loop is then
    assumed, at one forward per sample.
    """

    device: str
    load_seconds: float
    forward_seconds: Mapping[int, float]  # by m
    forward_backward_seconds: Mapping[int, float]
    peak_mb: Mapping[int, float]
    batch_samples: Mapping[int, int] = field(default_factory=dict)
    noise_sample_seconds: Mapping[int, float] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | Path) -> Calibration:
        raw = json.loads(Path(path).read_text())
        by_m = lambda key, kind=float: {int(m): kind(v) for m, v in raw.get(key, {}).items()}  # noqa: E731
        return cls(
            raw["device"], float(raw["load_seconds"]), by_m("forward_seconds"), by_m("forward_backward_seconds"),
            by_m("peak_mb"), by_m("batch_samples", int), by_m("noise_sample_seconds"),
        )

    def to_json(self) -> str:
        by_m = lambda values: {str(m): v for m, v in values.items()}  # noqa: E731
        return json.dumps({
            "device": self.device, "load_seconds": self.load_seconds,
            "forward_seconds": by_m(self.forward_seconds),
            "forward_backward_seconds": by_m(self.forward_backward_seconds),
            "peak_mb": by_m(self.peak_mb),
            "batch_samples": by_m(self.batch_samples),
            "noise_sample_seconds": by_m(self.noise_sample_seconds),
        }, indent=1, sort_keys=True)

    def noise_path(self, m: int) -> int:
        """``batch_samples`` for the average case at batch size m: the measured faster path, else the loop."""
        return self.batch_samples.get(m, 1)

    def seconds(self, definition: Definition, n: int) -> float:
        """Predicted seconds of one definition on n examples: its passes at the measured rates
        (average case: the clean forwards, and the noise samples on the path that will run)."""
        p = passes(definition, n)
        m = definition.m
        if definition.algorithm == "average" and m in self.noise_sample_seconds:
            batches = n // m
            return batches * (self.forward_seconds[m] + definition.n_samples * self.noise_sample_seconds[m])
        forward_only = p.forward - p.backward
        return forward_only * self.forward_seconds[m] + p.backward * self.forward_backward_seconds[m]


Work = Iterable[tuple[Calibration, Sequence[Definition]]]  # per model: its calibration, its definitions


def job_seconds(models: Work, n: int) -> float:
    """Predicted seconds of one sharpness job over its models."""
    return START_SECONDS + sum(c.load_seconds + sum(c.seconds(d, n) for d in defs) for c, defs in models)


def job_memory_mb(models: Work) -> float:
    """Predicted peak memory of one job: the process plus the largest pass it makes."""
    return BASE_MEMORY_MB + max((c.peak_mb[d.m] for c, defs in models for d in defs), default=0.0)


def request(predicted_seconds: float, predicted_mb: float, attempt: int) -> tuple[int, int]:
    """The cluster request (runtime in minutes, mem_mb) for a predicted job, grown per attempt."""
    minutes = math.ceil(RUNTIME_SAFETY * attempt * predicted_seconds / 60)
    return max(minutes, 5), math.ceil(MEMORY_SAFETY * attempt * predicted_mb)
