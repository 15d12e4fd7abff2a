"""BERT (McCoy et al.): sheet from the HANS csv, TF1 checkpoint reader, zip over HTTP -> BertClassifier."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from helpers.tfcheckpoint import write_checkpoint
from sharpgen.download import download
from helpers.bert import tf_variables
from sharpgen import settings
from sharpgen.networks.bert import LABELS
from sharpgen.settings.bert import read_accuracies
from sharpgen.networks.tfbundle import read_checkpoint

CONFIG = {"vocab_size": 40, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
          "intermediate_size": 16, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
          "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 16, "type_vocab_size": 2,
          "initializer_range": 0.02}


def test_manifest_has_100_runs_with_fractions():
    sheet = settings.get("bert").sheet({})
    assert list(sheet["model_id"]) == [f"bert_{i:02d}" for i in range(100)]
    assert sheet.loc[7, "url"] == "https://zenodo.org/record/4110593/files/bert_07.zip"
    assert abs(sheet.loc[0, "mnli_dev_acc"] - 0.8456444) < 1e-9
    assert abs(sheet.loc[0, "hans_lexical_entailed"] - 0.9614) < 1e-9
    cols = [c for c in sheet if c.startswith(("hans_", "mnli_"))]
    assert len(cols) == 38 and sheet[cols].apply(lambda s: s.between(0, 1).all()).all()
    assert "hans_ln_subject_object_swap" in sheet


def test_the_default_is_runs_0_to_49_as_the_papers_50_models():
    from pathlib import Path

    from sharpgen.config import load_common, validate_block

    common = load_common(Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "setting.schema.yaml")
    block = validate_block("bert", {}, common)
    assert block["models"] == 50 and block["subsets"]["k"] == 0
    assert list(settings.get("bert").sheet(block)["model_id"]) == [f"bert_{i:02d}" for i in range(50)]
    assert len(settings.get("bert").sheet(validate_block("bert", {"models": 100}, common))) == 100


def test_accuracy_csv_parsing_is_robust(tmp_path):
    path = tmp_path / "acc.csv"
    lines = ["Run,MNLI dev acc.,Lexical (entailed)"] + [f"Run {i},0.8,0.9" for i in range(100)]
    lines += ["Minimum,0.1,0.1", "Mean,0.5,0.5", ",,", ",,"]
    path.write_bytes("\ufeff".encode() + "\r\n".join(lines).encode())
    acc = read_accuracies(path)
    assert len(acc) == 100 and list(acc.columns) == ["run", "mnli_dev_acc", "hans_lexical_entailed"]
    path.write_text("Run,x\nRun 0,1\n")
    with pytest.raises(ValueError, match="acc.csv"):
        read_accuracies(path)


def _tf_variables(model: BertForSequenceClassification) -> dict[str, np.ndarray]:
    """The reference model's variables as run_classifier saves them: with Adam's slots."""
    tf = tf_variables(model)
    return tf | {name + "/adam_m": np.zeros_like(value) for name, value in tf.items() if name.startswith("bert/")}


def test_tf_checkpoint_reader_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {f"scope/var_{i:03d}": rng.standard_normal((i % 4 + 1, 3)).astype(np.float32) for i in range(60)}
    tensors |= {"ints": np.arange(6, dtype=np.int32).reshape(2, 3), "step": np.array(7, dtype=np.int64)}
    write_checkpoint(tmp_path / "model.ckpt-7", tensors)
    back = read_checkpoint(tmp_path / "model.ckpt-7")
    assert back.keys() == tensors.keys()
    for name, value in tensors.items():
        assert back[name].dtype == value.dtype and np.array_equal(back[name], value)
    index = tmp_path / "model.ckpt-7.index"
    data = bytearray(index.read_bytes())
    data[10] ^= 0xFF
    index.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum mismatch"):
        read_checkpoint(tmp_path / "model.ckpt-7")


def test_zip_checkpoint_over_http_gives_same_logits(http_server, tmp_path):
    torch.manual_seed(0)
    tanh_gelu = {**CONFIG, "hidden_act": "gelu_new"}  # google-research/bert's gelu
    reference = BertForSequenceClassification(BertConfig(**tanh_gelu, num_labels=3)).eval()
    ckpt = tmp_path / "src"
    ckpt.mkdir()
    write_checkpoint(ckpt / "model.ckpt-1234", _tf_variables(reference))
    (ckpt / "bert_config.json").write_text(json.dumps(CONFIG))
    (ckpt / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
    with zipfile.ZipFile(http_server.root / "bert_00.zip", "w") as zf:
        for f in ckpt.iterdir():
            zf.write(f, f"bert_00/{f.name}")
    path = download(http_server.url("bert_00.zip"), tmp_path / "models" / "bert_00.zip")
    model = settings.get("bert").load_model(path, "bert-base-uncased", torch.device("cpu"))
    assert not model.training and model.bert.config.id2label == dict(enumerate(LABELS))
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 40, (4, 10), generator=gen)
    mask = torch.ones_like(ids)
    mask[:, 7:] = 0
    types = torch.zeros_like(ids)
    types[:, 5:] = 1
    with torch.no_grad():
        logits = model(torch.stack([ids, mask, types], 1))
        expected = reference(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
    assert logits.shape == (4, 3)
    torch.testing.assert_close(logits, expected)
    with pytest.raises(ValueError, match=r"\(B, 3, L\)"):
        model(ids)


def test_archive_without_config_and_vocab_falls_back_to_google_bert_base(http_server, tmp_path):
    """McCoy's archives may hold only the checkpoint: bert_config.json = BERT-base uncased's (with
    the arch string's overrides), vocab.txt from Google's release (a download of the setting)."""
    from helpers.bert import ARCH, VOCAB, reference_model, write_archive, write_google_archive
    from sharpgen.settings.bert import GOOGLE_ARCHIVE, GOOGLE_URL

    block = {"base_url": http_server.base + "/mirror"}
    assert settings.get("bert").downloads({}) == {GOOGLE_ARCHIVE: GOOGLE_URL}
    assert settings.get("bert").downloads(block) == {GOOGLE_ARCHIVE: f"{http_server.base}/mirror/{GOOGLE_ARCHIVE}"}
    (http_server.root / "mirror").mkdir()
    write_archive(http_server.root / "mirror" / "bert_00.zip", seed=0, with_meta=False)
    write_google_archive(http_server.root / "mirror" / GOOGLE_ARCHIVE)
    checkpoint = download(f"{http_server.base}/mirror/bert_00.zip", tmp_path / "dl" / "bert_00.zip")
    google = download(settings.get("bert").downloads(block)[GOOGLE_ARCHIVE], tmp_path / "dl" / GOOGLE_ARCHIVE)
    with zipfile.ZipFile(checkpoint) as zf:
        assert not any(n.endswith(("vocab.txt", "bert_config.json")) for n in zf.namelist())
    model = settings.get("bert").load_model(checkpoint, ARCH, torch.device("cpu"))
    ids = torch.randint(0, len(VOCAB), (2, 9), generator=torch.Generator().manual_seed(0))
    x = torch.stack([ids, torch.ones_like(ids), torch.zeros_like(ids)], 1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference_model(0)(input_ids=ids, attention_mask=x[:, 1], token_type_ids=x[:, 2]).logits)
    mnli = tmp_path / "data"
    mnli.mkdir()
    rows = [f"{i}\tp{i}\tthe dog runs .\ta man is sleeping .\t{label}\t{label}" for i, label in
            enumerate(["entailment", "neutral", "contradiction"] * 4)]
    (mnli / "train.tsv").write_text("index\tpairID\tsentence1\tsentence2\tlabel1\tgold_label\n" + "\n".join(rows) + "\n")
    x, y, table = settings.get("bert").subset({"data_root": str(mnli)}, 6, 0, {"checkpoint": checkpoint, "google": google})
    assert np.bincount(y.numpy()).tolist() == [2, 2, 2] and table["source"].eq("train.tsv").all()
    assert x[0, 0, :6].tolist() == [VOCAB.index(t) for t in ["[CLS]", "the", "dog", "runs", ".", "[SEP]"]]
