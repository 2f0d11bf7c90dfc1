"""Built-in plugin: SRNN-style temporally-coherent sparse coding (Luo, Liu and Gao, ICCV 2017)."""

from bench_core import hookimpl


@hookimpl
def register_detectors(register):
    register(
        "srnn",
        "anobench_srnn.detector:SRNN",
        summary="Temporally-coherent sparse coding unrolled as a stacked RNN (ISTA), on patches of the frames "
                "(Luo et al., ICCV 2017)",
        published={
            "avenue": {"frame_auroc": 0.817, "source": "STGAN paper, Table 1 (Avenue)"},
        },
    )
