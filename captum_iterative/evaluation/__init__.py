"""Evaluation: FROC for lesion localization and classification metrics."""
