"""The package's layout: one idea per module, a short root, subpackages re-exporting modules.

The root ``captum_iterative`` exports the list written out here (``ROOT``), each name taken from
the module or subpackage that defines it; every subpackage ``__init__`` re-exports exactly the
``__all__`` of the public modules listed here (private ``_modules`` are not part of it).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "captum_iterative"

#: What the root exports: the loop and its result, the inpainters, binarizers and channel
#: reductions by name, and the FROC with the operating point. Everything else is imported from its
#: subpackage or module.
ROOT: dict[str, set[str]] = {
    "augmentation": {"IterativeAugmentation"},
    "result": {"AugmentationResult", "AugmentationWarning", "StopReason"},
    "inpaint": {
        "Inpainter",
        "NavierStokesInpainter",
        "TeleaInpainter",
        "PyramidInpainter",
        "get_inpainter",
        "register_inpainter",
        "list_inpainters",
    },
    "binarize": {
        "get_binarizer",
        "register_binarizer",
        "list_binarizers",
        "binarize_otsu",
        "otsu_threshold",
    },
    "reduce": {
        "get_channel_reduction",
        "register_channel_reduction",
        "list_channel_reductions",
        "reduce_attribution",
    },
    "evaluation": {"froc", "FrocResult", "roc_closest_to_corner"},
}

#: The most names at the root: a short list a newcomer reads at once.
MAX_ROOT_NAMES = 30

#: package -> its public modules and subpackages whose ``__all__`` it re-exports.
REEXPORTS: dict[str, tuple[str, ...]] = {
    "captum_iterative.inpaint": ("base", "opencv", "pyramid", "registry"),
    "captum_iterative.evaluation": ("froc", "froc_result", "lesion_labels", "metrics"),
    "captum_iterative.experiments": (
        "methods",
        "config",
        "prepare",
        "cache",
        "maps",
        "tables",
        "report",
        "runner",
    ),
    "captum_iterative.fundus": (
        "types",
        "models",
        "activations",
        "pretrained",
        "checkpoint",
        "init_weights",
        "classifier_eval",
        "train",
        "datasets",
        "preprocess",
        "synthetic",
    ),
    "captum_iterative.fundus.datasets": (
        "base",
        "diaretdb1",
        "idrid",
        "eyepacs",
        "aptos",
        "dr600",
        "eophtha",
        "folder",
        "split",
    ),
    "captum_iterative.fundus.preprocess": ("fov", "resize", "graham", "host", "batch", "transform"),
    "captum_iterative.fundus.synthetic": ("dataset", "generator", "grading", "records"),
    "captum_iterative.integrations": ("gradcam", "quantus"),
}

#: Names defined in a package ``__init__`` itself, or re-exported from a private module.
OWN: dict[str, set[str]] = {
    "captum_iterative.fundus.preprocess": set(),
}

#: The most lines of a module ("about 450": one idea per module).
MAX_LINES = 475


def test_the_root_exports_its_short_list() -> None:
    root = importlib.import_module("captum_iterative")
    expected = set().union(*ROOT.values())
    assert set(root.__all__) == expected, (
        f"missing {sorted(expected - set(root.__all__))}, "
        f"extra {sorted(set(root.__all__) - expected)}"
    )
    assert len(root.__all__) == len(set(root.__all__)) <= MAX_ROOT_NAMES


@pytest.mark.parametrize("source", sorted(ROOT))
def test_each_root_name_is_the_public_one_of_its_source(source: str) -> None:
    root = importlib.import_module("captum_iterative")
    module = importlib.import_module(f"captum_iterative.{source}")
    assert ROOT[source] <= set(module.__all__)
    assert all(getattr(root, name) is getattr(module, name) for name in ROOT[source])


@pytest.mark.parametrize("package", sorted(REEXPORTS))
def test_each_package_reexports_exactly_its_modules(package: str) -> None:
    root = importlib.import_module(package)
    expected: set[str] = set(OWN.get(package, set()))
    for name in REEXPORTS[package]:
        module = importlib.import_module(f"{package}.{name}")
        names = set(module.__all__)
        assert not names & expected, f"{package}.{name} repeats {names & expected}"
        expected |= names
    assert set(root.__all__) == expected, (
        f"missing {sorted(expected - set(root.__all__))}, "
        f"extra {sorted(set(root.__all__) - expected)}"
    )
    assert all(hasattr(root, name) for name in root.__all__)


#: What the CLI root exports besides its subcommands: its entry point, the names of its files and
#: environment, and the argument helpers that the examples and scripts share with it.
CLI_OWN = {
    "main",
    "build_parser",
    "PROG",
    "MANIFEST",
    "OUTPUT_MARKER",
    "TORCHRUN_ENV",
    "ArgumentParser",
    "UsageError",
    "alpha_value",
    "usage_error",
}


def test_the_cli_root_exports_its_subcommands_and_main() -> None:
    cli = importlib.import_module("captum_iterative.cli")
    expected = set(CLI_OWN)
    for name in ("explain", "evaluate", "bench"):
        expected |= set(importlib.import_module(f"captum_iterative.cli.{name}").__all__)
    assert set(cli.__all__) == expected
    assert all(hasattr(cli, name) for name in cli.__all__)


def test_no_module_holds_more_than_one_idea_s_worth_of_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}


def test_ci_script_names_test_paths_that_exist() -> None:
    # .ci/run reruns some test files under other thread settings; after a move of the tests it
    # must not point at files that are gone (pytest would then fail CI on "file not found").
    root = PACKAGE.parent
    script = (root / ".ci" / "run").read_text()
    paths = {word for word in script.split() if word.startswith("tests/")}
    assert paths, "the CI script no longer reruns any tests"
    assert [p for p in sorted(paths) if not (root / p).exists()] == []
