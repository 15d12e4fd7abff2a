"""One self-contained HTML page per setting: every tau table and every figure, with captions.

Figures are embedded as ``data:`` URIs, so the page can be mailed or archived alone; tables are
plain HTML tables built from the Parquet tables (not from the Markdown). Every caption says what
the table or figure shows and over how many models.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-size: 0.95em; padding: 0.3em 0; color: #444; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
"""


@dataclass(frozen=True)
class Figure:
    """A PNG to embed and its caption."""

    path: Path
    caption: str


def _cell(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def table_html(
    frame: pd.DataFrame, rows: str, cols: str, cell: Callable[[pd.Series], str], caption: str, last: Sequence[str] = ()
) -> str:
    """A pivot of ``frame`` (one row per (rows, cols)) as an HTML table; ``cell(row)`` formats.
    Columns in order of appearance, those named in ``last`` moved to the end."""
    row_keys = pd.unique(frame[rows]).tolist()
    col_keys = pd.unique(frame[cols]).tolist()
    col_keys = [c for c in col_keys if c not in last] + [c for c in last if c in col_keys]
    cells = {(r[rows], r[cols]): cell(r) for _, r in frame.iterrows()}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [rows, *col_keys])
    body = "".join(
        "<tr><td>" + html.escape(str(r)) + "</td>" + "".join(f"<td>{html.escape(cells.get((r, c), '—'))}</td>" for c in col_keys) + "</tr>"
        for r in row_keys
    )
    return f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n"


def _tau_with_interval(row: pd.Series) -> str:
    text = _cell(row["tau_b"])
    if not (math.isnan(row["ci_low"]) or math.isnan(row["ci_high"])):
        text += f" [{_cell(row['ci_low'])}, {_cell(row['ci_high'])}]"
    return text


def _models_range(part: pd.DataFrame) -> str:
    low, high = int(part["n_models"].min()), int(part["n_models"].max())
    return f"{low} models" if low == high else f"{low} to {high} models"


def tau_tables(correlation: pd.DataFrame) -> list[str]:
    """Tau-b with interval for all models and each subgroup, then the permutation p-values."""
    out = []
    for subgroup in ["all", *sorted(set(correlation["subgroup"]) - {"all"})]:
        part = correlation[correlation["subgroup"] == subgroup]
        who = "all kept models" if subgroup == "all" else f"models with {subgroup}"
        out.append(
            table_html(
                part, "definition", "target", _tau_with_interval,
                f"Kendall tau-b between each measure (rows) and each target (columns), {who} "
                f"({_models_range(part)}), with its 95% bootstrap interval over models in brackets. "
                "Columns named after a hyperparameter correlate the measure with the training recipe.",
            )
        )
        if subgroup == "all":
            out.append(
                table_html(
                    part, "definition", "target", lambda r: _cell(r["p_perm"], 3),
                    f"Two-sided permutation p-value of each tau-b above ({_models_range(part)}).",
                )
            )
    return out


def granulated_tables(granulated: pd.DataFrame, n_models: int) -> list[str]:
    """psi_i per axis and Psi for each target: tau-b (tau-a)."""
    out = []
    for target in sorted(set(granulated["target"])):
        part = granulated[granulated["target"] == target]
        out.append(
            table_html(
                part, "definition", "axis", lambda r: f"{_cell(r['psi'])} ({_cell(r['psi_a'])})",
                f"Granulated Kendall coefficient (Jiang et al. 2020) for {target} over {n_models} models: psi_i per "
                "hyperparameter axis (mean tau over groups of models that differ only along that axis) and "
                "Psi, their mean; tau-b within groups, tau-a (Jiang et al.'s variant) in brackets.",
                last=("Psi",),
            )
        )
    return out


def figure_html(figure: Figure) -> str:
    data = base64.b64encode(Path(figure.path).read_bytes()).decode("ascii")
    alt = html.escape(Path(figure.path).stem)
    return (
        f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>\n"
    )


def page(
    setting: str, intro: str, correlation: pd.DataFrame, granulated: pd.DataFrame, figures: Sequence[Figure], sections: Sequence[str] = ()
) -> str:
    """The whole page; ``sections`` (HTML, e.g. the radius check) come before the figures."""
    all_models = correlation[correlation["subgroup"] == "all"]
    n_models = int(all_models["n_models"].max()) if len(all_models) else 0
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>sharpgen report: {html.escape(setting)}</title><style>{STYLE}</style></head><body>",
        f"<h1>sharpgen report: {html.escape(setting)}</h1>",
        f"<p>{html.escape(intro)}</p>",
        "<h2>Kendall tau</h2>",
        *tau_tables(correlation),
    ]
    if len(granulated):
        parts += ["<h2>Granulated Kendall coefficient</h2>", *granulated_tables(granulated, n_models)]
    parts += [*sections, "<h2>Figures</h2>", *[figure_html(f) for f in figures], "</body></html>\n"]
    return "\n".join(parts)
