"""One self-contained HTML page per setting, in the order a reader scans it.

The page is the sections of ``SECTIONS`` in order: the paper's values beside ours
(Reproduction), the accuracy drift warning, one heatmap of tau per subgroup, the figures, then
every full table collapsed. A section is a function of the page's ``Report`` returning HTML
(empty: left out); adding one is one line in ``SECTIONS``. Figures are embedded as ``data:``
URIs, so the page can be mailed or archived alone; tables are plain HTML tables built from the
Parquet tables (not from the Markdown). Every caption says what the table or figure shows and
over how many models.
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
details { margin: 0.5em 0 1em; }
summary { cursor: pointer; font-weight: bold; padding: 0.3em 0; }
.warning { background: #fff4e5; border-left: 4px solid #e67700; padding: 0.6em 1em; margin: 1em 0; }
.none { color: #666; font-style: italic; }
td.text { text-align: left; }
tr.minimum td { font-weight: bold; }
td.verdict { text-align: center; } td.yes { background: #d3f9d8; } td.no { background: #ffe3e3; }
table.heatmap td { min-width: 3.2em; text-align: center; }
table.heatmap td.ns { color: #777; font-style: italic; background-image: repeating-linear-gradient(45deg, transparent 0 4px, rgba(255,255,255,0.55) 4px 7px); }
.legend span { display: inline-block; padding: 0.1em 0.6em; margin-right: 0.3em; border: 1px solid #ccc; }
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


def cmi_table(granulated: pd.DataFrame, n_models: int) -> str:
    """The PGDL competition's score (conditional mutual information x100) per definition and target."""
    part = granulated[granulated["axis"] == "Psi"]
    return table_html(
        part, "definition", "target", lambda r: _cell(r["cmi"]),
        f"PGDL score over {n_models} models: conditional mutual information between the sign of a measure's "
        "difference and the sign of the target's difference over ordered pairs of models, conditioned on the values "
        "both models take on a pair of hyperparameter axes, normalised by the target's conditional entropy; the "
        "minimum over pairs of axes, x100 (Jiang et al. 2020; the NeurIPS 2020 PGDL scoring program).",
    )


def figure_html(figure: Figure) -> str:
    data = base64.b64encode(Path(figure.path).read_bytes()).decode("ascii")
    alt = html.escape(Path(figure.path).stem)
    return (
        f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>\n"
    )


@dataclass(frozen=True)
class Report:
    """What the page shows; each section reads the parts it needs."""

    setting: str
    intro: str
    correlation: pd.DataFrame
    granulated: pd.DataFrame
    figures: Sequence[Figure]
    reproduction: pd.DataFrame | None = None
    drift: pd.DataFrame | None = None
    drift_threshold: float = 0.5
    checks: Sequence[str] = ()  # rendered sections of the setting's checks (radius check, tau over subsets)
    task_average: pd.DataFrame | None = None  # the PGDL score of every task and its mean (a PGDL task's page)


def _significant(row: pd.Series) -> bool:
    """Permutation p < 0.05 and an interval without 0; the asymptotic p-value when neither exists."""
    p_perm, low, high = row["p_perm"], row["ci_low"], row["ci_high"]
    if math.isnan(p_perm) and (math.isnan(low) or math.isnan(high)):
        return not math.isnan(row["p_value"]) and row["p_value"] < 0.05
    if not math.isnan(p_perm) and p_perm >= 0.05:
        return False
    return math.isnan(low) or math.isnan(high) or not (low <= 0 <= high)


def _colour(tau: float) -> str:
    """White at 0, blue towards +1 (sharper: worse generalization, as hoped), red towards -1."""
    if math.isnan(tau):
        return "#f1f3f5"
    t = min(abs(tau), 1.0)
    if tau >= 0:
        return f"rgb({round(255 - 170 * t)},{round(255 - 110 * t)},255)"
    return f"rgb(255,{round(255 - 160 * t)},{round(255 - 160 * t)})"


def _heatmap_cell(row: pd.Series) -> str:
    tau = row["tau_b"]
    hover = f"tau-b {_cell(tau)}"
    if not (math.isnan(row["ci_low"]) or math.isnan(row["ci_high"])):
        hover += f", 95% interval [{_cell(row['ci_low'])}, {_cell(row['ci_high'])}]"
    if not math.isnan(row["p_perm"]):
        hover += f", permutation p {_cell(row['p_perm'], 3)}"
    hover += f", {int(row['n_models'])} models"
    paper = row.get("paper_value", math.nan)
    paper = math.nan if paper is None else paper
    if not math.isnan(paper):
        hover += f"; paper: {_cell(paper)} ({row['paper_match']})"
    ns = not _significant(row)
    classes = " ".join(c for c in ("ns" if ns else "", "paper" if not math.isnan(paper) else "") if c)
    text = _cell(tau) + (" ◆" if not math.isnan(paper) else "")
    style = f"background:{_colour(tau)}" + (";outline:2px solid #333;outline-offset:-2px" if not math.isnan(paper) else "")
    return f'<td class="{classes}" style="{style}" title="{html.escape(hover)}">{html.escape(text)}</td>'


def heatmap_html(part: pd.DataFrame, caption: str) -> str:
    """Measures (rows) x targets (columns) of one subgroup, one coloured cell per tau."""
    row_keys = pd.unique(part["definition"]).tolist()
    col_keys = pd.unique(part["target"]).tolist()
    cells = {(r["definition"], r["target"]): _heatmap_cell(r) for _, r in part.iterrows()}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["measure", *col_keys])
    body = "".join(
        f"<tr><td>{html.escape(str(r))}</td>" + "".join(cells.get((r, c), "<td>—</td>") for c in col_keys) + "</tr>"
        for r in row_keys
    )
    return f'<table class="heatmap"><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n'


def reproduction_section(report: Report) -> str:
    """The paper's published values beside ours, first: what a reader of a reproduction looks for."""
    from sharpgen import reproduction as rep

    out = ["<h2>Reproduction: the paper's values beside ours</h2>"]
    frame = report.reproduction
    if frame is None or frame.empty:
        out.append(f'<p class="none">No published value for setting {html.escape(report.setting)}: nothing to compare with the paper.</p>')
        return "\n".join(out)
    taus = frame[frame["statistic"] == rep.STATISTIC]
    scores = frame[frame["statistic"] == rep.SCORE]
    if len(taus):
        out.append(_tau_reproduction(report.setting, taus))
    if len(scores):
        out.append(_score_reproduction(report.setting, scores))
    notes = frame.drop_duplicates("value_id")
    out.append("<details><summary>How each published value was read</summary><ol>"
               + "".join(f"<li>{html.escape(n)}</li>" for n in notes["note"]) + "</ol></details>")
    return "\n".join(out)


def _score_reproduction(setting: str, frame: pd.DataFrame) -> str:
    """The published PGDL scores beside ours: no interval, a match to the published rounding."""
    from sharpgen import reproduction as rep

    head = "".join(f"<th>{h}</th>" for h in ("#", "published", "measure", "target", "ours", "difference", "matches", "source"))
    body = []
    for _, row in frame.iterrows():
        verdict = rep.verdict(row)
        texts = "".join(f'<td class="text">{html.escape(t or "—")}</td>' for t in (row["definition"], row["target"]))
        body.append(
            f'<tr><td title="{html.escape(row["note"])}">{row["value_id"]}</td><td>{html.escape(rep.published_text(row))}</td>{texts}'
            f"<td>{html.escape(rep.ours_text(row))}</td><td>{rep.difference_text(row)}</td>"
            f'<td class="verdict {verdict if verdict in ("yes", "no") else ""}">{verdict}</td>'
            f'<td class="text">{html.escape(row["source"])}</td></tr>'
        )
    compared = frame[frame["inside"].notna()]
    caption = (f"PGDL scores published for {setting} (conditional mutual information x100) and ours on the same models and "
               f"published accuracies: ours rounded to two decimals is the published value in {int(compared['inside'].sum())} "
               f"of {len(compared)} scores we computed; {len(frame) - len(compared)} have no row of ours.")
    return f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _tau_reproduction(setting: str, frame: pd.DataFrame) -> str:
    """The paper's Kendall taus beside ours, every candidate, the minimum of an "as low as" in bold."""
    from sharpgen import reproduction as rep

    out = []
    agreed = frame[frame["inside"].notna()]
    n_values = frame["value_id"].nunique()
    out.append(
        f"<p>{n_values} Kendall taus published for {html.escape(setting)}. Each is compared with our tau-b and its 95% "
        "bootstrap interval; <i>inside</i>: the paper's value (two decimals, so ±0.005) lies in our interval. Where the "
        "source leaves the definition, radius, target or subgroup open, every candidate is listed; an \"as low as\" "
        "value is compared with the minimum over the candidates (bold), with that candidate's interval.</p>"
    )
    head = "".join(f"<th>{h}</th>" for h in ("#", "paper", "definition", "target", "subgroup", "ours [95% interval]", "inside", "source"))
    body = []
    previous = None
    for _, row in frame.iterrows():
        first = row["value_id"] != previous
        previous = row["value_id"]
        verdict = rep.verdict(row)
        definition = ("minimum: " if row["compared"] == "minimum" else "") + (row["definition"] or "—")
        texts = "".join(f'<td class="text">{html.escape(t or "—")}</td>' for t in (definition, row["target"], row["subgroup"]))
        body.append(
            f'<tr class="{row["compared"]}"><td title="{html.escape(row["note"])}">{row["value_id"] if first else ""}</td>'
            f"<td>{html.escape(rep.published_text(row)) if first else ''}</td>{texts}"
            f'<td>{html.escape(rep.ours_text(row))}</td><td class="verdict {verdict if verdict in ("yes", "no") else ""}">{verdict}</td>'
            f'<td class="text">{html.escape(row["source"]) if first else ""}</td></tr>'
        )
    inside = int(agreed["inside"].fillna(False).sum())
    caption = (f"The paper's Kendall taus for {setting} and ours: the paper's value lies inside our interval in "
               f"{inside} of {len(agreed)} comparisons with an interval (every candidate of an exact value, the minimum of an "
               "\"as low as\" value).")
    out.append(f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    return "\n".join(out)


def drift_section(report: Report) -> str:
    """Evaluated vs published accuracy: a warning naming every drifted model, the table collapsed."""
    from sharpgen import drift

    frame = report.drift
    if frame is None:
        return ""
    out = ["<h2>Accuracy drift: evaluated vs published</h2>"]
    message = drift.warning(frame, report.drift_threshold)
    if message:
        out.append(f'<div class="warning"><b>Warning:</b> {html.escape(message)}</div>')
    elif frame.empty:
        out.append('<p class="none">No model has both an evaluated and a published accuracy on the same split.</p>')
    else:
        out.append(f"<p>Every evaluated accuracy lies within {report.drift_threshold:g} points of the published one.</p>")
    if not frame.empty:
        frame = frame.assign(row=frame["model_id"] + " " + frame["split"])
        table = table_html(
            frame.assign(column="difference (points)"), "row", "column", lambda r: f"{r['difference_points']:+.2f}" + (" (drift)" if r["drifted"] else ""),
            f"Evaluated minus published accuracy, in percentage points, per model and split ({frame['model_id'].nunique()} models; "
            f"threshold {report.drift_threshold:g} points).",
        )
        out.append(f"<details><summary>Every model and split ({len(frame)})</summary>{table}</details>")
    return "\n".join(out)


def heatmap_section(report: Report) -> str:
    """One heatmap of tau per subgroup: colour = tau, faded and hatched = not significant."""
    corr = report.correlation
    out = [
        "<h2>Kendall tau at a glance</h2>",
        '<p class="legend"><span style="background:rgb(85,145,255)">+1</span><span>0</span>'
        '<span style="background:rgb(255,95,95)">−1</span> tau-b between each measure and each target; '
        '<span class="ns" style="font-style:italic;color:#777">faded italic</span>: not significant (permutation p ≥ 0.05 or '
        "a 95% interval containing 0); ◆ outlined: the paper publishes a value here. Hover a cell for its interval.</p>",
    ]
    for subgroup in ["all", *sorted(set(corr["subgroup"]) - {"all"})]:
        part = corr[corr["subgroup"] == subgroup]
        who = "all kept models" if subgroup == "all" else f"models with {subgroup}"
        out.append(heatmap_html(part, f"Kendall tau-b, {who} ({_models_range(part)})."))
    return "\n".join(out)


def cmi_section(report: Report) -> str:
    """The PGDL competition's score, where a setting has hyperparameter axes to condition on."""
    gran = report.granulated
    if not len(gran) or not gran["cmi"].notna().any():
        return ""
    all_models = report.correlation[report.correlation["subgroup"] == "all"]
    n_models = int(all_models["n_models"].max()) if len(all_models) else 0
    return "\n".join(["<h2>PGDL score</h2>", cmi_table(gran, n_models)])


def task_average_section(report: Report) -> str:
    """The PGDL score of every task of the study and its mean over tasks, as the competition ranked."""
    from sharpgen import task_average as average

    frame = report.task_average
    if frame is None:
        return ""
    tasks = [t for t in pd.unique(frame["setting"]).tolist() if t != average.MEAN]
    out = ["<h2>PGDL score averaged over tasks</h2>"]
    if frame.empty:
        return "\n".join([*out, '<p class="none">No task has a PGDL score.</p>'])
    for target in sorted(set(frame["target"]), key=lambda t: (t != average.TARGET, t)):
        part = frame[frame["target"] == target]
        rows = part.assign(column=["mean (n tasks)" if s == average.MEAN else s for s in part["setting"]])
        table = table_html(
            rows, "definition", "column",
            lambda r: _cell(r["cmi"]) + (f" ({r['n_tasks']})" if r["setting"] == average.MEAN else ""),
            f"PGDL score x100 against {target} of every definition and measure on each task ({', '.join(tasks)}), and its "
            "mean over the tasks where it exists, as the competition ranked entries (in brackets: the number of tasks in "
            "the mean; means over different numbers of tasks are not comparable).",
            last=["mean (n tasks)"],
        )
        out.append(table if target == average.TARGET else f"<details><summary>target {html.escape(target)}</summary>{table}</details>")
    return "\n".join(out)


def figures_section(report: Report) -> str:
    if not report.figures:
        return ""
    return "\n".join(["<h2>Figures</h2>", *[figure_html(f) for f in report.figures]])


def checks_section(report: Report) -> str:
    return "\n".join(report.checks)


def tables_section(report: Report) -> str:
    """Every full table, collapsed: tau with intervals and p-values, then the granulated coefficient."""
    all_models = report.correlation[report.correlation["subgroup"] == "all"]
    n_models = int(all_models["n_models"].max()) if len(all_models) else 0
    tau = tau_tables(report.correlation)
    out = ["<h2>Full tables</h2>", f"<details><summary>Kendall tau with intervals and p-values ({len(tau)} tables)</summary>", *tau, "</details>"]
    if len(report.granulated):
        gran = granulated_tables(report.granulated, n_models)
        out += [f"<details><summary>Granulated Kendall coefficient ({len(gran)} tables)</summary>", *gran, "</details>"]
    return "\n".join(out)


# The page, in order: one line per section (a function of the Report returning HTML, "" to skip).
SECTIONS: list[Callable[[Report], str]] = [
    reproduction_section,
    drift_section,
    heatmap_section,
    cmi_section,
    task_average_section,
    figures_section,
    checks_section,
    tables_section,
]


def page(report: Report) -> str:
    """The whole page: the header, then every section of ``SECTIONS``."""
    title = f"sharpgen report: {html.escape(report.setting)}"
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{title}</title><style>{STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        f"<p>{html.escape(report.intro)}</p>",
    ]
    parts += [section for make in SECTIONS if (section := make(report))]
    parts.append("</body></html>\n")
    return "\n".join(parts)
