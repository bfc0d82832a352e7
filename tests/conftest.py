"""Shared test settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch
from seeding import seed_everything


@pytest.fixture(autouse=True, scope="module")
def _single_thread() -> Iterator[None]:
    """Unit tests use tiny tensors: intra-op threads only add overhead (and spin-wait badly
    on a busy 2-core machine), so every test module runs with one torch thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    """Every test starts from the same global seed, whatever ran before it (order-independent
    verdicts; ``AIMC_TEST_SEED_OFFSET`` shifts it, see ``tests/seeding.py``)."""
    seed_everything(0)


def pytest_report_header(config: pytest.Config) -> str:
    """Name the ATen kernel family in use (``ATEN_CPU_CAPABILITY`` picks it; .ci/run runs the
    numerics tests under each one the CPU offers)."""
    return (f"aimc: torch {torch.__version__}, CPU kernels "
            f"{torch.backends.cpu.get_cpu_capability()}, seed offset "
            f"{os.environ.get('AIMC_TEST_SEED_OFFSET', '0')}")
