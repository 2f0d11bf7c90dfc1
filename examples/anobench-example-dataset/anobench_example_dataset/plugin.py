"""The hook anobench calls. It stays import-cheap: it names the dataset's module instead of importing it."""

from bench_core import hookimpl


@hookimpl
def register_datasets(register):
    register(
        "example-clips",
        "anobench_example_dataset.dataset:ClipFolder",
        summary="Your own footage: DATA_ROOT/train/*.mp4 (normal), DATA_ROOT/test/*.mp4 and test/labels.json",
    )
