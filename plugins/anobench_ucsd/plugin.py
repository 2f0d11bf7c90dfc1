"""Registers ``ucsd-ped2`` and ``ucsd-ped1``; the classes load (with Pillow) only when a dataset is used."""

from bench_core import hookimpl


@hookimpl
def register_datasets(register):
    register(
        "ucsd-ped2",
        "anobench_ucsd.dataset:UCSDPed2",
        summary="UCSD Ped2 (CVPR 2010): 16 train / 12 test clips, 240x360 grey; cyclists, skaters, carts",
    )
    register(
        "ucsd-ped1",
        "anobench_ucsd.dataset:UCSDPed1",
        summary="UCSD Ped1 (CVPR 2010): 34 train / 36 test clips, 158x238 grey; cyclists, skaters, carts",
    )
