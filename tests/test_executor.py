"""The task executors of :mod:`aimc.experiments.executor`: results in task order, errors of
tasks and of choices, the same numbers under every executor (process pool here; a local
Ray instance in ``tests/test_reproduce.py``'s slow tier when Ray is installed)."""

from __future__ import annotations

import importlib.util
import os

import pytest

from aimc.errors import ConfigError, TrainingError
from aimc.experiments.executor import check_executor, default_workers, run_tasks


def _square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise TrainingError("task 3 failed")
    return x


def _threads(_: int) -> int:
    import torch

    return torch.get_num_threads()


def test_serial_and_process_pool_give_results_in_task_order() -> None:
    serial = run_tasks(_square_and_pid, [3, 1, 2])
    assert [r for r, _ in serial] == [9, 1, 4] and {p for _, p in serial} == {os.getpid()}
    pooled = run_tasks(_square_and_pid, [3, 1, 2, 5], executor="process", workers=2)
    assert [r for r, _ in pooled] == [9, 1, 4, 25]
    assert os.getpid() not in {p for _, p in pooled}  # ran in the workers
    # one task needs no pool: it runs here
    assert run_tasks(_square_and_pid, [4], executor="process")[0] == (16, os.getpid())
    assert run_tasks(_square_and_pid, [], executor="process") == []


def test_process_pool_caps_threads_and_reraises_a_task_error() -> None:
    assert run_tasks(_threads, [0, 1], executor="process", workers=2, threads=1) == [1, 1]
    with pytest.raises(TrainingError, match="task 3 failed"):
        run_tasks(_fail_on_three, [1, 3, 2], executor="process", workers=2)


def test_bad_executor_choices_name_the_fix() -> None:
    with pytest.raises(ConfigError, match="one of"):
        check_executor("threads", None, None)
    with pytest.raises(ConfigError, match="workers must be an int >= 1"):
        run_tasks(_threads, [1], executor="process", workers=0)
    with pytest.raises(ConfigError, match="with executor 'ray'"):
        check_executor("process", 2, "auto")
    if importlib.util.find_spec("ray") is None:
        with pytest.raises(ConfigError, match="pip install"):
            check_executor("ray", None, None)
    assert 1 <= default_workers(100) and default_workers(1) == 1
