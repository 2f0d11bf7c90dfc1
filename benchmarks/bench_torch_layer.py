"""The shared torch layer (issue 14): for every torch detector's ``cpu`` preset, one training epoch through the
layer's ``train_epochs`` against a bare loop over the same step, the speed levers (bf16 autocast, channels-last),
and the compute efficiency of a training step.

Run with (a few minutes on 2 busy cores):
    OMP_NUM_THREADS=2 .venv/bin/pytest benchmarks/bench_torch_layer.py --benchmark-only -s

* **Epoch time, layer vs bare loop.** The detector's own ``fit`` runs twice on the same generated videos: once
  through ``train_epochs`` (seeded order, resume bookkeeping, progress, finite-loss guard, epoch log) and once with
  ``train_epochs`` replaced by the bare loop the detectors had before the layer (the same seeded order, window
  reads and step; nothing else). Target: layer / bare <= 1.0, read with the noise of a shared machine (asserted
  <= 1.10).
* **Levers.** The layer's epoch again with ``precision=bf16`` (on CPUs with native bf16) and with
  ``channels_last=true``, as ratios to the fp32 layer epoch. Reported, not asserted: they are settings, off by
  default.
* **Compute efficiency.** FLOPs of one training step (``torch.utils.flop_counter.FlopCounterMode``: matrix
  products and convolutions, forward and backward) divided by the step's time, divided by the bf16 matrix-product
  peak (FLOP/s of a 1024^3 bf16 matmul) measured in the same run on the same threads. LSTM cells are not counted by
  the FLOP counter, so lstm-vae's figure is a lower bound.
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench_core.config import build_config
from bench_core.progress import Progress
from bench_core.torch_layer import cpu_has_bf16
from bench_core.views import PreparedVideo

# Frames per generated training video (two videos); the ratio is per batch, so it holds for any length.
TRAIN_FRAMES = int(os.environ.get("TORCH_LAYER_BENCH_FRAMES", 160))
ROUNDS = int(os.environ.get("TORCH_LAYER_BENCH_ROUNDS", 3))
MAX_LAYER_RATIO = 1.10
DETECTORS = {
    "conv-ae": ("anobench_convae.detector", "ConvAE"),
    "stgan": ("anobench_stgan.detector", "STGAN"),
    "lstm-vae": ("anobench_lstmvae.detector", "LSTMVAE"),
    "srnn": ("anobench_srnn.detector", "SRNN"),
    "ae": ("anobench_framewise.detector", "AE"),
    "vae": ("anobench_framewise.detector", "VAE"),
    "ffp": ("anobench_ffp.detector", "FFP"),
}
results: dict[str, dict] = {}


@pytest.fixture(scope="module", autouse=True)
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 2)))
    yield
    torch.set_num_threads(threads)


def bf16_peak() -> float:
    """FLOP/s of a bf16 1024^3 matrix product on this run's threads (best of 5). Measured next to each step it
    divides, because the load of a shared machine changes within minutes."""
    n = 1024
    a, b = torch.randn(n, n, dtype=torch.bfloat16), torch.randn(n, n, dtype=torch.bfloat16)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(5))
    return 2 * n ** 3 / best


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def moving_squares(n: int, side: int, seed: int) -> PreparedVideo:
    """A bright square moving over a dark, slightly noisy background (binary maps keep the 0/255 skeleton look)."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 30, (n, 1, side, side)).astype(np.uint8)
    block = max(side // 8, 2)
    for t in range(n):
        x = (t * 2 + 5 * seed) % (side - block)
        frames[t, 0, side // 3:side // 3 + block, x:x + block] = 255
    return PreparedVideo(f"train-{seed}", frames, fps=25.0)


def cpu_detector(name: str, **settings):
    import importlib

    module, attribute = DETECTORS[name]
    cls = getattr(importlib.import_module(module), attribute)
    config = build_config(cls.Config, cls.presets, "cpu", {}, "--set", name)
    config = dataclasses.replace(config, epochs=1, **settings)
    return cls(config, device="cpu", seed=0), module


def timed_fit(name: str, bare: bool, **settings) -> dict:
    """One epoch of ``name``'s cpu preset through its ``fit``: the seconds spent in the epoch loop (through the layer,
    or through the bare loop), and the captured step and batch for the FLOP count."""
    import importlib

    from bench_core import torch_layer

    detector, module_name = cpu_detector(name, **settings)
    module = importlib.import_module(module_name)
    side = detector.input_spec.height
    train = [moving_squares(TRAIN_FRAMES, side, 1), moving_squares(TRAIN_FRAMES, side, 2)]
    captured: dict = {}

    def layer(**kwargs):
        captured.update(kwargs)
        start = time.perf_counter()
        out = torch_layer.train_epochs(**kwargs)
        captured["seconds"] = time.perf_counter() - start
        return out

    def bare_loop(*, index, step, model, seed, batch_size, runtime, **_):
        """The loop every detector had before the layer: seeded order, read a batch, step; nothing else."""
        captured.update(index=index, step=step, model=model, runtime=runtime, batch_size=batch_size)
        start = time.perf_counter()
        order = torch.randperm(len(index), generator=torch.Generator().manual_seed(seed)).numpy()
        sums: dict[str, float] = {}
        model.train()
        for first in range(0, len(index), batch_size):
            with runtime.autocast():
                values = step(index.gather(order[first:first + batch_size]))
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value
        model.eval()
        captured["seconds"] = time.perf_counter() - start
        return {f"{key}_per_epoch": [value] for key, value in sums.items()}, -(-len(index) // batch_size)

    original = module.train_epochs
    module.train_epochs = bare_loop if bare else layer
    try:
        detector.fit(train, Progress())
    finally:
        module.train_epochs = original
    return captured


def step_efficiency(captured: dict) -> tuple[float, float, float]:
    """(GFLOP per step, FLOP/s of the step / bf16 peak, the peak) of the captured step on its first full batch; the
    peak is the best of measurements just before and just after the step's."""
    index, step, runtime = captured["index"], captured["step"], captured["runtime"]
    batch = index.gather(np.arange(min(captured["batch_size"], len(index))))
    captured["model"].train()
    with runtime.autocast():
        step(batch)  # warm-up
        with FlopCounterMode(display=False) as counter:
            step(batch)
        before = bf16_peak()
        seconds = min(_seconds(lambda: step(batch)) for _ in range(3))
        peak = max(before, bf16_peak())
    flops = counter.get_total_flops()
    return flops / 1e9, flops / seconds / peak, peak


@pytest.mark.parametrize("name", list(DETECTORS))
def test_epoch_through_the_layer_is_not_slower_than_the_bare_loop(benchmark, name):
    timed_fit(name, bare=True)  # warm-up: first-call allocations, oneDNN kernel choice
    bare, layer = [], []
    for _ in range(ROUNDS):  # interleaved, so a change of load hits both
        bare.append(timed_fit(name, bare=True)["seconds"])
        captured = timed_fit(name, bare=False)
        layer.append(captured["seconds"])
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    # Best of the rounds: on a shared machine the load only ever adds time.
    ratio = min(layer) / min(bare)
    gflop, efficiency, peak = step_efficiency(captured)
    row = {"bare_s": min(bare), "layer_s": min(layer), "ratio": ratio,
           "step_gflop": gflop, "efficiency_fp32": efficiency, "bf16_peak_gflops": peak / 1e9,
           "windows": len(captured["index"])}
    levers = [("channels_last", {"channels_last": True})]
    if cpu_has_bf16():
        levers.append(("bf16", {"precision": "bf16"}))
    for lever, settings in levers:
        timed_fit(name, bare=False, **settings)  # warm-up
        runs = [timed_fit(name, bare=False, **settings) for _ in range(2)]
        row[f"{lever}_ratio"] = min(run["seconds"] for run in runs) / row["layer_s"]
        row[f"efficiency_{lever}"] = step_efficiency(runs[-1])[1]
    results[name] = row
    benchmark.extra_info.update(row)
    print(f"\n{name} cpu preset, {row['windows']} windows, {torch.get_num_threads()} threads, "
          f"load {os.getloadavg()[0]:.1f}: epoch bare {row['bare_s']:.2f} s, layer {row['layer_s']:.2f} s "
          f"(ratio {ratio:.3f}); step {gflop:.3f} GFLOP, efficiency fp32 {efficiency:.3f}, "
          + ", ".join(f"{lever}: epoch x{row[f'{lever}_ratio']:.2f}, efficiency {row[f'efficiency_{lever}']:.3f}"
                      for lever, _ in levers)
          + f" (bf16 matmul peak {peak / 1e9:.0f} GFLOP/s)")
    assert ratio <= MAX_LAYER_RATIO
