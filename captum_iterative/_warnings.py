"""Warnings shown once: the loop calls Captum many times, and Captum warns on every call."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


@contextmanager
def deduplicated_warnings() -> Iterator[None]:
    """Show each distinct warning raised inside the block once, at the end of the block.

    The loop calls the inner attribution up to ``max_iter`` times, and Captum warns on every call
    (e.g. GuidedBackprop's "Setting backward hooks on ReLU activations").
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: set[tuple[type, str]] = set()
    for w in caught:
        key = (w.category, str(w.message))
        if key in seen:
            continue
        seen.add(key)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


@contextmanager
def each_warning_once(seen: set[tuple[type[Warning], str]] | None = None) -> Iterator[None]:
    """Show each distinct warning (category and text) at most once while the block runs.

    Unlike :func:`deduplicated_warnings`, warnings are shown as they happen; later repeats, from
    any line (also those :func:`deduplicated_warnings` replays after each call of the loop), are
    dropped. The warning filters decide as usual whether the first one is shown.

    Args:
        seen (set, optional): the ``(category, text)`` pairs already shown, updated in place;
            one set kept across blocks shows each warning once over all of them (e.g. once per
            process). Default: None, a new set (once per block).
    """
    shown_keys = set() if seen is None else seen
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show_once(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            key = (category, str(message))
            if key not in shown_keys:
                shown_keys.add(key)
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show_once
        yield
