"""The CLI: argument grammar, and errors as one line naming the problem with exit code 2."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sharpgen.cli import input_arg, main, model_arg, parser


def test_model_arguments_carry_id_checkpoint_and_architecture() -> None:
    assert model_arg("m1=results/x@y.pt@vit_base?img_size=32&depth=1") == ("m1", Path("results/x@y.pt"), "vit_base?img_size=32&depth=1")
    for bad in ("m1", "m1=path", "=p@a", "m1=@a", "m1=p@"):
        with pytest.raises(argparse.ArgumentTypeError, match="ID=PATH@ARCH"):
            model_arg(bad)


def test_named_inputs() -> None:
    assert input_arg("archive=results/downloads/cifar/a.tar.gz") == ("archive", Path("results/downloads/cifar/a.tar.gz"))
    with pytest.raises(argparse.ArgumentTypeError, match="NAME=PATH"):
        input_arg("archive")


def test_every_rule_command_parses() -> None:
    p = parser()
    a = p.parse_args(["sharpness", "--setting", "digits", "--model", "m=c.pt@resnet", "--subset", "s.pt",
                      "--definitions", '[{"algorithm": "worst", "norm": "linf", "rho": 0.002}]', "--cache-dir", "c", "--out", "o.parquet"])
    assert a.definitions[0].id == "worst_linf_adaptive-lognorm_rho0.002_m128_it20" and a.threads == 1
    a = p.parse_args(["prepare-subset", "--setting", "bert", "--block", '{"data_root": "d"}', "--n", "8", "--seed", "3",
                      "--input", "checkpoint=c.zip", "--out", "s.pt", "--out-table", "s.parquet"])
    assert a.block == {"data_root": "d"} and a.input == [("checkpoint", Path("c.zip"))]
    assert a.seed == 3 and a.out_table == Path("s.parquet")
    with pytest.raises(SystemExit):
        p.parse_args(["prepare-subset", "--setting", "bert", "--block", "{not json", "--n", "8", "--seed", "0", "--out", "s.pt", "--out-table", "t"])


def test_errors_are_one_line_naming_the_problem(tmp_path: Path, capsys) -> None:
    code = main(["prepare-subset", "--setting", "soups", "--block", "{}", "--n", "4", "--seed", "0", "--out", str(tmp_path / "s.pt"),
                 "--out-table", str(tmp_path / "s.parquet")])
    assert code == 2
    err = capsys.readouterr().err
    assert "sharpgen prepare-subset: error: config soups.data_root is not set" in err
    assert not (tmp_path / "s.pt").exists()


def test_settings_command_lists_the_registry(capsys) -> None:
    assert main(["settings"]) == 0
    assert "digits: The embedded default" in capsys.readouterr().out


def test_only_argument_names_a_model_and_definition_positions() -> None:
    from sharpgen.cli import only_arg, parser

    assert only_arg("rn-a=0,2") == ("rn-a", [0, 2])
    args = parser().parse_args(["sharpness", "--setting", "cifar", "--model", "a=x.pt@m:f", "--subset", "s.pt", "--definitions", "[]",
                                "--cache-dir", "c", "--out", "o", "--only", "a=1"])
    assert args.only == [("a", [1])]
    with pytest.raises(SystemExit):
        parser().parse_args(["sharpness", "--setting", "cifar", "--model", "a=x.pt@m:f", "--subset", "s.pt", "--definitions", "[]",
                             "--cache-dir", "c", "--out", "o", "--only", "a=x"])
