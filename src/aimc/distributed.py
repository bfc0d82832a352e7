"""Data-parallel training of analog models with ``torch.distributed`` (DDP).

Usage (every rank, after ``torch.distributed.init_process_group``; the same seeds on every
rank, so models, devices and generators start identical)::

    model = aimc.convert_to_analog(net, config)          # same torch.manual_seed everywhere
    aimc.calibrate_input_ranges(model, batches)           # before wrapping (see below)
    ddp = aimc.distributed.data_parallel(model)           # DDP + the analog bookkeeping
    opt = torch.optim.SGD(ddp.parameters(), lr)           # or aimc.optim.AnalogSGD
    for x, y in local_batches:                            # equal batch size on every rank
        loss = F.cross_entropy(ddp(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
    aimc.distributed.check_in_sync(model)                 # optional: ranks still agree

What this adds to plain DDP, so that ``world`` ranks with local batches of n reproduce one
process with the global batch of world·n (same loss curve to float tolerance):

* **Per-sample noise** (DAC input noise, read and output noise, on-chip forward/backward
  noise) is drawn for the global batch and sliced (:func:`aimc.physics._random.randn_like`
  with a batch shard): each sample gets the noise it would get in one process, and every
  rank's generators advance alike. Per-layer draws (HWA weight noise, programming) need
  nothing: identical generators on every rank draw identical values.
* **On-chip updates** (in-situ SGD, mixed precision, Tiki-Taka with
  :class:`aimc.optim.AnalogSGD`) come from the recorded (x, δ) pairs, not from ``.grad``:
  before each update every layer all-gathers them in rank order, δ divided by world (DDP
  averages gradients likewise), and every rank applies the same global update with the same
  generator — the devices stay identical without broadcasting them.
* On-chip weights and every analog layer's device state are excluded from DDP's gradient
  reduction and buffer broadcast (they get no ``.grad``; broadcasting conductances every
  forward would hide a rank that drifted apart). :func:`check_in_sync` compares them.

Limits: every rank must hold the same number of samples per batch (``DistributedSampler``
pads or drops to equal shards); the sample axis must lead the layer inputs (batch-first): the
analog LSTM/GRU flatten their (time, batch) inputs time-major, so under DDP their ranks stay in
sync with each other but per-sample noise and the order of gathered records differ from one
process; per-sample randomness outside aimc (dropout) stays per rank;
input ranges initialised from data inside the first training forwards see local batches, so
calibrate them (``aimc.calibrate_input_ranges``) before wrapping.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import Tensor, nn

from aimc.errors import ConfigError, ShapeError, StateError
from aimc.physics._random import BatchShard, batch_shard, set_batch_shard

__all__ = ["enable", "disable", "is_enabled", "data_parallel", "check_in_sync",
           "gather_onchip_records"]

_GROUP: Any = None


def _dist() -> Any:
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        raise StateError("torch.distributed is not initialised: call "
                         "torch.distributed.init_process_group(...) first (torchrun sets the "
                         "environment for it)")
    return dist


def enable(group: Any = None) -> BatchShard:
    """Shard per-sample noise and gather on-chip updates over ``group`` (default: the whole
    world) in this process; returns the shard (rank, world)."""
    global _GROUP
    dist = _dist()
    shard = BatchShard(dist.get_rank(group), dist.get_world_size(group))
    set_batch_shard(shard)
    _GROUP = group
    return shard


def disable() -> None:
    """Back to single-process behaviour."""
    global _GROUP
    set_batch_shard(None)
    _GROUP = None


def is_enabled() -> bool:
    """Whether :func:`enable` is in effect."""
    return batch_shard() is not None


def _analog_state_names(model: nn.Module) -> list[str]:
    """Parameters and buffers DDP must leave alone: on-chip weights (no ``.grad``) and the
    buffers of tile arrays and on-chip states (device conductances, counters, time)."""
    from aimc.onchip.registry import arrays_of
    from aimc.tile.array import TileArray

    names = [n for n, p in model.named_parameters()
             if any(t.onchip is not None for t, _ in arrays_of(p))]
    for mod_name, mod in model.named_modules():
        if isinstance(mod, TileArray):
            prefix = f"{mod_name}." if mod_name else ""
            names += [prefix + b for b, _ in mod.named_buffers()]
    return names


def data_parallel(model: nn.Module, **ddp_kwargs: Any) -> nn.parallel.DistributedDataParallel:
    """:func:`enable`, then wrap ``model`` in ``DistributedDataParallel`` with its analog
    device state and on-chip weights left out of DDP's reductions (module docstring).
    ``ddp_kwargs`` go to DDP (e.g. ``device_ids`` on CUDA)."""
    from aimc.convert import analog_layers

    if not isinstance(model, nn.Module):
        raise ConfigError(f"data_parallel wraps an nn.Module, got {type(model).__name__}")
    if isinstance(model, nn.parallel.DistributedDataParallel):
        raise ConfigError("the model is already wrapped in DistributedDataParallel; pass the "
                          "module itself")
    if not analog_layers(model):
        raise StateError("data_parallel: the model has no analog layers; convert it with "
                         "aimc.convert_to_analog first (plain DDP serves digital models)")
    enable(ddp_kwargs.get("process_group"))
    nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
        model, _analog_state_names(model))
    try:
        return nn.parallel.DistributedDataParallel(model, **ddp_kwargs)
    except Exception:
        disable()
        raise


def gather_onchip_records(records: list[tuple[Tensor, Tensor]]) -> list[tuple[Tensor, Tensor]]:
    """All ranks' recorded (x, δ) pairs, concatenated along the sample axis in rank order,
    δ divided by world (the gradient of the mean over ranks, as DDP averages). Every rank
    must hold as many records of the same shapes (the same layers, equal local batches)."""
    shard = batch_shard()
    if shard is None or shard.world == 1:
        return records
    dist = _dist()
    world = shard.world
    # collectives need tensors where the backend lives (NCCL: CUDA only)
    if records:
        where = records[0][0].device
    elif dist.get_backend(_GROUP) == "nccl":
        where = torch.device("cuda", torch.cuda.current_device())
    else:
        where = torch.device("cpu")
    sizes = torch.tensor([len(records)] + [v for x, d in records for v in
                                           (*x.shape, *d.shape)], dtype=torch.long,
                         device=where)
    n = torch.tensor([sizes.numel()], dtype=torch.long, device=where)
    counts = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(counts, n, group=_GROUP)
    if any(int(c) != int(n) for c in counts):
        raise ShapeError("on-chip update: the ranks recorded different numbers or ranks of "
                         "backward passes; run the same model on equal batches everywhere")
    every = [torch.zeros_like(sizes) for _ in range(world)]
    dist.all_gather(every, sizes, group=_GROUP)
    if any(not torch.equal(e, sizes) for e in every):
        raise ShapeError("on-chip update: the ranks' recorded (x, δ) shapes differ; every "
                         "rank needs the same local batch size (DistributedSampler with "
                         "drop_last=True, or equal shards)")
    out = []
    for x, d in records:
        xs = [torch.empty_like(x) for _ in range(world)]
        ds = [torch.empty_like(d) for _ in range(world)]
        dist.all_gather(xs, x.contiguous(), group=_GROUP)
        dist.all_gather(ds, d.contiguous(), group=_GROUP)
        out.append((torch.cat(xs), torch.cat(ds).div_(world)))
    return out


def _fingerprints(model: nn.Module) -> dict[str, str]:
    """A hash per parameter, buffer and on-chip generator state of ``model``."""
    from aimc.onchip.state import OnChipState

    out: dict[str, str] = {}

    def digest(t: Tensor) -> str:
        return hashlib.sha256(t.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy()
                              .tobytes()).hexdigest()[:16]

    for name, p in model.named_parameters():
        out[name] = digest(p)
    for name, b in model.named_buffers():
        out[name] = digest(b)
    for name, mod in model.named_modules():
        if isinstance(mod, OnChipState):
            out[f"{name}.generator"] = digest(mod.generator.get_state())
    return out


def check_in_sync(model: nn.Module, group: Any = None) -> None:
    """Raise :class:`aimc.errors.StateError` unless every rank holds the same parameters,
    buffers (device conductances included) and on-chip generator states; names the first
    entries that differ."""
    dist = _dist()
    if isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module
    mine = _fingerprints(model)
    world = dist.get_world_size(group)
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, mine, group=group)
    differ = sorted({k for other in gathered for k in mine if other.get(k) != mine[k]}
                    | {k for other in gathered for k in other if k not in mine})
    if differ:
        raise StateError(f"the ranks disagree on {len(differ)} entries, e.g. "
                         f"{', '.join(differ[:5])}: seed every rank alike before building the "
                         f"model, give every rank equal batches, and wrap it with "
                         f"aimc.distributed.data_parallel")
