"""Built-in plugin: generated datasets that run anywhere, with no files to bring."""

from bench_core import hookimpl


@hookimpl
def register_datasets(register):
    register(
        "synthetic-avenue",
        "anobench_synthetic.avenue:SyntheticAvenue",
        summary="Generated Avenue-like walkway: walkers; test anomalies are runners, wrong-way walkers, throws, loiterers",
    )
