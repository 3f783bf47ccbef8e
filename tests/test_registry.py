"""Tests of captum_iterative._registry: the one shape every registry of the package shares."""

from __future__ import annotations

import pytest

from captum_iterative._registry import Registry


def _registry(case_sensitive: bool = True) -> Registry[object]:
    return Registry("widget", "widget", case_sensitive=case_sensitive)


def test_register_get_and_sorted_names() -> None:
    registry = _registry()

    @registry.register("zeta")
    def zeta() -> int:
        return 1

    registry.add("alpha", len)
    assert zeta() == 1  # the decorator returns the function itself
    assert registry.get("zeta") is zeta and registry.get("alpha") is len
    assert registry.names() == ["alpha", "zeta"]
    assert registry.values() == [len, zeta]  # in the order of the names
    assert "zeta" in registry and "Zeta" not in registry and 3 not in registry


def test_a_taken_name_refuses_another_object_but_not_the_same_one() -> None:
    registry = _registry()
    registry.add("a", len)
    assert registry.add("a", len) is len  # the same object again: a no-op
    with pytest.raises(
        ValueError, match=r"widget name 'a' is already registered to .*taken: \['a'\]"
    ):
        registry.add("a", abs)
    assert registry.get("a") is len


@pytest.mark.parametrize("name", ["", 3, None])
def test_a_name_must_be_a_non_empty_string(name: object) -> None:
    with pytest.raises(TypeError, match="widget name must be a non-empty string"):
        _registry().add(name, len)  # type: ignore[arg-type]


def test_unknown_names_list_the_known_ones() -> None:
    registry = _registry()
    registry.add("b", len)
    registry.add("a", abs)
    with pytest.raises(ValueError, match=r"^`widget` must be one of \['a', 'b'\], got 'c'$"):
        registry.get("c")
    with pytest.raises(ValueError, match=r"\['a', 'b'\] or a callable, got 7"):
        registry.get(7, " or a callable")  # type: ignore[arg-type]


def test_case_insensitive_registries_store_and_find_lower_case() -> None:
    registry = _registry(case_sensitive=False)
    registry.add("DiaretDB1", len)
    assert registry.names() == ["diaretdb1"]
    assert registry.get("DIARETDB1") is len and "diaretdb1" in registry


def test_resolve_passes_callables_through_and_refuses_the_rest() -> None:
    registry = _registry()
    registry.add("length", len)
    assert registry.resolve("length") is len
    assert registry.resolve(abs) is abs
    with pytest.raises(ValueError, match=r"one of \['length'\] or a callable, got 'size'"):
        registry.resolve("size")
    with pytest.raises(TypeError, match=r"^`widget` must be a string or a callable, got int$"):
        registry.resolve(3)
