"""Built-in plugin: STGAN, the detector of the STGAN paper. Its ablation is a sweep with one --variant per switch
(docs/stgan.md)."""

from __future__ import annotations

from bench_core import hookimpl


@hookimpl
def register_detectors(register):
    register(
        "stgan",
        "anobench_stgan.detector:STGAN",
        summary="Spatio-temporal GAN: 3D-conv encoder/decoder/discriminator with SAGAN stabilisers, scored by "
                "the L1 error of the last frame (the STGAN paper)",
        published={
            "avenue": {"frame_auroc": 0.829, "source": "STGAN paper, Table 1 (Avenue)"},
            "industrial": {"frame_auroc": 0.728, "source": "STGAN paper, Table 2 (industrial set)"},
        },
    )
