"""What every entry point shares (``_argparse``): one-line errors and option types."""

from __future__ import annotations

import argparse

import pytest

from captum_iterative._argparse import (
    ArgumentParser,
    UsageError,
    alpha_value,
    key_value,
    positive_int,
    usage_error,
)


def test_parsing_errors_are_one_line_with_exit_status_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = ArgumentParser(prog="tool sub", error_prog="tool")
    parser.add_argument("--n", type=positive_int)
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--n", "0"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "tool: error: argument --n: expected a positive integer, got '0' (see 'tool sub --help')\n"
    )


def test_usage_errors_print_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert usage_error("tool", UsageError("first line\n  second line")) == 2
    assert capsys.readouterr().err == "tool: error: first line second line\n"


def test_key_value() -> None:
    assert key_value("split=test") == ("split", "test")
    assert key_value("reference=0.5") == ("reference", 0.5)
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        key_value("=3")


def test_alpha_value_refuses_weights_that_underflow() -> None:
    assert alpha_value("0.6") == 0.6 and alpha_value("87") == 87.0
    for text, reason in [("0", "positive"), ("x", "number"), ("88", "at most 87.3")]:
        with pytest.raises(argparse.ArgumentTypeError, match=reason):
            alpha_value(text)
