"""captum-iterative: iterative augmentation of visual evidence for Captum attributions."""

__version__ = "0.1.0"
