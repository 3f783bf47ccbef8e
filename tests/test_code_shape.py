"""The shape of the package's functions: short bodies and short parameter lists.

A body is counted from its first statement after the docstring to its last line; parameters are
counted over every kind (positional-only, positional, keyword-only), without ``self`` / ``cls``
and without ``*args`` / ``**kwargs``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "captum_iterative"

#: The most lines of a function body (docstring excluded).
MAX_BODY_LINES = 80

#: The most parameters of a function.
MAX_PARAMETERS = 12

#: Functions allowed more parameters: the wrapper's constructor mirrors the method's settings.
PARAMETER_EXCEPTIONS = {"captum_iterative.augmentation.IterativeAugmentation.__init__"}

Function = ast.FunctionDef | ast.AsyncFunctionDef


def _functions(
    node: ast.AST, prefix: str, in_class: bool = False
) -> Iterator[tuple[str, Function, bool]]:
    """Yield ``(qualified name, node, is a method)`` for every function nested in ``node``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}.{child.name}"
            yield name, child, in_class
            yield from _functions(child, f"{name}.<locals>")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}.{child.name}", in_class=True)
        else:
            yield from _functions(child, prefix, in_class)


def _body_lines(function: Function) -> int:
    body = function.body
    first = body[0]
    is_docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    if is_docstring:
        body = body[1:]
    if not body:
        return 0
    start = min([body[0].lineno, *(d.lineno for d in getattr(body[0], "decorator_list", []))])
    end = function.end_lineno
    assert end is not None
    return end - start + 1


def _parameters(function: Function, is_method: bool) -> int:
    arguments = function.args
    names = [a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)]
    if is_method and names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names)


def _module_functions() -> Iterator[tuple[str, Function, bool]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield from _functions(ast.parse(path.read_text(), str(path)), module)


def test_the_scan_finds_the_package_s_functions() -> None:
    names = {name for name, _, _ in _module_functions()}
    assert "captum_iterative.augmentation.IterativeAugmentation.__init__" in names
    assert "captum_iterative.augmentation.IterativeAugmentation.attribute" in names


def test_no_function_body_is_longer_than_the_limit() -> None:
    long = {
        name: lines
        for name, function, _ in _module_functions()
        if (lines := _body_lines(function)) > MAX_BODY_LINES
    }
    assert long == {}, f"bodies over {MAX_BODY_LINES} lines: {long}"


def test_no_function_takes_more_parameters_than_the_limit() -> None:
    wide = {
        name: count
        for name, function, is_method in _module_functions()
        if (count := _parameters(function, is_method)) > MAX_PARAMETERS
        and name not in PARAMETER_EXCEPTIONS
    }
    assert wide == {}, f"parameter lists over {MAX_PARAMETERS}: {wide}"


def test_the_counts_follow_their_definitions() -> None:
    source = '''
class A:
    def method(self, a, /, b, *args, c, **kwargs):
        """Doc.

        More doc.
        """
        x = 1
        return x
'''
    [(name, function, is_method)] = list(_functions(ast.parse(source), "m"))
    assert name == "m.A.method" and is_method
    assert _parameters(function, is_method) == 3
    assert _body_lines(function) == 2
