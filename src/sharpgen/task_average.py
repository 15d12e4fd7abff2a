"""The PGDL score averaged over tasks, as the competition ranked entries.

The competition scored an entry on every task and ranked by the mean of its task scores
(the starting kit's ``task_average_score``, x100). Here every PGDL task is a setting whose
granulated table carries, on its Psi rows, our score (``cmi``, x100) per definition or measure
and target. :func:`average` gathers them into one long table: one row per (definition, target,
task) with the task's score, and one row per (definition, target) with ``setting`` =
:data:`MEAN`, the mean over the tasks where the score exists (not nan) and their count
``n_tasks``. A definition missing on a task is left out of that mean, so means over different
counts are not comparable: the count says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

MEAN = "mean over tasks"
TARGET = "gen_gap_error"  # the competition's target: the generalization gap
COLUMNS = ["definition", "target", "setting", "cmi", "n_tasks"]


def average(granulated: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every task's score and the mean over tasks, from each task's granulated table (in the
    order of ``granulated``, which names the tasks)."""
    tasks = list(granulated)
    frames = [g.loc[g["axis"] == "Psi", ["definition", "target", "cmi"]].assign(setting=task) for task, g in granulated.items()]
    long = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["definition", "target", "cmi", "setting"])
    long = long.astype({"cmi": "float64"})
    rows = []
    for (definition, target), part in long.groupby(["definition", "target"], sort=True):
        by_task = part.set_index("setting")["cmi"]
        for task in tasks:
            if task in by_task.index:
                value = float(by_task.loc[task])
                rows.append((definition, target, task, value, 0 if math.isnan(value) else 1))
        scored = by_task.dropna()
        rows.append((definition, target, MEAN, float(scored.mean()) if len(scored) else math.nan, len(scored)))
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.astype({"cmi": "float64", "n_tasks": "int64"})


def _cell(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}"


def markdown(table: pd.DataFrame, tasks: Sequence[str]) -> str:
    """One table per target (the generalization gap first): rows definitions and measures,
    columns the tasks, their mean and how many tasks it is over."""
    lines = [
        "## PGDL score averaged over tasks\n",
        "The PGDL score (conditional mutual information x100, the minimum over pairs of hyperparameter axes) of every "
        "definition and measure on each task, and its mean over the tasks where it exists, as the competition ranked "
        f"entries (n: the number of tasks in the mean). Tasks: {', '.join(tasks)}.",
    ]
    if table.empty:
        return "\n".join([*lines, "", "No task has a PGDL score.\n"])
    targets = sorted(set(table["target"]), key=lambda t: (t != TARGET, t))
    for target in targets:
        part = table[table["target"] == target]
        lines += ["", f"### target {target}", "", "| definition | " + " | ".join([*tasks, "mean", "n"]) + " |",
                  "| --- |" + " ---: |" * (len(tasks) + 2)]
        for definition, rows in part.groupby("definition", sort=True):
            by = rows.set_index("setting")
            cells = [_cell(float(by.loc[t, "cmi"])) if t in by.index else "—" for t in tasks]
            lines.append(f"| {definition} | " + " | ".join([*cells, _cell(float(by.loc[MEAN, "cmi"])), str(int(by.loc[MEAN, "n_tasks"]))]) + " |")
    return "\n".join(lines) + "\n"
