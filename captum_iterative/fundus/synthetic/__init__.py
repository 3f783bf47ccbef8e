"""Procedural synthetic fundus photographs with lesion masks and grades (the embedded data).

:func:`generate_fundus` draws one image deterministically from a seed;
:class:`SyntheticFundusDataset` serves many as :class:`~captum_iterative.fundus.types.FundusSample`
records. The modules split the work: ``anatomy`` (geometry, background, disc, macula),
``vessels`` (the vessel tree), ``shapes`` and ``colours`` (lesion appearance), ``canvas``
(painting lesions with consistent masks), ``dr`` and ``amd`` (lesions per grade), ``grading``
(the grading rules), ``generator`` and ``dataset``.
"""

from captum_iterative.fundus.synthetic.dataset import SyntheticFundusDataset
from captum_iterative.fundus.synthetic.generator import GRADE_WEIGHTS, MAX_GRADE, generate_fundus
from captum_iterative.fundus.synthetic.grading import (
    INTERMEDIATE_DRUSEN_EXTENSIVE,
    SEVERE_HEMORRHAGES_PER_QUADRANT,
    grade_dr,
    quadrant_counts,
    stage_amd,
)
from captum_iterative.fundus.synthetic.records import Lesion, SyntheticFundus

__all__ = [
    "GRADE_WEIGHTS",
    "INTERMEDIATE_DRUSEN_EXTENSIVE",
    "MAX_GRADE",
    "SEVERE_HEMORRHAGES_PER_QUADRANT",
    "Lesion",
    "SyntheticFundus",
    "SyntheticFundusDataset",
    "generate_fundus",
    "grade_dr",
    "quadrant_counts",
    "stage_amd",
]
