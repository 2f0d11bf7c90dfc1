"""Which view of a dataset a detector reads: its default where the dataset offers it, else one both have.

``ae`` and ``vae`` default to the skeleton view (the skeleton LSTM-VAE paper's input), which a frames-only dataset
lacks; rather than fail at run time, the plan picks the first view the dataset offers that the detector can read, and
the run record lists it under ``detector.resolved_settings``. The resolved config is the one ``--set view=...`` gives,
so the run id is that run's id (and no published id changes: a default view that fits is left alone). A view set by the
user (``--set``, ``--grid``, the preset) is never changed: one the dataset lacks is refused while planning, so a sweep
refuses before any job starts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bench_core.errors import UsageError


def detector_views(detector_cls: type) -> tuple[str, ...] | None:
    """The views a detector can read: its ``views`` attribute, else every view when its Config has a ``view``
    setting; None when only an instance can say (its ``input_spec``)."""
    from bench_core.views import VIEWS

    declared = getattr(detector_cls, "views", None)
    if declared:
        return tuple(declared)
    if "view" in {f.name for f in dataclasses.fields(detector_cls.Config)}:
        return VIEWS
    return None


def default_view(detector_cls: type, preset: str | None = None) -> str | None:
    """The view a detector reads when nothing sets it: the preset's, else its Config default."""
    fields = {f.name: f for f in dataclasses.fields(detector_cls.Config)}
    if "view" not in fields:
        return None
    if preset and "view" in detector_cls.presets.get(preset, {}):
        return detector_cls.presets[preset]["view"]
    return fields["view"].default if fields["view"].default is not dataclasses.MISSING else None


def fit_view(detector_cls: type, detector: str, preset: str, overrides: dict[str, Any], dataset) -> dict[str, str]:
    """The settings to add so the detector reads a view ``dataset`` offers (``{}`` or ``{"view": ...}``); a
    UsageError naming the pair when none fits."""
    views = detector_views(detector_cls)
    if views is None:
        return {}  # a fixed view: the run checks it against the dataset's once the detector exists
    offered = tuple(dataset.views)
    if "view" in overrides:
        view = str(overrides["view"])
        if view in views and view not in offered:
            # The same words as the run's own check (bench_core.run.execute), which covers fixed-view detectors.
            raise UsageError(f"detector '{detector}' needs view '{view}', which dataset '{dataset.name}' lacks",
                             hint=f"it offers: {', '.join(offered)}")
        return {}
    view = default_view(detector_cls, preset)
    if view is None or view in offered:
        return {}
    shared = [v for v in offered if v in views]
    if not shared:
        raise UsageError(f"detector '{detector}' reads {', '.join(views)}, none of which dataset '{dataset.name}' "
                         f"offers ({', '.join(offered)})", hint="pair it with a dataset that has one of its views")
    return {"view": shared[0]}
