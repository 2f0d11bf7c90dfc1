"""The hook anobench calls. It must stay import-cheap: it names the scorer's module instead of importing it."""

from bench_core import hookimpl


@hookimpl
def register_scorers(register):
    register(
        "detection-delay",
        "anobench_example_scorer.scorer:DetectionDelay",
        summary="Seconds from the start of a labelled anomaly to its first alert, at the normal-calibrated threshold",
    )
