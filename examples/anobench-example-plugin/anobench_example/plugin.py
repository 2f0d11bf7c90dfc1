"""The hook anobench calls. It must stay import-cheap: it names the detector's module instead of importing it."""

from bench_core import hookimpl


@hookimpl
def register_detectors(register):
    register(
        "frame-difference",
        "anobench_example.detector:FrameDifference",
        summary="Mean absolute difference between consecutive grayscale frames, standardised on normal footage",
    )
