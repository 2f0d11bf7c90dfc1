"""Harness overhead: `anobench run` of conv-ae (cpu preset) on synthetic-avenue against a plain PyTorch loop that
trains and scores the same model, for the same epochs, on the same frames, in the same benchmark run.

Run with:
    .venv/bin/pytest benchmarks/bench_harness.py --benchmark-only -s

Target (issue 2): harness / plain loop <= 1.10. The plain loop is what a paper's own script does: every prepared
frame in one in-memory tensor, windows cut with unfold, the same optimiser, loss and batch order; it writes nothing.
The harness run includes everything `anobench run` does after the first run filled the preprocessing cache:
planning, reading the cache, fitting, scoring, the protocol and scorers, and writing the run folder atomically.
Epochs are set to 2 (both sides) to keep the benchmark short; per-epoch cost is what overhead is measured against.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench_core.run import RunRequest, execute, plan_run
from bench_core.views import dataset_key, prepare

EPOCHS = 2
SETTINGS = [f"epochs={EPOCHS}"]
timings: dict[str, float] = {}


def request(out):
    return RunRequest(detector="conv-ae", dataset="synthetic-avenue", preset="cpu", seed=0, settings=SETTINGS,
                      out=out, device="cpu", overwrite=True)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The run's plan and its prepared videos; the preprocessing cache is filled before any timing."""
    import os

    os.environ["ANOBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    plan = plan_run(request(tmp_path_factory.mktemp("warm")))
    detector = plan.detector_cls(plan.detector_config, device="cpu", seed=0)
    key = dataset_key(plan.fingerprint)
    train = [prepare(v, detector.input_spec, key) for v in plan.dataset.videos("train")]
    test = [prepare(v, detector.input_spec, key) for v in plan.dataset.videos("test")]
    return plan, train, test


def plain_loop(plan, train, test):
    from anobench_convae.detector import ConvAENet

    cfg = plan.detector_config
    torch.manual_seed(0)
    model = ConvAENet(cfg)
    model.reset_parameters(torch.Generator().manual_seed(0))
    frames = [torch.from_numpy(np.array(v.frames[:, 0])).float().div_(255.0) for v in train]
    mean = torch.cat(frames).mean(0)
    model.mean_frame.copy_(mean)
    # contiguous(): cat keeps the permuted (channels-last-like) strides, which would make every conv slower.
    windows = torch.cat([(f - mean).unfold(0, cfg.window, 1).permute(0, 3, 1, 2) for f in frames]).contiguous()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    order_generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(windows), generator=order_generator)
        for first in range(0, len(windows), cfg.batch_size):
            x = windows[order[first:first + cfg.batch_size]]
            loss = 0.5 * (model(x) - x).square().sum(dim=(1, 2, 3)).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()
    scores = []
    with torch.inference_mode():
        for video in test:
            f = torch.from_numpy(np.array(video.frames[:, 0])).float().div_(255.0) - mean
            x = f.unfold(0, cfg.window, 1).permute(0, 3, 1, 2).contiguous()
            out = [((model(x[i:i + 64])[:, -1] - x[i:i + 64, -1]).square().sum(dim=(1, 2)))
                   for i in range(0, len(x), 64)]
            scores.append(torch.cat(out).numpy())
    return scores


@pytest.mark.benchmark(group="harness")
def test_baseline_plain_pytorch_loop(benchmark, prepared):
    plan, train, test = prepared
    scores = benchmark.pedantic(plain_loop, args=(plan, train, test), rounds=3, iterations=1)
    assert sum(len(s) for s in scores) == sum(len(v) - 9 for v in test)
    timings["plain"] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="harness")
def test_anobench_run(benchmark, prepared, tmp_path):
    plan, _, _ = prepared

    def harness_run():
        return execute(plan_run(request(tmp_path / "results")))

    record = benchmark.pedantic(harness_run, rounds=3, iterations=1)
    assert len(record.training["loss_per_epoch"]) == EPOCHS
    assert math.isfinite(record.metrics["frame_auroc_micro"])
    if "plain" in timings:
        ratio = benchmark.stats.stats.median / timings["plain"]
        benchmark.extra_info["ratio_to_plain_loop"] = round(ratio, 3)
        print(f"\nanobench run / plain PyTorch loop = {ratio:.3f} (target <= 1.10)")
