"""Input checks shared by the reference workloads (private).

The checks run in Python on shapes and dtypes only, except :func:`check_tokens`, which also
checks the token range (one device sync; skipped while ``torch.compile`` traces).
"""

from __future__ import annotations

import torch
from torch import Tensor

from aimc.errors import ShapeError

__all__: list[str] = []


def check_images(x: object, model: str, channels: int) -> Tensor:
    """``x`` as (N, channels, H, W) floating tensor, or a ShapeError that names the fix."""
    if not isinstance(x, Tensor):
        raise ShapeError(f"{model} expects a tensor of images (N, {channels}, H, W), got "
                         f"{type(x).__name__}")
    if not x.is_floating_point():
        raise ShapeError(f"{model} expects floating-point images, got {x.dtype}; convert with "
                         "x.float() (and normalise, e.g. x / 255)")
    if x.dim() != 4 or x.shape[1] != channels:
        raise ShapeError(f"{model} expects images of shape (N, {channels}, H, W), got "
                         f"{tuple(x.shape)}; add the batch dim with x.unsqueeze(0) or move "
                         "channels first with x.permute(0, 3, 1, 2)")
    return x


def check_tokens(tokens: object, model: str, vocab_size: int, max_len: int | None = None
                 ) -> Tensor:
    """``tokens`` as an integer (N, L) tensor with ids in [0, vocab_size), else ShapeError."""
    if not isinstance(tokens, Tensor):
        raise ShapeError(f"{model} expects a tensor of token ids (N, L), got "
                         f"{type(tokens).__name__}")
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise ShapeError(f"{model} expects integer token ids (torch.long), got {tokens.dtype}; "
                         "convert with tokens.long()")
    if tokens.dim() != 2:
        raise ShapeError(f"{model} expects token ids of shape (N, L), got "
                         f"{tuple(tokens.shape)}; add the batch dim with tokens.unsqueeze(0)")
    if tokens.shape[1] == 0:
        raise ShapeError(f"{model} got empty sequences (L = 0)")
    if max_len is not None and tokens.shape[1] > max_len:
        raise ShapeError(f"{model} takes sequences of at most max_len={max_len} tokens, got "
                         f"L = {tokens.shape[1]}; truncate the input or build the model with a "
                         "larger max_len")
    if not torch.compiler.is_compiling() and tokens.numel():
        lo, hi = torch.stack(torch.aminmax(tokens)).tolist()  # one device sync
        if lo < 0 or hi >= vocab_size:
            raise ShapeError(f"{model} has vocab_size={vocab_size} but got token ids in "
                             f"[{lo}, {hi}]; ids must lie in [0, {vocab_size - 1}]")
    if tokens.dtype not in (torch.long, torch.int):
        tokens = tokens.long()  # nn.Embedding takes int32/int64 only
    return tokens
