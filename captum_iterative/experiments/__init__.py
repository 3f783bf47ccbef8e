"""Retinal experiments: the Table I methods and the localization runner."""

from captum_iterative.experiments.cache import (
    Explanation,
    explanation_path,
    load_explanation,
    save_explanation,
)
from captum_iterative.experiments.methods import (
    METHODS,
    TABLE_I,
    MethodSpec,
    build_explainer,
    build_method,
)
from captum_iterative.experiments.runner import (
    ExperimentConfig,
    LocalizationReport,
    format_tables,
    prepare_images,
    run_localization,
    score_explanations,
)

__all__ = [
    "METHODS",
    "TABLE_I",
    "ExperimentConfig",
    "Explanation",
    "LocalizationReport",
    "MethodSpec",
    "build_explainer",
    "build_method",
    "explanation_path",
    "format_tables",
    "load_explanation",
    "prepare_images",
    "run_localization",
    "save_explanation",
    "score_explanations",
]
