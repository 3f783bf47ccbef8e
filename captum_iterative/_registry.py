"""The one shape of the package's registries (timm's ``register_model`` / ``list_models``).

Each registry module keeps a private :class:`Registry` and exposes four functions around it:
``get_X(name, **options)`` (the object, or what its factory builds), the decorator
``register_X(name)``, ``list_X()`` (sorted names) and, where a caller may pass an object
instead of a name, a pass-through in ``get_X``. Messages name the caller's argument in
backticks, as the checks of :mod:`captum_iterative._checks` do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar, cast

__all__ = ["Registry"]

T = TypeVar("T")
#: What a decorator returns: the decorated object with its own type (a function keeps its
#: signature), registered as a ``T``.
S = TypeVar("S")


class Registry(Generic[T]):
    """Named objects of one kind.

    Args:
        kind (str): what the entries are, for messages (``"binarizer"``).
        argument (str): the argument that takes a name, for messages (``"binarizer"``).
        case_sensitive (bool, optional): ``False`` stores and looks names up in lower case.
            Default: True.
    """

    def __init__(self, kind: str, argument: str, *, case_sensitive: bool = True) -> None:
        self.kind = kind
        self.argument = argument
        self.case_sensitive = case_sensitive
        self._entries: dict[str, T] = {}

    def _key(self, name: str) -> str:
        return name if self.case_sensitive else name.lower()

    def add(self, name: str, obj: T) -> T:
        """Register ``obj`` under ``name`` and return it.

        Raises:
            TypeError: ``name`` is not a non-empty string.
            ValueError: ``name`` already holds another object (the same or an equal object
                again is a no-op).
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        key = self._key(name)
        taken = self._entries.get(key)
        if taken is not None and taken is not obj and taken != obj:
            raise ValueError(
                f"{self.kind} name {name!r} is already registered to {taken!r}; "
                f"choose another name (taken: {self.names()})"
            )
        self._entries[key] = obj
        return obj

    def register(self, name: str) -> Callable[[S], S]:
        """Decorator form of :meth:`add`: ``@registry.register("name")``; returns the object."""

        def decorator(obj: S) -> S:
            self.add(name, cast(T, obj))
            return obj

        return decorator

    def get(self, name: str, alternative: str = "") -> T:
        """The object registered under ``name``.

        Args:
            name (str): a registered name.
            alternative (str, optional): what else the argument accepts, for the message
                (``" or a callable"``). Default: ``""``.

        Raises:
            ValueError: an unknown name (or not a string); the message lists the known names.
        """
        entry = self._entries.get(self._key(name)) if isinstance(name, str) else None
        if entry is None:
            raise ValueError(
                f"`{self.argument}` must be one of {self.names()}{alternative}, got {name!r}"
            )
        return entry

    def resolve(self, value: str | T) -> T:
        """The object registered under the name ``value``, or ``value`` itself when it is
        callable (the ``get_X`` of registries whose callers may pass their own function).

        Raises:
            ValueError: an unknown name (the message lists the known names).
            TypeError: neither a string nor a callable.
        """
        if isinstance(value, str):
            return self.get(value, " or a callable")
        if not callable(value):
            raise TypeError(
                f"`{self.argument}` must be a string or a callable, got {type(value).__name__}"
            )
        return value

    def values(self) -> list[T]:
        """The registered objects, in the order of :meth:`names`."""
        return [self._entries[name] for name in self.names()]

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self._entries
