"""The package's layout: one idea per module, each package root re-exporting its modules.

Each package ``__init__`` re-exports exactly the ``__all__`` of the public modules listed here
(private ``_modules`` are not part of it), and the names that lived elsewhere before the modules
were split still import from their old paths.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "captum_iterative"

#: package -> its public modules and subpackages whose ``__all__`` it re-exports.
REEXPORTS: dict[str, tuple[str, ...]] = {
    "captum_iterative": (
        "augmentation",
        "result",
        "binarize",
        "reduce",
        "outputs",
        "explainers",
        "inpaint",
        "evaluation",
    ),
    "captum_iterative.inpaint": ("base", "opencv", "pyramid", "registry"),
    "captum_iterative.evaluation": ("froc", "froc_result", "lesion_labels", "metrics"),
    "captum_iterative.experiments": (
        "methods",
        "config",
        "prepare",
        "cache",
        "explain",
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
    "captum_iterative": set(),
    "captum_iterative.fundus.preprocess": set(),
}

#: Old import paths (module, name) that must keep working.
OLD_PATHS: list[tuple[str, str]] = [
    ("captum_iterative.augmentation", "AugmentationResult"),
    ("captum_iterative.augmentation", "STOP_REASONS"),
    ("captum_iterative.augmentation", "ScoreFn"),
    ("captum_iterative.cli", "main"),
    ("captum_iterative.cli", "build_parser"),
    ("captum_iterative.cli", "MANIFEST"),
    ("captum_iterative.cli", "TORCHRUN_ENV"),
    ("captum_iterative.cli", "PROG"),
    ("captum_iterative.evaluation.froc", "froc"),
    ("captum_iterative.evaluation.froc", "FrocResult"),
    ("captum_iterative.evaluation.froc", "Detection"),
    ("captum_iterative.evaluation.froc", "CamelyonFroc"),
    ("captum_iterative.evaluation.froc", "resize_lesion_labels"),
    ("captum_iterative.evaluation.froc", "resize_masks_checked"),
    ("captum_iterative.evaluation.froc", "scale_radius"),
    ("captum_iterative.experiments.runner", "INPAINTERS"),
    ("captum_iterative.experiments.runner", "ExperimentConfig"),
    ("captum_iterative.experiments.runner", "LocalizationReport"),
    ("captum_iterative.experiments.runner", "PreparedImage"),
    ("captum_iterative.experiments.runner", "config_explainer"),
    ("captum_iterative.experiments.runner", "explain_images"),
    ("captum_iterative.experiments.runner", "format_tables"),
    ("captum_iterative.experiments.runner", "input_key"),
    ("captum_iterative.experiments.runner", "make_inpainter"),
    ("captum_iterative.experiments.runner", "model_fingerprint"),
    ("captum_iterative.experiments.runner", "model_key"),
    ("captum_iterative.experiments.runner", "prepare_images"),
    ("captum_iterative.experiments.runner", "run_localization"),
    ("captum_iterative.experiments.runner", "score_explanations"),
    ("captum_iterative.experiments.runner", "write_report"),
    ("captum_iterative.fundus.datasets", "DR600"),
    ("captum_iterative.fundus.datasets", "DIARETDB1_LESIONS"),
    ("captum_iterative.fundus.models", "replace_activations"),
    ("captum_iterative.fundus.preprocess", "FOV_THRESHOLDS"),
    ("captum_iterative.fundus.train", "CHECKPOINT_FORMAT"),
    ("captum_iterative.fundus.train", "ClassifierInfo"),
    ("captum_iterative.fundus.train", "DEFAULT_CHECKPOINT"),
    ("captum_iterative.fundus.train", "SHIPPED_CHECKPOINTS"),
    ("captum_iterative.fundus.train", "evaluate_classifier"),
    ("captum_iterative.fundus.train", "load_classifier"),
    ("captum_iterative.fundus.train", "load_default_classifier"),
    ("captum_iterative.fundus.train", "load_shipped_classifier"),
    ("captum_iterative.fundus.train", "main"),
    ("captum_iterative.fundus.train", "predict"),
    ("captum_iterative.fundus.train", "referable_metrics"),
    ("captum_iterative.fundus.train", "train_classifier"),
]

#: The most lines of a module ("about 450": one idea per module).
MAX_LINES = 475


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


def test_the_cli_root_exports_its_subcommands_and_main() -> None:
    cli = importlib.import_module("captum_iterative.cli")
    for name in ("explain", "evaluate", "bench"):
        module = importlib.import_module(f"captum_iterative.cli.{name}")
        assert set(module.__all__) <= set(cli.__all__)
    assert {"main", "build_parser", "MANIFEST", "TORCHRUN_ENV"} <= set(cli.__all__)


@pytest.mark.parametrize(("module", "name"), OLD_PATHS)
def test_old_import_paths_keep_working(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None


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
