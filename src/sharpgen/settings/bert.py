"""Setting "bert": BERT-base fine-tuned on MNLI, 100 seeds ("BERTs of a feather", McCoy et al. 2020).

Checkpoints: Zenodo record 4110593, ``bert_{00..99}.zip``, each a TF1 google-research/bert
checkpoint (``bert_config.json``, ``vocab.txt``, ``model.ckpt-*.index/.data-*``) read here
without TensorFlow (:mod:`sharpgen.networks.bert`). Sharpness data: a label-stratified sample of
n pairs of GLUE MNLI ``<data_root>/train.tsv``, tokenised with the first checkpoint's
``vocab.txt``. Evaluation (``metrics: evaluate``): MNLI ``dev_matched.tsv`` (test), the six HANS
subsets of ``heuristics_evaluation_set.txt`` (heuristic x entailed / non-entailed; contradiction
and neutral predictions count as non-entailment) and a sample of ``train.tsv``. Published per-run
accuracies: ``data/hans_berts_of_a_feather_accuracies_by_run.csv``.

Which models: the paper's Figure 4 shows 50 BERTs without saying which, so ``models`` defaults to
50, the first 50 by run number (runs 0-49): McCoy et al.'s runs differ only in the fine-tuning
seed, so any 50 are an equally valid sample and the first 50 is the choice one can name. How much
the choice moves tau is what the ``subsets`` analysis measures (config/paper.yaml: all 100 runs,
tau over random subsets of 50).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd

from sharpgen.settings import Collection, Ref, register
from sharpgen.settings.base import SHIFT_PREFIX, data_root, mirrored

SETTING = "bert"
URL = "https://zenodo.org/record/4110593/files/bert_{run:02d}.zip"
N_RUNS = 100
MNLI_LAYOUT = "GLUE MNLI: <data_root>/train.tsv (and dev_matched.tsv)"
HANS_FILE = "heuristics_evaluation_set.txt"
HANS_LAYOUT = f"HANS: <data_root>/{HANS_FILE} (tommccoy1/hans)"
MAX_SEQ_LENGTH = 128  # run_classifier's default, used by McCoy et al.
# Google's BERT-base uncased release: the vocabulary McCoy et al. fine-tuned with (their README
# takes vocab.txt and bert_config.json from it), for checkpoint archives without them
GOOGLE_ARCHIVE = "uncased_L-12_H-768_A-12.zip"
GOOGLE_URL = f"https://storage.googleapis.com/bert_models/2018_10_18/{GOOGLE_ARCHIVE}"
ACCURACIES_FILE = "hans_berts_of_a_feather_accuracies_by_run.csv"
_SUMMARY_COLUMNS = {
    "MNLI dev acc.": "mnli_dev_acc",
    "Lexical (entailed)": "hans_lexical_entailed",
    "Subseq (entailed)": "hans_subsequence_entailed",
    "Constituent (entailed)": "hans_constituent_entailed",
    "Lexical (nonent)": "hans_lexical_nonentailed",
    "Subseq (nonent)": "hans_subsequence_nonentailed",
    "Constituent (nonent)": "hans_constituent_nonentailed",
    "Overall accuracy": "hans_overall_acc",
}


def read_accuracies(path: Path) -> pd.DataFrame:
    """Per-run accuracies (fractions) from the HANS csv; summary and blank rows are dropped."""
    table = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    if "Run" not in table.columns:
        raise ValueError(f"{path} has no 'Run' column; is it berts_of_a_feather_accuracies_by_run.csv?")
    runs = table["Run"].str.fullmatch(r"Run \d+", na=False)
    table = table[runs]
    out = pd.DataFrame({"run": table["Run"].str.removeprefix("Run ").astype(int)})
    for col in table.columns.drop("Run"):
        name = _SUMMARY_COLUMNS.get(col) or "hans_" + re.sub(r"[^0-9a-z]+", "_", col.lower()).strip("_")
        out[name] = table[col].astype(float)
    if sorted(out["run"]) != list(range(N_RUNS)):
        raise ValueError(f"{path}: expected rows 'Run 0'..'Run {N_RUNS - 1}', got {len(out)} runs")
    return out.reset_index(drop=True)


def manifest(accuracies_path: Path | None = None) -> pd.DataFrame:
    """The 100-run model sheet with published MNLI-dev and HANS accuracies."""
    path = accuracies_path or Path(str(files("sharpgen.settings") / "data" / ACCURACIES_FILE))
    acc = read_accuracies(path).sort_values("run", ignore_index=True)
    sheet = pd.DataFrame({
        "setting": SETTING,
        "model_id": [f"bert_{r:02d}" for r in acc["run"]],
        "arch": "bert-base-uncased",
        "source": "download",
        "url": [URL.format(run=r) for r in acc["run"]],
        "filename": [f"bert_{r:02d}.zip" for r in acc["run"]],
        "seed_index": acc["run"].astype(int),
    })
    return pd.concat([sheet, acc.drop(columns="run")], axis=1)


def _member(archive: Path, name: str) -> Path:
    """The file ``name`` of a zip archive, extracted (once) beside it."""
    import zipfile

    from sharpgen.atomic import atomic_path

    target = archive.with_suffix("") / name
    if not target.is_file():
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.namelist() if m.rsplit("/", 1)[-1] == name]
            if len(members) != 1:
                raise FileNotFoundError(f"{archive}: expected one {name}, found {len(members)}; delete it and rerun to download it again")
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                tmp.write_bytes(zf.read(members[0]))
    return target


@register
class Bert(Collection):
    name = SETTING
    description = "BERT-base fine-tuned on MNLI with 100 seeds (McCoy et al. 2020; runs 0-49 by default, as the paper's 50), tested on HANS."
    columns = (
        ("url", "string"), ("filename", "string"), ("seed_index", "int64"),
        *((c, "float64") for c in _SUMMARY_COLUMNS.values()),
        *((c, "float64") for c in (
            "hans_ln_subject_object_swap", "hans_ln_preposition", "hans_ln_relative_clause", "hans_ln_passive",
            "hans_ln_conjunction", "hans_le_relative_clause", "hans_le_around_prepositional_phrase",
            "hans_le_around_relative_clause", "hans_le_conjunction", "hans_le_passive", "hans_sn_np_s",
            "hans_sn_pp_on_subject", "hans_sn_relative_clause_on_subject", "hans_sn_past_participle", "hans_sn_np_z",
            "hans_se_conjunction", "hans_se_adjective", "hans_se_understood_object", "hans_se_relative_clause_on_obj",
            "hans_se_pp_on_obj", "hans_cn_embedded_under_if", "hans_cn_after_if_clause", "hans_cn_embedded_under_verb",
            "hans_cn_disjunction", "hans_cn_adverb", "hans_ce_embedded_under_since", "hans_ce_after_since_clause",
            "hans_ce_embedded_under_verb", "hans_ce_conjunction", "hans_ce_adverb",
        )),
    )
    published_values = "published_values.csv"
    published = {
        "mnli_dev_acc": "test",
        **{f"hans_{h}_{label}": f"{SHIFT_PREFIX}hans_{h}_{label}"
           for h in ("lexical", "subsequence", "constituent") for label in ("entailed", "nonentailed")},
    }
    # the paper's Figure 4 has 50 models: runs 0-49 (module docstring)
    defaults = {"models": 50, "figures": {"color": "test_error", "marker": None}}
    block_schema = {
        **Collection.block_schema,
        "train_n": {"description": "`metrics: evaluate`: MNLI training pairs (a label-stratified sample, seed 1) on which training loss and error are measured; 0 = none.", "type": "integer", "minimum": 0, "default": 10000},
    }
    data_keys = ("data_root", "train_n")

    def collection(self, block: Mapping[str, Any]) -> pd.DataFrame:
        return manifest()

    def downloads(self, block: Mapping[str, Any]) -> dict[str, str]:
        return {GOOGLE_ARCHIVE: mirrored(GOOGLE_URL, block.get("base_url"))}

    def subset_inputs(self, block: Mapping[str, Any], sheet: pd.DataFrame) -> dict[str, Ref]:
        # the first checkpoint's vocab.txt tokenises; Google's release when the archive lacks one
        return {"checkpoint": Ref("checkpoint", str(sheet["model_id"].iloc[0])), "google": Ref("download", GOOGLE_ARCHIVE)}

    dataset_inputs = subset_inputs

    def _tokenizer(self, inputs: Mapping[str, Path]):
        from sharpgen.data.sources.mnli import tokenizer
        from sharpgen.log import log
        from sharpgen.networks.bert import checkpoint_dir

        found = sorted(checkpoint_dir(Path(inputs["checkpoint"])).rglob("vocab.txt"))
        if len(found) == 1:
            return tokenizer(found[0])
        log(f"bert: {inputs['checkpoint']} has no single vocab.txt; using the one of {inputs['google']}")
        return tokenizer(_member(Path(inputs["google"]), "vocab.txt"))

    def _train_sample(self, block: Mapping[str, Any], n: int, seed: int, at_most: bool = False) -> pd.DataFrame:
        """A label-stratified sample of n MNLI training pairs (all of them when ``at_most`` and
        there are fewer); column ``row``: its row in train.tsv."""
        from sharpgen.data.sample import stratified
        from sharpgen.data.sources.mnli import read_mnli

        pairs = read_mnli(data_root(self.name, block, "train.tsv", MNLI_LAYOUT))
        n = min(n, len(pairs)) if at_most else n
        if len(pairs) < n:
            raise ValueError(f"bert: {n} training pairs asked for but MNLI train.tsv has only {len(pairs)}; lower it")
        rows = stratified(pairs["label"].to_numpy(), n, seed)
        return pairs.iloc[rows].assign(row=rows)

    def subset(self, block: Mapping[str, Any], n: int, seed: int, inputs: Mapping[str, Path]):
        """A label-stratified sample of n MNLI training pairs, encoded as run_classifier does."""
        from sharpgen.data.sources.mnli import encode

        sample = self._train_sample(block, n, seed)
        x, y = encode(sample, self._tokenizer(inputs), MAX_SEQ_LENGTH)
        table = pd.DataFrame({"position": range(n), "label": y.numpy(), "source": "train.tsv", "index": sample["row"].to_numpy()})
        return x, y, table

    def dataset(self, block: Mapping[str, Any], inputs: Mapping[str, Path]):
        """MNLI dev matched (test), the six HANS subsets (shifts) and a training sample."""
        from sharpgen.data.sources.mnli import HANS_HEURISTICS, encode, read_hans, read_mnli

        tok = self._tokenizer(inputs)
        dev = read_mnli(data_root(self.name, block, "dev_matched.tsv", MNLI_LAYOUT))
        hans = read_hans(data_root(self.name, block, HANS_FILE, HANS_LAYOUT))
        parts = {"test": dev.assign(row=range(len(dev)), source="dev_matched.tsv")}
        if block.get("train_n", 10000) and (Path(block["data_root"]) / "train.tsv").is_file():
            sample = self._train_sample(block, block.get("train_n", 10000), 1, at_most=True)
            parts = {"train": sample.assign(source="train.tsv"), **parts}
        hans = hans.assign(row=range(len(hans)), source=HANS_FILE)
        for heuristic, short in HANS_HEURISTICS.items():
            for label, name in ((0, "entailed"), (1, "nonentailed")):
                part = hans[(hans["heuristic"] == heuristic) & (hans["label"] == label)]
                if part.empty:
                    raise ValueError(f"{HANS_FILE}: no {name} examples of heuristic {heuristic!r}")
                parts[f"{SHIFT_PREFIX}hans_{short}_{name}"] = part
        splits = {split: encode(part, tok, MAX_SEQ_LENGTH) for split, part in parts.items()}
        index = pd.concat([pd.DataFrame({"split": split, "index": part["row"].to_numpy(), "source": part["source"].to_numpy(),
                                         "label": part["label"].to_numpy()}) for split, part in parts.items()], ignore_index=True)
        return splits, index

    def heads(self):
        from sharpgen.data.sources.mnli import HANS_HEURISTICS, hans_head

        return {f"{SHIFT_PREFIX}hans_{short}_{name}": hans_head() for short in HANS_HEURISTICS.values() for name in ("entailed", "nonentailed")}

    def load_model(self, path: Path, arch: str, device):
        from sharpgen.networks.bert import load_bert

        return load_bert(path, arch).to(device).eval()
