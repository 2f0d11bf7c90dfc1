"""Built-in plugin: frame-level metrics (AUROC micro and macro, AUPR, EER)."""

from bench_core import hookimpl


@hookimpl
def register_scorers(register):
    register(
        "frame-auroc",
        "anobench_frame_metrics.scorer:FrameAUROC",
        summary="Frame-level AUROC (micro over all frames, macro over videos), AUPR and EER",
    )
