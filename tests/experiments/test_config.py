"""The settings of a localization run (``experiments.config``): defaults (Table I, the paper's
loop), the checks of methods and inpainter, and the cache key: stable for the paper's settings,
changed by every setting that changes the maps and by nothing else."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from captum_iterative.experiments import TABLE_I, ExperimentConfig, list_methods

#: The key of the default settings. Cached maps are found by it: a change here makes every cache
#: on disk stale, which must be a decision, not an accident.
DEFAULT_KEY = "981db774cb4ef0b1"

#: Settings that change the maps, with another valid value each.
MAP_SETTINGS = {
    "max_iter": 5,
    "alpha": 0.5,
    "inpainter": "pyramid",
    "inpaint_radius": 5.0,
    "use_fov": False,
    "method_kwargs": {"integrated_gradients": {"n_steps": 16}},
    "normalize_maps": True,
}


def test_defaults_are_table_i_and_the_paper_s_loop() -> None:
    config = ExperimentConfig()
    assert config.methods == TABLE_I and len(TABLE_I) == 5
    assert (config.max_iter, config.alpha, config.inpainter) == (20, 0.6, "ns")
    assert (config.radius_at_512, config.fps, config.referable_only) == (7.0, 10.0, True)
    assert (
        config.method_kwargs == {} and config.method_kwargs is not ExperimentConfig().method_kwargs
    )


def test_sequences_are_stored_as_tuples() -> None:
    config = ExperimentConfig(methods=["saliency", "grad_cam"], lesion_types=["hemorrhages"])  # type: ignore[arg-type]
    assert config.methods == ("saliency", "grad_cam")
    assert config.lesion_types == ("hemorrhages",)
    assert ExperimentConfig().lesion_types is None


def test_bad_config_names_the_argument() -> None:
    with pytest.raises(ValueError, match="methods"):
        ExperimentConfig(methods=("lime",))
    with pytest.raises(ValueError, match="inpainter"):
        ExperimentConfig(inpainter="patchmatch")


def test_an_unknown_method_is_named_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown method 'lime' in `methods`; choose from \["):
        ExperimentConfig(methods=("saliency", "lime"))
    assert ExperimentConfig(methods=tuple(list_methods())).methods == tuple(list_methods())


def test_the_default_cache_key_is_stable() -> None:
    assert ExperimentConfig().cache_key() == DEFAULT_KEY
    assert len(DEFAULT_KEY) == 16 and int(DEFAULT_KEY, 16) >= 0
    # normalize_maps=False adds nothing to the hashed settings: the paper's maps keep their keys.
    assert ExperimentConfig(normalize_maps=False).cache_key() == DEFAULT_KEY


@pytest.mark.parametrize("name", sorted(MAP_SETTINGS))
def test_each_map_setting_changes_the_key(name: str) -> None:
    assert ExperimentConfig(**{name: MAP_SETTINGS[name]}).cache_key() != DEFAULT_KEY


def test_keys_of_different_map_settings_are_all_different() -> None:
    keys = {ExperimentConfig(**{name: value}).cache_key() for name, value in MAP_SETTINGS.items()}
    assert len(keys) == len(MAP_SETTINGS)


@given(
    methods=st.lists(st.sampled_from(list_methods()), min_size=1, max_size=5, unique=True),
    fps=st.floats(0.1, 100.0),
    radius=st.floats(1.0, 20.0),
    batch_size=st.integers(1, 64),
    referable_only=st.booleans(),
    ignore_other_lesions=st.booleans(),
    max_images=st.none() | st.integers(1, 100),
    lesion_types=st.none() | st.just(("hemorrhages",)),
    device=st.sampled_from(["cpu", "cuda"]),
)
@settings(max_examples=40, deadline=None)
def test_scoring_and_running_settings_leave_the_key_alone(
    methods: list[str],
    fps: float,
    radius: float,
    batch_size: int,
    referable_only: bool,
    ignore_other_lesions: bool,
    max_images: int | None,
    lesion_types: tuple[str, ...] | None,
    device: str,
) -> None:
    config = ExperimentConfig(
        methods=tuple(methods),
        fps=fps,
        radius_at_512=radius,
        batch_size=batch_size,
        device=device,
        referable_only=referable_only,
        ignore_other_lesions=ignore_other_lesions,
        lesion_types=lesion_types,
        max_images=max_images,
    )
    assert config.cache_key() == DEFAULT_KEY


def test_the_key_reads_method_kwargs_by_value_not_by_order() -> None:
    a = ExperimentConfig(method_kwargs={"saliency": {"abs": True}, "grad_cam": {"relu": False}})
    b = ExperimentConfig(method_kwargs={"grad_cam": {"relu": False}, "saliency": {"abs": True}})
    assert a.cache_key() == b.cache_key() != DEFAULT_KEY


def test_every_field_is_either_a_map_setting_or_left_out_of_the_key() -> None:
    # A new field must be sorted into one of the two lists (and the key updated if it is a map
    # setting); this names the fields the tests above cover.
    scoring = {
        "methods", "fps", "radius_at_512", "batch_size", "device", "referable_only",
        "ignore_other_lesions", "lesion_types", "max_images",
    }  # fmt: skip
    fields = {f.name for f in dataclasses.fields(ExperimentConfig)}
    assert fields == scoring | set(MAP_SETTINGS)
