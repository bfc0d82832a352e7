"""Run an experiment's independent tasks: one after another, in a local process pool, or on
a Ray cluster.

An experiment hands :func:`run_tasks` a module-level function and a list of picklable task
arguments; results come back in task order. Tasks must not share state except through
their own files (each rasch2023 workload writes only under ``OUT/<workload>/``), and every
random stream a task uses must be seeded from the task itself, so that the numbers do not
depend on which executor ran it, on which worker, or in which order.

Executors (:data:`EXECUTORS`):

* ``"serial"`` — in this process (the default of the library functions);
* ``"process"`` — a local pool of ``workers`` processes (``spawn`` start method: no forked
  OpenMP state), each capped at ``threads`` torch threads and killed by the kernel if the
  caller dies (Linux); a single task runs in the calling process;
* ``"ray"`` — Ray tasks (``pip install ray``, the ``distributed`` extra): a local Ray
  instance with ``workers`` CPUs, or an existing cluster at ``address`` (``"auto"`` or
  ``"ray://host:10001"``); each task asks for one CPU.

Stopping: ^C or SIGTERM in the caller stops the workers too (the process pool's children
are terminated, Ray tasks cancelled); files stay whole because every task writes
atomically, and the experiment's resume logic takes over on the next run.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from aimc.errors import ConfigError

__all__ = ["EXECUTORS", "run_tasks", "default_workers", "check_executor"]

EXECUTORS = ("serial", "process", "ray")

T = TypeVar("T")
R = TypeVar("R")


def default_workers(n_tasks: int) -> int:
    """min(tasks, CPUs this process may use)."""
    try:
        cpus = len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(n_tasks, cpus))


def check_executor(executor: str, workers: int | None, address: str | None) -> None:
    """Reject a bad executor choice with the fix (before any work starts)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ConfigError(f"workers must be an int >= 1, got {workers!r}")
    if address is not None and executor != "ray":
        raise ConfigError("an address names a Ray cluster; use it with executor 'ray'")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError("executor 'ray' needs Ray: pip install 'aimc[distributed]' (or "
                          "pip install ray), or use executor 'process'")


def _exit_with_parent() -> None:
    """Linux: have the kernel kill this worker when its parent dies (even by SIGKILL), so
    a killed run leaves no orphan still writing into its run folder."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - no prctl
        return


def _init_worker(threads: int) -> None:
    import torch

    _exit_with_parent()
    torch.set_num_threads(threads)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def _call_with_threads(fn: Callable[[Any], Any], task: Any, threads: int) -> Any:
    _init_worker(threads)
    return fn(task)


def run_tasks(fn: Callable[[T], R], tasks: Sequence[T], *, executor: str = "serial",
              workers: int | None = None, address: str | None = None,
              threads: int | None = None) -> list[R]:
    """``[fn(t) for t in tasks]`` on the chosen executor, results in task order.

    Args:
        fn: a module-level (picklable) function of one task.
        tasks: picklable task arguments.
        executor: one of :data:`EXECUTORS`.
        workers: parallel tasks (default :func:`default_workers`); ignored by ``serial``.
        address: Ray cluster address (``ray`` only; default: start a local instance).
        threads: torch threads per task (default: CPUs / workers, at least 1).

    Raises:
        ConfigError: a bad executor, worker count or address, or Ray not installed.
        Whatever a task raised (the first failure, in task order, for ``process``/``ray``;
        the other tasks are stopped).
    """
    check_executor(executor, workers, address)
    if executor == "serial" or not tasks or (executor == "process" and len(tasks) == 1):
        return [fn(t) for t in tasks]  # one local task: no pool needed
    n = workers or default_workers(len(tasks))
    per_task = threads or max(1, default_workers(10**6) // n)
    if executor == "process":
        return _run_process_pool(fn, tasks, n, per_task)
    return _run_ray(fn, tasks, n, address, per_task)


def _run_process_pool(fn: Callable[[T], R], tasks: Sequence[T], workers: int,
                      threads: int) -> list[R]:
    pool = ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads,))
    try:
        futures = [pool.submit(fn, t) for t in tasks]
        results = [f.result() for f in futures]
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):  # stop running tasks
            proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def _run_ray(fn: Callable[[T], R], tasks: Sequence[T], workers: int, address: str | None,
             threads: int) -> list[R]:
    import ray

    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
        if address is None:
            kwargs["num_cpus"] = workers
        ray.init(address=address, **kwargs)
        started = True
    remote = ray.remote(num_cpus=1, max_retries=0)(_call_with_threads)
    refs = [remote.remote(fn, t, threads) for t in tasks]
    try:
        return list(ray.get(refs))
    except BaseException as exc:
        for ref in refs:
            ray.cancel(ref, force=True)
        cause = getattr(exc, "cause", None)  # a task's own exception, re-raised as itself
        if isinstance(cause, BaseException) and not isinstance(exc, KeyboardInterrupt):
            raise cause from None
        raise
    finally:
        if started:
            ray.shutdown()
