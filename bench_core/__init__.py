"""anobench's core harness: the plugin contract, the three interfaces, runs, records and leaderboards.

Plugin authors need only what is exported here. Importing it never imports torch.
"""

from bench_core.dataset import Dataset, DatasetOptions, Video, VideoInfo
from bench_core.detector import Detector, InputSpec
from bench_core.errors import AnobenchError, DataError, PluginError, RunFailed, UsageError
from bench_core.hookspecs import hookimpl
from bench_core.metrics import MetricSpec
from bench_core.progress import Progress
from bench_core.scoring import Protocol, Scorer

__version__ = "0.1.0"

__all__ = [
    "AnobenchError", "DataError", "Dataset", "DatasetOptions", "Detector", "InputSpec", "MetricSpec", "PluginError",
    "Progress",
    "Protocol", "RunFailed", "Scorer", "UsageError", "Video", "VideoInfo", "hookimpl", "__version__",
]
