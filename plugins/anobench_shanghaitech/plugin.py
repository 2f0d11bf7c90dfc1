"""Registers ``shanghaitech``; the loader imports (PIL, decord) only when the dataset is used."""

from bench_core import hookimpl


@hookimpl
def register_datasets(register):
    register(
        "shanghaitech",
        "anobench_shanghaitech.dataset:ShanghaiTech",
        summary="ShanghaiTech Campus (CVPR 2018): 330 train / 107 test videos, 13 scenes, 856x480; scenes=01,04",
    )
