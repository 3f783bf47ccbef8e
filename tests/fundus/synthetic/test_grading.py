"""The grading rules (``fundus.synthetic.grading``): ICDR grades, AMD stages, quadrants and drusen
classes on hand-placed lesions."""

from __future__ import annotations

from captum_iterative.fundus.synthetic import (
    INTERMEDIATE_DRUSEN_EXTENSIVE,
    SEVERE_HEMORRHAGES_PER_QUADRANT,
    Lesion,
    grade_dr,
    quadrant_counts,
    stage_amd,
)
from captum_iterative.fundus.synthetic.grading import drusen_kind, quadrant


def _lesion(
    type_: str, kind: str, x: float, y: float, radius: float = 2.0, um: float = 50.0
) -> Lesion:
    return Lesion(type_, kind, (x, y), radius, um)


def test_grade_dr_known_answers() -> None:
    fovea = (50.0, 50.0)
    corners = [(60, 40), (40, 40), (40, 60), (60, 60)]
    assert [quadrant(c, fovea) for c in corners] == [0, 1, 2, 3]
    assert grade_dr([], fovea) == 0
    assert grade_dr([_lesion("microaneurysms", "microaneurysm", 60, 40)], fovea) == 1
    assert grade_dr([_lesion("hard_exudates", "dot", 60, 40)], fovea) == 2
    severe = [
        _lesion("hemorrhages", "blot", x, y) for x, y in corners
    ] * SEVERE_HEMORRHAGES_PER_QUADRANT
    assert grade_dr(severe, fovea) == 3
    assert grade_dr(severe[1:], fovea) == 2  # one quadrant one short
    assert grade_dr([_lesion("hemorrhages", "preretinal", 60, 40)], fovea) == 4
    assert grade_dr([_lesion("neovascularization", "disc", 60, 40)], fovea) == 4
    assert grade_dr([_lesion("soft_exudates", "cotton_wool", 40, 60)], fovea) == 2
    counts = quadrant_counts(
        [
            *severe[1:],
            _lesion("hemorrhages", "preretinal", 60, 40),  # not intraretinal: not counted
            _lesion("microaneurysms", "microaneurysm", 40, 60),
            _lesion("hard_exudates", "ring", 60, 60),
        ],
        fovea,
    )
    n = SEVERE_HEMORRHAGES_PER_QUADRANT
    assert counts == {
        "microaneurysms": (0, 0, 1, 0),
        "hemorrhages": (n - 1, n, n, n),
        "hard_exudates": (0, 0, 0, 1),
        "soft_exudates": (0, 0, 0, 0),
    }


def test_stage_amd_known_answers() -> None:
    fovea = (50.0, 50.0)
    assert drusen_kind(62.9) == "small" and drusen_kind(63) == "intermediate"
    assert drusen_kind(124.9) == "intermediate" and drusen_kind(125) == "large"
    assert stage_amd([], fovea) == 0
    assert stage_amd([_lesion("drusen", "small", 55, 55, um=40)], fovea) == 1
    assert stage_amd([_lesion("pigment", "hyperpigmentation", 55, 55)], fovea) == 1
    few = [_lesion("drusen", "intermediate", 55, 55, um=90)] * (INTERMEDIATE_DRUSEN_EXTENSIVE - 1)
    assert stage_amd(few, fovea) == 1
    assert stage_amd([*few, few[0]], fovea) == 2
    assert stage_amd([_lesion("drusen", "large", 55, 55, um=150)], fovea) == 2
    assert stage_amd([_lesion("atrophy", "noncentral", 80, 50, radius=10)], fovea) == 2
    assert stage_amd([_lesion("atrophy", "central", 55, 50, radius=10)], fovea) == 3
    assert stage_amd([_lesion("neovascular", "choroidal", 55, 50)], fovea) == 3
