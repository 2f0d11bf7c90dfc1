"""Which detector preset a run gets when ``--preset`` is not given.

On real footage (a dataset whose class sets ``real_footage = True`` and whose files are not a generated copy) runs
default to the detector's ``standard`` preset, the one leaderboards on real footage use; everywhere else (generated
datasets, generated copies in a real layout, the README's first run) to ``cpu``, the fast preset. A detector without
``standard`` (a third-party plugin, say) falls back to ``cpu`` on real footage, with a one-line notice rather than
an error, so that such plugins keep working. An explicit ``--preset`` is always used as given (build_config refuses
one the detector lacks, listing its presets).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench_core.dataset import Dataset
    from bench_core.detector import Detector

#: The preset for real footage: trains within about an hour on 2 CPU cores for a dataset of CUHK Avenue's size.
STANDARD_PRESET = "standard"
#: The fast preset every detector has: tests, generated data, first runs.
FAST_PRESET = "cpu"


def default_preset(detector_cls: type["Detector"], detector: str, dataset: "Dataset") -> tuple[str, str]:
    """(the preset, a one-line notice or '') for ``detector`` on ``dataset`` when no preset was asked for."""
    if not dataset.serves_real_footage():
        return FAST_PRESET, ""
    if STANDARD_PRESET in detector_cls.presets:
        return STANDARD_PRESET, ""
    return FAST_PRESET, (
        f"detector '{detector}' has no '{STANDARD_PRESET}' preset, the default on real footage "
        f"('{dataset.name}'): using '{FAST_PRESET}'; give --preset to choose "
        f"(it has {', '.join(sorted(detector_cls.presets))})")


def choose_preset(requested: str | None, detector_cls: type["Detector"], detector: str,
                  dataset: "Dataset") -> tuple[str, str]:
    """The preset a run uses: ``requested`` when given, else ``default_preset``'s; and the notice to show, if any."""
    if requested is not None:
        return requested, ""
    return default_preset(detector_cls, detector, dataset)
