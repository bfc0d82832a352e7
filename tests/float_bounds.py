"""Tolerances for comparing two implementations of the same sums, derived from the arithmetic.

The analog layers in the ideal limit compute exactly the torch layer's function, but their sums
run in a different order: a dot product over ``N`` rows is split into 512-row tiles whose partial
sums are added afterwards, and torch's own kernels block the sum differently on each CPU family
(``ATEN_CPU_CAPABILITY`` = default, avx2, avx512, AMX). Two orders give two roundings, so a
bit-exact comparison is wrong and a fixed ``assert_close`` tolerance holds on some CPUs only.

Model (Higham & Mary, "A new approach to probabilistic rounding error analysis", SIAM J. Sci.
Comput. 41(5), 2019): each floating-point addition contributes an independent error
``δ_k·s_k`` with ``|δ_k| ≤ u`` and mean zero, where ``s_k`` is the partial sum. For ``N`` terms
of random sign (true for the random weights and inputs of these tests) ``|s_k| ≲ √k·σ`` and
``|y| ~ √N·σ``, so the accumulated error of one dot product in the *worst* (recursive) order
has standard deviation

    σ_err ≤ u·√(Σ_k k·σ²/3) = u·N·σ/√6 = u·√(N/6)·|y|_rms ≤ u·√N·max|y|.

Blocked or pairwise orders give less. The difference of two independent orders has at most
``√2·σ_err``; a result that goes through ``S`` sequential stages (the steps of a recurrence,
the layers of a network: each stage's Jacobian has norm ≲ 1 for the saturating gates and the
normalised layers used here) accumulates at most ``S`` such errors. Requiring every element to
lie within ``λ = 5`` standard deviations (a two-sided 5σ event has probability 6e-7 per element,
so the few thousand elements of a test fail with probability < 1e-3) gives

    atol = λ·√2·u·√N·S·max|y_ref|,    rtol = 0,

with ``u`` the unit roundoff of the dtype (2⁻²⁴ for float32, 2⁻⁵³ for float64), ``N`` the
longest sum that feeds the compared tensor (fan-in for outputs, fan-out for input gradients,
batch × positions for weight gradients) and ``max|y_ref|`` the largest magnitude in the
reference tensor.
"""

from __future__ import annotations

import math
import os

import torch
from torch import Tensor

LAMBDA = 5.0  # standard deviations allowed per element (see the module docstring)


def unit_roundoff(dtype: torch.dtype) -> float:
    """``u = 2^-p`` with ``p`` the significand precision of ``dtype`` (round to nearest)."""
    return float(torch.finfo(dtype).eps) / 2.0


def sum_order_atol(reference: Tensor, terms: int, stages: int = 1) -> float:
    """Absolute tolerance for ``reference`` computed by another summation order (docstring).

    Args:
        reference: the tensor from the reference implementation.
        terms: ``N``, the longest sum feeding any element of ``reference`` (≥ 1).
        stages: ``S``, sequential stages whose errors add up (recurrence steps × layers).
    """
    if terms < 1 or stages < 1:
        raise ValueError(f"terms ({terms}) and stages ({stages}) must be ≥ 1")
    scale = float(reference.detach().abs().max()) if reference.numel() else 0.0
    u = unit_roundoff(reference.dtype)
    return LAMBDA * math.sqrt(2.0) * u * math.sqrt(terms) * stages * scale


def assert_close_sum_order(actual: Tensor, reference: Tensor, terms: int, stages: int = 1,
                           what: str = "") -> None:
    """``|actual − reference| ≤ sum_order_atol(reference, terms, stages)`` element-wise."""
    assert actual.shape == reference.shape, f"{what}: shape {actual.shape} ≠ {reference.shape}"
    assert actual.dtype == reference.dtype, f"{what}: dtype {actual.dtype} ≠ {reference.dtype}"
    atol = sum_order_atol(reference, terms, stages)
    err = float((actual.detach() - reference.detach()).abs().max()) if actual.numel() else 0.0
    if log := os.environ.get("AIMC_FLOAT_BOUND_LOG"):  # margins for docs/testing.md
        with open(log, "a") as f:
            f.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '?').split(' ')[0]}\t{what}\t"
                    f"{err:.3e}\t{atol:.3e}\n")
    assert err <= atol, (f"{what}: max |analog − torch| = {err:.3g} exceeds the summation-order "
                         f"bound {atol:.3g} (N={terms}, S={stages}, max|ref|="
                         f"{float(reference.abs().max()):.3g})")
