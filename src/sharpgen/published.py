"""Published values (the paper's Kendall taus and other statistics) as data: read and validated.

A published table is a CSV with one row per published value:

- ``setting``: the setting it belongs to;
- ``definitions``: the sharpness definition id (``sharpgen.sharpness.Definition.id``) or measure
  id it was computed with, or several candidate ids separated by ``;`` where the source leaves
  the variant or the radius open; ``external:<name>`` names a measure sharpgen does not compute
  (shown beside ours with no row of ours, e.g. a competition entry's measure);
- ``target``: the target column (``test_error``, ``<shift>_error``, ...), or ``;``-separated
  candidates;
- ``subgroup``: ``all`` or a subgroup of the tau table (``family=resnet18``), or ``;``-separated
  candidates;
- ``statistic``: what the value is (``kendall_tau``; tables of other statistics key on it);
- ``relation``: ``=`` (the value itself; with candidates, one of them) or ``min`` (the source
  says "as low as": the minimum over every candidate);
- ``value``: the number as published; ``source``: where it is printed; ``note``: how it was read.

The comparison with our numbers lives in :mod:`sharpgen.reproduction`.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

COLUMNS = ("setting", "definitions", "target", "subgroup", "statistic", "relation", "value", "source", "note")
STATISTICS = ("kendall_tau", "cmi")
RELATIONS = ("=", "min")
BOUNDED = {"kendall_tau": (-1.0, 1.0)}  # statistics with a known range
KEY = ["setting", "definitions", "target", "subgroup", "statistic"]
EXTERNAL = "external:"  # prefix of a measure sharpgen does not compute
_NAME = re.compile(r"[A-Za-z0-9_.+-]+")
_SUBGROUP = re.compile(r"all|[A-Za-z0-9_]+=[^;,=]+(,[A-Za-z0-9_]+=[^;,=]+)*")


def candidates(cell: str) -> list[str]:
    """The ``;``-separated candidates of a cell, in order."""
    return [part.strip() for part in cell.split(";")]


def read(path: str | Path) -> pd.DataFrame:
    """The published table at ``path``, validated (:func:`validate`); ``value`` is a float."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"published values {path}: no such file; fix the path (config key published_values)")
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"published values {path}: empty file; expected the header {','.join(COLUMNS)}")
    header, body = rows[0], rows[1:]
    if tuple(header) != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        extra = [c for c in header if c not in COLUMNS]
        raise ValueError(
            f"published values {path}: the header must be {','.join(COLUMNS)} (missing {missing}, unexpected {extra})"
        )
    for number, row in enumerate(body, start=2):
        if len(row) != len(COLUMNS):
            raise ValueError(f"published values {path}, line {number}: {len(row)} fields, expected {len(COLUMNS)}; quote fields that hold commas")
    frame = pd.DataFrame(body, columns=list(COLUMNS), dtype=str)
    return validate(frame, f"published values {path}")


def validate(frame: pd.DataFrame, where: str = "published values") -> pd.DataFrame:
    """Check every row (ids in the definition grammar, names, relation, statistic, a number in
    range, no duplicate key) and return the table with ``value`` as float. Errors name the line
    (header = line 1) and the fix."""
    from sharpgen.sharpness.definition import Definition

    out = frame.copy()
    values = []
    for position, row in enumerate(out.itertuples(index=False), start=2):
        at = f"{where}, line {position}"
        for column in ("setting", "definitions", "target", "subgroup", "statistic", "relation", "value", "source"):
            if not str(getattr(row, column)).strip():
                raise ValueError(f"{at}: column {column!r} is empty")
        if not _NAME.fullmatch(row.setting):
            raise ValueError(f"{at}: setting {row.setting!r} is not a setting name")
        for definition in candidates(row.definitions):
            if definition.startswith(EXTERNAL):
                if not _NAME.fullmatch(definition[len(EXTERNAL):]):
                    raise ValueError(f"{at}: {definition!r}: write external:<name> with letters, digits and _.+- in the name")
                continue
            try:
                Definition.from_id(definition)
            except ValueError as error:
                if not _is_measure_id(definition):  # imports torch: only for what is not a definition
                    raise ValueError(
                        f"{at}: {error}, nor a measure id; write the id as sharpgen writes it (e.g. worst_linf_adaptive_rho0.002_m128_it20), or external:<name> for a measure sharpgen does not compute"
                    ) from None
        for target in candidates(row.target):
            if not _NAME.fullmatch(target):
                raise ValueError(f"{at}: target {target!r} is not a target name (test_error, <shift>_error, gen_gap_error, ...)")
        for subgroup in candidates(row.subgroup):
            if not _SUBGROUP.fullmatch(subgroup):
                raise ValueError(f"{at}: subgroup {subgroup!r} must be 'all' or <column>=<value>[,<column>=<value>]")
        if row.statistic not in STATISTICS:
            raise ValueError(f"{at}: statistic {row.statistic!r} must be one of {list(STATISTICS)}")
        if row.relation not in RELATIONS:
            raise ValueError(f"{at}: relation {row.relation!r} must be '=' (the value) or 'min' (the minimum over the candidates)")
        try:
            value = float(row.value)
        except ValueError:
            raise ValueError(f"{at}: value {row.value!r} is not a number") from None
        low, high = BOUNDED.get(row.statistic, (-float("inf"), float("inf")))
        if not low <= value <= high:
            raise ValueError(f"{at}: {row.statistic} {value} lies outside [{low}, {high}]")
        values.append(value)
    out["value"] = pd.Series(values, index=out.index, dtype="float64")
    duplicated = out.duplicated(KEY, keep=False)
    if duplicated.any():
        lines = [i + 2 for i in range(len(out)) if duplicated.iloc[i]]
        raise ValueError(f"{where}: lines {lines} publish the same (setting, definitions, target, subgroup, statistic) twice; keep one")
    return out.reset_index(drop=True)


def for_setting(table: pd.DataFrame, setting: str) -> pd.DataFrame:
    """The rows of one setting (a shared table holds several)."""
    return table[table["setting"] == setting].reset_index(drop=True)


def _is_measure_id(text: str) -> bool:
    """Whether ``text`` names a measure of :mod:`sharpgen.measures` (its kind, then its parameters)."""
    from sharpgen.measures import KINDS

    return any(text == kind or text.startswith(f"{kind}_") for kind in KINDS)
