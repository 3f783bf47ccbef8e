r"""Training losses of the grading classifier: one scalar score per image against the grade.

Both losses train the paper's single regression output (a score monotonic in the grade, on the
grade's own scale), so ``th_pred``, kappa on the rounded score and every attribution method work
unchanged:

- ``"mse"``: the paper's mean squared error between the score and the grade.
- ``"all_threshold"``: the all-threshold logistic loss for ordinal labels (Rennie and Srebro,
  "Loss functions for preference levels: regression with discrete ordered labels", IJCAI 2005
  workshop), with fixed thresholds halfway between the grades, :math:`\theta_k = k + 1/2`:

  .. math::
      \ell(z, y) = \sum_{k=0}^{K-1} \log\left(1 + e^{-s_k (z - \theta_k)}\right),
      \qquad s_k = +1 \text{ if } y > k \text{ else } -1.

  Each boundary between neighbouring grades is a logistic decision of its own, so a
  microaneurysm-only image (grade 1) scored like a healthy one (grade 0) costs as much as any
  other crossed boundary, however close the two grades are on the regression scale; a score far
  on the correct side of every boundary costs almost nothing (MSE would still pull it back).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GRADE_LOSSES", "AllThresholdLoss", "get_grade_loss"]


class AllThresholdLoss(nn.Module):
    r"""All-threshold logistic loss on a scalar score with thresholds at ``k + 1/2``.

    Args:
        max_grade (int, optional): the highest grade ``K`` (4 for ICDR DR); thresholds are
            ``0.5, 1.5, ..., K - 0.5``. Default: 4

    Shape:
        - scores: ``(N,)`` float, the model's first output.
        - grades: ``(N,)`` float or int grades in ``[0, K]``.
        - output: scalar, the mean over images of the sum over thresholds.

    Examples::

        >>> loss = AllThresholdLoss(max_grade=4)
        >>> grades = torch.tensor([0.0, 2.0])
        >>> bool(loss(torch.tensor([-3.0, 2.0]), grades) < loss(torch.tensor([1.0, 1.0]), grades))
        True
    """

    def __init__(self, max_grade: int = 4) -> None:
        super().__init__()
        if not isinstance(max_grade, int) or max_grade < 1:
            raise ValueError(f"`max_grade` must be a positive int, got {max_grade!r}")
        self.register_buffer("thresholds", torch.arange(max_grade, dtype=torch.float32) + 0.5)

    def forward(self, scores: Tensor, grades: Tensor) -> Tensor:
        thresholds: Tensor = self.thresholds.to(scores.dtype)  # type: ignore[assignment]
        above = grades.to(scores.dtype)[:, None] > thresholds  # (N, K): y > k
        sign = above.to(scores.dtype) * 2 - 1
        return F.softplus(-sign * (scores[:, None] - thresholds)).sum(dim=1).mean()


#: Losses by name: ``name -> factory(max_grade) -> (scores, grades) -> scalar``.
GRADE_LOSSES: dict[str, Callable[[int], nn.Module]] = {
    "mse": lambda max_grade: nn.MSELoss(),
    "all_threshold": AllThresholdLoss,
}


def get_grade_loss(name: str, max_grade: int = 4) -> nn.Module:
    """The loss ``name`` of :data:`GRADE_LOSSES` for grades ``0..max_grade``.

    Args:
        name (str): ``"mse"`` or ``"all_threshold"``.
        max_grade (int, optional): the highest grade. Default: 4

    Returns:
        nn.Module: ``(scores (N,), grades (N,)) -> scalar`` loss.

    Raises:
        ValueError: an unknown ``name``.
    """
    if name not in GRADE_LOSSES:
        raise ValueError(f"`loss` must be one of {sorted(GRADE_LOSSES)}, got {name!r}")
    return GRADE_LOSSES[name](max_grade)
