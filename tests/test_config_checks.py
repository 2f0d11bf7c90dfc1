"""The shared settings checks (bench_core.config.require_*) that every built-in detector's Config uses: one wording
for one mistake across plugins, and NaN never slips through a range check."""

from __future__ import annotations

import dataclasses
import math

import pytest

from bench_core.config import build_config, require_at_least, require_choice, require_finite
from bench_core.errors import UsageError
from bench_core.plugins import get_catalogue


@dataclasses.dataclass(frozen=True)
class _Settings:
    epochs: int = 3
    lr: float = 1e-3
    weight: float = 0.0
    mode: str = "a"


def test_each_check_names_the_field_the_bound_and_the_value():
    require_at_least(_Settings(), 1, "epochs")
    require_finite(_Settings(), "lr")
    require_finite(_Settings(), "weight", positive=False)
    require_choice(_Settings(), "mode", ("a", "b"))
    with pytest.raises(ValueError, match=r"^epochs must be >= 1, not 0$"):
        require_at_least(_Settings(epochs=0), 1, "epochs")
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, not 0.0$"):
        require_finite(_Settings(lr=0.0), "lr")
    with pytest.raises(ValueError, match=r"^weight must be a finite number >= 0, not -1.0$"):
        require_finite(_Settings(weight=-1.0), "weight", positive=False)
    with pytest.raises(ValueError, match=r"^mode must be one of a, b, not 'c'$"):
        require_choice(_Settings(mode="c"), "mode", ("a", "b"))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_fail_both_kinds_of_range(value):
    with pytest.raises(ValueError, match="must be a finite number > 0"):
        require_finite(_Settings(lr=value), "lr")
    with pytest.raises(ValueError, match="must be a finite number >= 0"):
        require_finite(_Settings(weight=value), "weight", positive=False)


DETECTORS = [(r.name, r.load()) for r in get_catalogue().all("detector")]


@pytest.mark.parametrize("name,cls", DETECTORS, ids=[name for name, _ in DETECTORS])
def test_every_detector_rejects_zero_epochs_and_a_nan_learning_rate_in_one_line(name, cls):
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    if "epochs" not in fields:
        pytest.skip(f"{name} has no epochs setting")
    with pytest.raises(UsageError, match="epochs must be >= 1, not 0"):
        build_config(cls.Config, cls.presets, None, {"epochs": "0"}, "--set", name)
    for rate in sorted(f for f in fields if f == "lr" or f.endswith("_lr")):
        with pytest.raises(UsageError, match=f"{rate} must be a finite number > 0, not nan"):
            build_config(cls.Config, cls.presets, None, {rate: "nan"}, "--set", name)
