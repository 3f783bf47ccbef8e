"""Activation modules of a classifier, for Captum's guided methods.

Captum's ``GuidedBackprop`` and ``Deconvolution`` override the gradient of ``nn.ReLU`` modules
only (and read activations through hooks): :func:`replace_activations` gives a network
``nn.ReLU`` modules, :func:`no_inplace_relu` keeps hooks from seeing overwritten activations.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

__all__ = ["no_inplace_relu", "replace_activations"]


def no_inplace_relu(model: nn.Module) -> None:
    """Make every ``nn.ReLU`` of ``model`` non-inplace (hooks then see unchanged activations)."""
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False


def replace_activations(
    model: nn.Module,
    old: type[nn.Module],
    new: Callable[[], nn.Module] = nn.ReLU,
) -> int:
    r"""Replace, in place, every submodule of type ``old`` by a fresh ``new()``.

    Typical use: give a network ``nn.ReLU`` activations, which Captum's ``GuidedBackprop`` and
    ``Deconvolution`` hook (they leave ``nn.ReLU6``, ``nn.SiLU`` etc. alone). Replacing a
    bounded ``nn.ReLU6`` by ``nn.ReLU`` changes what a pretrained network computes: fine-tune
    it afterwards. The new ``nn.ReLU`` modules are non-inplace, like all of
    :func:`~captum_iterative.fundus.models.create_classifier`'s.
    A model rebuilt from ``create_kwargs`` (e.g. by ``load_classifier``) does not repeat the
    swap; for timm builders that accept it, ``create_classifier(name, act_layer="relu")`` is the
    recorded way.

    Args:
        model (nn.Module): the network (changed in place).
        old (type): the activation class to replace, e.g. ``nn.ReLU6`` (subclasses included).
        new (callable, optional): zero-argument factory of a replacement module.
            Default: ``nn.ReLU``.

    Returns:
        int: the number of modules replaced.

    Raises:
        ValueError: ``model`` itself is an ``old``.

    Examples::

        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU6(), nn.Sequential(nn.ReLU6()))
        >>> replace_activations(net, nn.ReLU6)
        2
        >>> net
        Sequential(
          (0): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1))
          (1): ReLU()
          (2): Sequential(
            (0): ReLU()
          )
        )
    """
    if isinstance(model, old):
        raise ValueError(f"`model` itself is a {old.__name__}; replace it in its parent")
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, old):
                setattr(parent, name, new())
                count += 1
    no_inplace_relu(model)
    return count
