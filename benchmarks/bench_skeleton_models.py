"""Speed of the skeleton-map detectors (issue 5): inference of every cpu preset, and one epoch of LSTM-VAE
training (paper preset) through the detector's ``fit`` against a plain PyTorch loop, in the same benchmark run.

Run with (a few minutes; the training comparison is two epochs of about a minute each on 2 cores):
    .venv/bin/pytest benchmarks/bench_skeleton_models.py --benchmark-only -s

Targets:
* inference of each detector's cpu preset >= 30 frames/s on 2 CPU threads (a 500-frame skeleton-map video, as in
  synthetic-industrial; speed does not depend on the weights, so the models are untrained);
* one epoch of LSTM-VAE paper-preset training on 4,589 windows (the skeleton LSTM-VAE paper's count: one 4,618-frame
  video with T = 30) through ``LSTMVAE.fit`` <= 1.10 x the plain loop. The plain loop is what a paper's own script does:
  the same model class, every window cut beforehand into one uint8 tensor, the same batch size, order, noise,
  loss and Adam; it keeps no log, no checkpoint and no progress bar.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from bench_core.progress import Progress
from bench_core.views import PreparedVideo

MIN_FPS = 30.0
MAX_TRAINING_RATIO = 1.10
# The skeleton LSTM-VAE paper's normal training frames; with T = 30 they give its 4,589 windows.
# SKELETON_BENCH_TRAIN_FRAMES makes the epoch shorter on a busy machine (the ratio is per batch, so it holds for any
# length).
TRAIN_FRAMES = int(os.environ.get("SKELETON_BENCH_TRAIN_FRAMES", 4618))
TEST_FRAMES = 500
timings: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def random_maps(n: int, seed: int, density: float = 0.08) -> PreparedVideo:
    """Binary 28x28 maps (0/255) with about as many set pixels as a skeleton map."""
    rng = np.random.default_rng(seed)
    frames = np.where(rng.random((n, 1, 28, 28)) < density, 255, 0).astype(np.uint8)
    return PreparedVideo(f"random-{seed}", frames, fps=30.0)


def _cpu_detector(name: str):
    from bench_core.config import build_config

    if name == "lstm-vae":
        from anobench_lstmvae.detector import LSTMVAE as cls
    elif name == "ae":
        from anobench_framewise.detector import AE as cls
    elif name == "vae":
        from anobench_framewise.detector import VAE as cls
    elif name == "srnn":
        from anobench_srnn.detector import SRNN as cls
    else:
        from anobench_convae.detector import ConvAE as cls
    config = build_config(cls.Config, cls.presets, "cpu", {"view": "skeleton"}, "--set", name)
    return cls(config, device="cpu", seed=0)


@pytest.mark.parametrize("name", ["lstm-vae", "ae", "vae", "srnn", "conv-ae"])
def test_inference_fps_of_the_cpu_preset(benchmark, name):
    detector = _cpu_detector(name)
    video = random_maps(TEST_FRAMES, seed=1)
    detector.score(video, Progress())  # warm-up: first-call allocations
    benchmark.pedantic(detector.score, args=(video, Progress()), rounds=3, iterations=1)
    fps = TEST_FRAMES / benchmark.stats.stats.mean
    benchmark.extra_info["frames_per_second"] = fps
    print(f"\n{name}: {fps:.0f} frames/s on {torch.get_num_threads()} threads")
    assert fps >= MIN_FPS


# -- LSTM-VAE training: the detector's fit against a plain loop ---------------------------------------------------


@pytest.fixture(scope="module")
def training_setup():
    from bench_core.config import build_config

    from anobench_lstmvae.detector import LSTMVAE

    config = build_config(LSTMVAE.Config, LSTMVAE.presets, "paper", {"epochs": 1}, "--set", "lstm-vae")
    video = random_maps(TRAIN_FRAMES, seed=0)
    return config, video


def plain_loop(config, video: PreparedVideo) -> float:
    """One epoch of the same model on the same windows, written the way a paper's script would be."""
    from anobench_lstmvae.detector import LSTMVAENet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LSTMVAENet(config)
    frames = torch.from_numpy(np.array(video.frames))
    windows = frames.unfold(0, config.window, 1).permute(0, 4, 1, 2, 3).contiguous()  # (4589, T, 1, 28, 28) uint8
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(0))
    noise_generator = torch.Generator().manual_seed(1)
    model.train()
    total = 0.0
    for first in range(0, len(windows), config.batch_size):
        x = windows[order[first:first + config.batch_size]].float().div_(255.0)
        noise = torch.randn(len(x), config.latent_dim, generator=noise_generator)
        logits, mean, log_var = model(x, noise)
        reconstruction = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, x, reduction="none").flatten(1).sum(1).mean()
        kl = 0.5 * (mean.square() + log_var.exp() - 1.0 - log_var).sum(1).mean()
        loss = reconstruction + kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total


def detector_fit(config, video: PreparedVideo) -> dict:
    from anobench_lstmvae.detector import LSTMVAE

    detector = LSTMVAE(config, device="cpu", seed=0)
    return detector.fit([video], Progress())


def test_lstm_vae_training_epoch_plain_loop(benchmark, training_setup):
    config, video = training_setup
    benchmark.pedantic(plain_loop, args=(config, video), rounds=1, iterations=1)
    timings["plain"] = benchmark.stats.stats.mean
    print(f"\nplain loop: {timings['plain']:.1f} s for one epoch of {TRAIN_FRAMES - config.window + 1} windows")


def test_lstm_vae_training_epoch_detector_fit(benchmark, training_setup):
    config, video = training_setup
    log = benchmark.pedantic(detector_fit, args=(config, video), rounds=1, iterations=1)
    assert log["n_train_windows"] == TRAIN_FRAMES - config.window + 1
    timings["detector"] = benchmark.stats.stats.mean
    if "plain" not in timings:
        pytest.skip("run together with test_lstm_vae_training_epoch_plain_loop for the ratio")
    ratio = timings["detector"] / timings["plain"]
    benchmark.extra_info["ratio_to_plain_loop"] = ratio
    print(f"\nLSTMVAE.fit: {timings['detector']:.1f} s, plain loop {timings['plain']:.1f} s, ratio {ratio:.3f}")
    assert ratio <= MAX_TRAINING_RATIO
