"""Retinal experiments: the Table I methods and the localization runner.

Modules: ``methods`` (the Table I attribution methods, a registry), ``config`` (the settings of
a run), ``prepare`` (images in the classifier's frame, lesions labelled at native resolution),
``cache`` (the per-image map files and the keys that say whether one can be reused),
``maps`` (the maps of a method over a dataset: one loop per method, one batch at a time; the
command line uses it too), ``tables`` (FROC tables), ``report`` (the files a run writes) and
``runner`` (:func:`run_localization`, the whole experiment).
"""

from captum_iterative.experiments.cache import (
    Explanation,
    explanation_path,
    input_key,
    is_fresh,
    load_explanation,
    load_meta,
    map_keys,
    model_fingerprint,
    model_key,
    save_explanation,
)
from captum_iterative.experiments.config import (
    ExperimentConfig,
)
from captum_iterative.experiments.maps import (
    config_explainer,
    explain_batch,
    make_inpainter,
)
from captum_iterative.experiments.methods import (
    TABLE_I,
    MethodSpec,
    build_explainer,
    build_method,
    get_method,
    list_methods,
    register_method,
)
from captum_iterative.experiments.prepare import (
    PreparedImage,
    predict_scores,
    prepare_images,
)
from captum_iterative.experiments.report import (
    LocalizationReport,
    write_report,
)
from captum_iterative.experiments.runner import (
    explain_images,
    run_localization,
)
from captum_iterative.experiments.tables import (
    KINDS,
    format_tables,
    gain_summary,
    score_explanations,
)

__all__ = [
    "KINDS",
    "TABLE_I",
    "ExperimentConfig",
    "Explanation",
    "LocalizationReport",
    "MethodSpec",
    "PreparedImage",
    "build_explainer",
    "build_method",
    "config_explainer",
    "explain_batch",
    "explain_images",
    "explanation_path",
    "format_tables",
    "gain_summary",
    "get_method",
    "input_key",
    "is_fresh",
    "list_methods",
    "load_explanation",
    "load_meta",
    "make_inpainter",
    "map_keys",
    "model_fingerprint",
    "model_key",
    "predict_scores",
    "prepare_images",
    "register_method",
    "run_localization",
    "save_explanation",
    "score_explanations",
    "write_report",
]
