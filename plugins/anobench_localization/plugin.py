"""Built-in plugin: localization metrics from per-pixel anomaly maps and ground-truth pixel masks."""

from bench_core import hookimpl


@hookimpl
def register_scorers(register):
    register(
        "pixel-auroc",
        "anobench_localization.scorer:PixelAUROC",
        summary="Pixel-level AUROC over the test frames' labelled pixels (seeded subsample above 5M pixels)",
    )
    register(
        "region",
        "anobench_localization.scorer:RegionDetection",
        summary="Region- and track-based detection criteria RBDC and TBDC (Ramachandra & Jones, WACV 2020)",
    )
