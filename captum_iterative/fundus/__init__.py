"""Fundus pipeline: preprocessing, synthetic data, dataset loaders, classifiers and training."""

from captum_iterative.fundus.types import AMD_LESIONS, DR_LESIONS, FundusSample

__all__ = ["AMD_LESIONS", "DR_LESIONS", "FundusSample"]
