"""Shared helpers for aimc benchmarks: thread pinning, the peer workloads, interleaved timing.

Mirrors ``../shared/peers/aihwkit/common.py`` (same models, same timing method) so that
ratios against plain torch are comparable with the peer harness. Import before torch.
"""

from __future__ import annotations

import os

N_THREADS = int(os.environ.get("BENCH_THREADS", "2"))
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, str(N_THREADS))

import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402

torch.set_num_threads(N_THREADS)


def mlp_784_256_128_10() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )


def cnn_3x32x32() -> torch.nn.Module:
    """3 conv layers (32/64/128 ch, 3x3, pad 1) + ReLU + 2x2 maxpool, then Linear(2048, 10)."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(64, 128, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(128 * 4 * 4, 10),
    )


MODELS: dict[str, tuple[Callable[[], torch.nn.Module], tuple[int, ...]]] = {
    "mlp": (mlp_784_256_128_10, (784,)),
    "cnn": (cnn_3x32x32, (3, 32, 32)),
}


def time_group(fns: dict[str, Callable[[], Any]], repeats: int = 7, warmup: int = 2,
               target_sample_s: float = 0.002) -> dict[str, dict[str, float]]:
    """Time callables interleaved (round-robin); per-call median/min over ``repeats`` rounds.

    Same method as the peer harness: an inner loop count k per callable so one sample lasts
    about ``target_sample_s``; every round times each callable once.
    """
    inner = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        for _ in range(warmup):
            fn()
        per_call = (time.perf_counter() - t0) / max(warmup, 1)
        inner[name] = max(1, min(1000, int(target_sample_s / max(per_call, 1e-9))))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            k = inner[name]
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            samples[name].append((time.perf_counter() - t0) / k)
    return {name: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v),
                   "n": len(v), "inner": inner[name]} for name, v in samples.items()}


def env_info() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"python": platform.python_version(), "torch": torch.__version__, "cpu": cpu,
            "threads": N_THREADS, "loadavg": load,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def write_json(path: str, data: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


def write_lines(path: str, lines: list[str]) -> None:
    """Write ``lines`` as a text file atomically (a temporary file, then a rename)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
