"""What every entry point of the project shares: one error style and option types.

The command line (``captum-iterative``), the training entry point
(``python -m captum_iterative.fundus.train``), the examples and the scripts all report a usage
error the same way: one line ``PROG: error: MESSAGE`` on stderr and exit status 2.
:class:`ArgumentParser` does it for parsing errors, :func:`usage_error` for the errors found
after parsing (raised as :class:`UsageError`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, NoReturn

from captum_iterative._checks import check_alpha

__all__ = [
    "ArgumentParser",
    "UsageError",
    "alpha_value",
    "finite_float",
    "key_value",
    "one_line",
    "positive_float",
    "positive_int",
    "usage_error",
]


class UsageError(Exception):
    """A problem with the user's input; the entry point prints it as one line and exits with 2."""


def one_line(message: object) -> str:
    """``message`` with every run of white space (newlines included) folded to one space."""
    return " ".join(str(message).split())


def usage_error(prog: str, error: object) -> int:
    """Print ``PROG: error: MESSAGE`` (one line) on stderr and return the exit status 2."""
    print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
    return 2


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line: ``PROG: error: ... (see --help)``.

    Args:
        *args: as :class:`argparse.ArgumentParser`.
        error_prog (str, optional): the program name of the error line. Default: None
            (``prog``); subcommand parsers pass their program's name, so that their errors read
            ``captum-iterative: error: ...`` like the others.
        **kwargs: as :class:`argparse.ArgumentParser`.
    """

    def __init__(self, *args: Any, error_prog: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error_prog = error_prog or self.prog

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.error_prog}: error: {one_line(message)} (see '{self.prog} --help')\n")


def positive_int(text: str) -> int:
    """An option value that must be a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """An option value that must be a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An option value that must be a finite positive number."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def alpha_value(text: str) -> float:
    """An ``--alpha`` value: a positive number whose map weights ``exp(-alpha t)`` do not
    underflow float32 (:func:`~captum_iterative._checks.check_alpha`)."""
    try:
        return check_alpha(positive_float(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def key_value(text: str) -> tuple[str, Any]:
    """A ``KEY=VALUE`` option value; ``VALUE`` is read as JSON when it parses, else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value
