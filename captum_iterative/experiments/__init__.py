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

__all__ = [
    "METHODS",
    "TABLE_I",
    "Explanation",
    "MethodSpec",
    "build_explainer",
    "build_method",
    "explanation_path",
    "load_explanation",
    "save_explanation",
]
