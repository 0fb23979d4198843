"""Hypothesis profiles for the property tests: "ci" (the default: few examples, the same
ones every run) and "long" (HYPOTHESIS_PROFILE=long: many random examples, for a search
by hand before a release)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_QUIET = [
    HealthCheck.function_scoped_fixture,  # tmp_path and capsys: each example uses fresh names
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.large_base_example,
]
settings.register_profile(
    "ci",
    max_examples=12,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=_QUIET,
)
settings.register_profile(
    "long", max_examples=300, deadline=None, database=None, suppress_health_check=_QUIET
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    """Tiny valid ganport models (no training): grey and RGB discriminators, a generator,
    and a 4-class generator (class from z[:, 0])."""
    from tests.property.helpers import tiny_model

    root = tmp_path_factory.mktemp("tiny")
    return {
        "d1": tiny_model(root / "d1" / "discriminator.onnx", "discriminator", shape=(1, 6, 6)),
        "d3": tiny_model(root / "d3" / "discriminator.onnx", "discriminator", shape=(3, 5, 5)),
        "g": tiny_model(root / "g" / "generator.onnx", "generator", shape=(1, 6, 6)),
        "g4": tiny_model(
            root / "g4" / "generator.onnx",
            "generator",
            shape=(3, 4, 4),
            meta={"classes": 4},
        ),
    }
