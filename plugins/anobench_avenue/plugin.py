"""Built-in plugin: the CUHK Avenue dataset. Registered lazily, so listing plugins imports neither scipy nor decord."""

from bench_core import hookimpl


@hookimpl
def register_datasets(register):
    register(
        "avenue",
        "anobench_avenue.dataset:Avenue",
        summary="CUHK Avenue (ICCV 2013) from the official files you bring; frame labels: mask or event",
    )
