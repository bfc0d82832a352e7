"""``aimc reproduce nandakumar2020-snn``: supervised spike timing on PCM synapses.

Nandakumar et al., "Experimental demonstration of supervised learning in spiking neural
networks with phase-change memory synapses", Sci. Rep. 10:8080 (2020; arXiv:1905.11929):
a 132 × 168 spiking layer learns, with an event-driven NormAD rule, to answer a spoken word
with output spikes at times that encode the pixels of the matching image; > 85 % of the
desired spikes within ±25 ms of a 1250 ms pattern on PCM hardware; accuracy limited by
programming imprecision and drift; an array-level scaling improves retention. Named
``-snn`` beside :mod:`aimc.experiments.nandakumar2020` (arXiv:2001.11773, the same first
author and year).

**Task** (:mod:`aimc.snn.spike_patterns`): FSDD spoken digits (the paper's spoken letters on
a cochlea chip are not public) through the software cochlea (132 channels), each clip
stretched to the pattern; targets from MNIST digits (14×12 = 168 pixels → spike times).
Training patterns: ``train_per_class`` recordings per digit and speaker from the official
training split; held-out test: the official test recordings (index 0–4) of the same
speakers. One output layer of NormAD LIF neurons (:mod:`aimc.snn.normad`).

**Arms** (:mod:`aimc.snn.signed_synapses`): ``ideal`` (Δw exact), ``pcm_x<N>`` (N PCM
devices per sign, SET-only, χ accumulator, drift and read noise), ``cu-sio2-w`` (one bipolar
memristor per synapse). Each pattern presentation advances the experiment's clock by the
pattern length, so devices drift during training too. After training every PCM arm is read
at 1 s … 1 month later, without and with array-level scaling.

**Resuming.** An arm checkpoints (atomically) after each epoch — synapse state, generators,
clock, history — and a finished arm is ``OUT/arms/<arm>.json``, reused on a re-run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from aimc.config.audio import Cochlea
from aimc.config.base import ConfigBase, config
from aimc.config.normad import NormADNeuron
from aimc.errors import CheckpointError, ConfigError, DataError
from aimc.experiments.diehlcook2015 import _save_checkpoint as save_checkpoint
from aimc.experiments.nandakumar2020 import _load_arm, derived_seed
from aimc.experiments.progress import progress
from aimc.experiments.provenance import code_block, portable_path
from aimc.experiments.report import write_json
from aimc.experiments.run_folder import open_run_folder
from aimc.snn.normad import (
    MatchCounts,
    filter_spikes,
    match_spikes,
    normad_update,
    psp_kernel,
    simulate,
)
from aimc.snn.signed_synapses import (
    IdealSignedSynapses,
    MemristorSignedSynapses,
    PCMSignedSynapses,
    SignedSynapses,
)

__all__ = ["SNNSettings", "run_nandakumar2020_snn", "PAPER", "TARGET", "SYNAPSES"]

PAPER = ("Nandakumar et al., Sci. Rep. 10:8080 (2020), arXiv:1905.11929; Cu/SiO2/W arm "
         "after arXiv:2001.09299")
TARGET = 0.85  # the paper's "> 85 % of the spikes within ±25 ms" on PCM hardware
SYNAPSES = ("ideal", "pcm", "cu-sio2-w")
MODES = ("full", "quick")
Log = Callable[[str], None]


@config
class SNNSettings(ConfigBase):
    """What ``aimc reproduce nandakumar2020-snn`` runs (assumptions: module docstring).

    Attributes:
        mode: ``"full"`` or ``"quick"`` (:meth:`quick`).
        seed: master seed (pattern order, device draws, read noise per arm).
        speakers: FSDD speakers whose recordings are used.
        train_per_class: training recordings per digit and speaker (official split).
        synapses: from :data:`SYNAPSES`; ``pcm`` runs once per entry of ``devices``.
        devices: PCM devices per sign N.
        epochs: passes over the training patterns.
        rate: NormAD's r (mV).
        w_max: the weight range ±w_max (mV) of every arm.
        channels: cochlea channels (= inputs).
        pattern_ms, dt: pattern length and grid (ms).
        t_first, t_last, cut: target-time range (ms) and the intensity below which a pixel
            asks for silence.
        tolerance_ms: the matching window half-width (ms).
        drift_times_s: read times after the end of training (s).
        eval_batch: samples per evaluation batch (one array read per batch).
    """

    mode: str = "full"
    seed: int = 0
    speakers: tuple[str, ...] = ("jackson",)
    train_per_class: int = 1
    synapses: tuple[str, ...] = SYNAPSES
    devices: tuple[int, ...] = (1, 2, 4, 8)
    epochs: int = 100
    rate: float = 3.0
    w_max: float = 40.0
    channels: int = 132
    pattern_ms: float = 1250.0
    dt: float = 1.0
    t_first: float = 100.0
    t_last: float = 1150.0
    cut: float = 0.25
    tolerance_ms: float = 25.0
    drift_times_s: tuple[float, ...] = (1.0, 60.0, 3600.0, 86400.0, 2592000.0)
    eval_batch: int = 64

    def _validate(self) -> None:
        from aimc.data.audio import FSDD_SPEAKERS

        n = "SNNSettings"
        if self.mode not in MODES:
            raise ConfigError(f"{n}.mode must be one of {MODES}, got {self.mode!r}")
        for f, lo in (("seed", 0), ("train_per_class", 1), ("epochs", 1), ("channels", 1),
                      ("eval_batch", 1)):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ConfigError(f"{n}.{f} must be an integer >= {lo}, got {v!r}")
        if self.train_per_class > 45:
            raise ConfigError(f"{n}.train_per_class: the official training split holds 45 "
                              f"recordings per digit and speaker, got {self.train_per_class}")
        bad = [s for s in self.speakers if s not in FSDD_SPEAKERS] or not self.speakers
        if bad:
            raise ConfigError(f"{n}.speakers must be FSDD speakers from {FSDD_SPEAKERS}, got "
                              f"{self.speakers!r}")
        unknown = [s for s in self.synapses if s not in SYNAPSES]
        if unknown or not self.synapses:
            raise ConfigError(f"{n}.synapses must come from {SYNAPSES}, got {self.synapses!r}")
        if any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in self.devices) \
                or not self.devices:
            raise ConfigError(f"{n}.devices must be integers >= 1 (PCM devices per sign), got "
                              f"{self.devices!r}")
        for f in ("rate", "w_max", "tolerance_ms", "cut"):
            v = getattr(self, f)
            if not isinstance(v, (int, float)) or not v > 0:
                raise ConfigError(f"{n}.{f} must be > 0, got {v!r}")
        if any(not t > 0 for t in self.drift_times_s):
            raise ConfigError(f"{n}.drift_times_s must be > 0 s, got {self.drift_times_s!r}")
        self.neuron()
        self.cochlea()
        from aimc.snn.spike_patterns import desired_trains

        desired_trains(torch.ones(1, 1), self.steps, self.dt, self.t_first, self.t_last,
                       self.cut)

    @classmethod
    def quick(cls, **changes: Any) -> SNNSettings:
        """``--quick``: 20 epochs, PCM with 1 and 4 devices per sign, three drift times —
        about a minute, short of the full run's accuracy."""
        base: dict[str, Any] = {"mode": "quick", "epochs": 20, "devices": (1, 4),
                                "drift_times_s": (1.0, 86400.0, 2592000.0)}
        base.update(changes)
        return cls(**base)

    @property
    def steps(self) -> int:
        return round(self.pattern_ms / self.dt)

    def neuron(self) -> NormADNeuron:
        return NormADNeuron(dt=self.dt)

    def cochlea(self) -> Cochlea:
        return Cochlea(channels=self.channels)

    def arms(self) -> list[tuple[str, str, int]]:
        """(name, synapse, devices per sign) of every arm, in run order."""
        out = []
        for s in self.synapses:
            if s == "pcm":
                out += [(f"pcm_x{n}", "pcm", n) for n in self.devices]
            else:
                out.append((s, s, 1))
        return out

    def fingerprint(self, synapse: str, devices: int) -> str:
        d = self.to_dict()
        for k in ("mode", "synapses", "devices"):  # eval_batch stays: one read per batch
            d.pop(k, None)
        d.update(synapse=synapse, n=devices)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_synapses(synapse: str, devices: int, settings: SNNSettings, arm: str
                  ) -> SignedSynapses:
    """The arm's synapse array (device draws seeded by (seed, arm))."""
    n_in, n_out = settings.channels, 168
    gen = _generator(derived_seed(settings.seed, arm, 1))
    if synapse == "ideal":
        return IdealSignedSynapses(n_in, n_out, settings.w_max)
    if synapse == "pcm":
        return PCMSignedSynapses(n_in, n_out, devices_per_sign=devices,
                                 w_max=settings.w_max, generator=gen)
    return MemristorSignedSynapses(n_in, n_out, w_max=settings.w_max, generator=gen)


# --------------------------------------------------------------------------- data
def data_dirs(data: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    """(fsdd, mnist) folders under a data root (``data`` or ``$AIMC_DATA``)."""
    from aimc.data import resolve_data_dir

    if data is None:
        return resolve_data_dir(None, "fsdd"), resolve_data_dir(None, "mnist")
    root = Path(data).expanduser()
    fsdd, mnist = root / "fsdd", root / "mnist"
    if not fsdd.is_dir() or not mnist.is_dir():
        raise DataError(f"{root} must hold fsdd/ (the Free Spoken Digit Dataset's "
                        f"recordings/) and mnist/ (the MNIST IDX files); pass the data root, "
                        f"e.g. --data ../shared/data")
    return fsdd, mnist


def load_task(settings: SNNSettings, fsdd: Path, mnist: Path) -> dict[str, Any]:
    """Input spikes, labels and desired trains of the training and test patterns."""
    from aimc.data import load_fsdd, load_mnist
    from aimc.snn.spike_patterns import desired_trains, encode_clip, target_images

    train_clips = [c for c in load_fsdd(fsdd, "train", speakers=settings.speakers)
                   if c.index < 5 + settings.train_per_class]
    test_clips = load_fsdd(fsdd, "test", speakers=settings.speakers)
    coch = settings.cochlea()

    def encode(clips: list[Any]) -> Tensor:
        return torch.stack([encode_clip(c.samples, c.rate, coch, settings.steps)
                            for c in clips], dim=1)  # (T, N, channels)

    x, y = load_mnist(mnist, "train", limit=1000).tensors
    images = target_images(x, y)
    desired = desired_trains(images, settings.steps, settings.dt, settings.t_first,
                             settings.t_last, settings.cut)
    return {"x_train": encode(train_clips),
            "y_train": torch.tensor([c.label for c in train_clips]),
            "x_test": encode(test_clips), "y_test": torch.tensor([c.label for c in test_clips]),
            "desired": desired, "images": images,
            "train_names": [c.path.name for c in train_clips],
            "test_names": [c.path.name for c in test_clips]}


# --------------------------------------------------------------------------- one arm
def evaluate(syn: SignedSynapses, x: Tensor, y: Tensor, desired: Tensor,
             settings: SNNSettings, t_s: float, *, scaled: bool = False,
             generator: torch.Generator | None = None) -> MatchCounts:
    """Spike-time matches over ``x`` (T, N, channels), the array read at ``t_s``."""
    cfg = settings.neuron()
    kernel = psp_kernel(cfg)
    total = MatchCounts(0, 0, 0)
    for i in range(0, x.shape[1], settings.eval_batch):
        u = filter_spikes(x[:, i:i + settings.eval_batch], kernel)
        w = syn.read(t_s, scaled=scaled, generator=generator)
        out = simulate(u, w, cfg)
        want = desired[y[i:i + settings.eval_batch]].transpose(0, 1)
        total = total + match_spikes(want, out, settings.tolerance_ms, settings.dt)
    return total


def _counts(m: MatchCounts) -> dict[str, Any]:
    return {"within": m.recall, "precision": m.precision, "matched": m.matched,
            "desired": m.desired, "observed": m.observed}


def train_arm(arm: str, synapse: str, devices: int, settings: SNNSettings,
              task: dict[str, Any], arm_dir: Path, *, show_progress: bool = True,
              log: Log = print, stop_after: int | None = None) -> dict[str, Any] | None:
    """Train, evaluate and drift-test one arm, resuming from ``arm_dir/checkpoint.pt``.

    ``stop_after`` (tests): return None after that many epochs of this call.
    """
    fingerprint = settings.fingerprint(synapse, devices)
    arm_dir.mkdir(parents=True, exist_ok=True)
    ckpt = arm_dir / "checkpoint.pt"
    syn = make_synapses(synapse, devices, settings, arm)
    order_gen = _generator(derived_seed(settings.seed, arm, 2))
    read_gen = _generator(derived_seed(settings.seed, arm, 3))
    cfg = settings.neuron()
    kernel = psp_kernel(cfg)
    x, y, desired = task["x_train"], task["y_train"], task["desired"]
    u_train = filter_spikes(x, kernel)
    pattern_s = settings.pattern_ms / 1000.0
    epoch, clock, history, elapsed = 0, 0.0, [], 0.0
    if ckpt.is_file():
        try:
            state = torch.load(ckpt, weights_only=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable file
            raise CheckpointError(f"{ckpt} is unreadable ({exc}); delete it to restart the "
                                  f"arm") from exc
        if isinstance(state, dict) and state.get("fingerprint") == fingerprint:
            syn.load_state_dict(state["synapses"])
            order_gen.set_state(state["order"])
            read_gen.set_state(state["read"])
            epoch, clock, history = state["epoch"], state["clock"], state["history"]
            elapsed = state["train_time_s"]
            log(f"{arm}: resuming after epoch {epoch}")
    bar = progress(total=settings.epochs, desc=arm, enabled=show_progress)
    bar.update(epoch)
    done_here = 0
    while epoch < settings.epochs:
        t0 = time.perf_counter()
        for i in torch.randperm(x.shape[1], generator=order_gen).tolist():
            w = syn.read(clock, generator=read_gen)
            u = u_train[:, i:i + 1]
            out = simulate(u, w, cfg)
            syn.program(normad_update(u, desired[int(y[i])].unsqueeze(1), out, settings.rate),
                        clock)
            clock += pattern_s
        elapsed += time.perf_counter() - t0
        train = evaluate(syn, x, y, desired, settings, clock, generator=read_gen)
        test = evaluate(syn, task["x_test"], task["y_test"], desired, settings, clock,
                        generator=read_gen)
        history.append({"epoch": epoch + 1, "train": _counts(train), "test": _counts(test),
                        "pulses": syn.pulses})
        epoch += 1
        done_here += 1
        bar.update()
        bar.set_postfix_str(f"train {100 * train.recall:.1f} %")
        save_checkpoint(ckpt, {"fingerprint": fingerprint, "epoch": epoch, "clock": clock,
                     "history": history, "synapses": syn.state_dict(),
                     "order": order_gen.get_state(), "read": read_gen.get_state(),
                     "train_time_s": elapsed})
        if stop_after is not None and done_here >= stop_after and epoch < settings.epochs:
            bar.close()
            return None
    bar.close()
    last = history[-1]
    log(f"{arm}: {100 * last['train']['within']:.1f} % of desired spikes within "
        f"±{settings.tolerance_ms:g} ms (train), {100 * last['test']['within']:.1f} % (test)")
    drift = []
    if synapse == "pcm":
        syn.calibrate(clock)
        for t in settings.drift_times_s:
            for scaled in (False, True):
                gen = _generator(derived_seed(settings.seed, arm, 4, int(t)))
                tr = evaluate(syn, x, y, desired, settings, clock + t, scaled=scaled,
                              generator=gen)
                te = evaluate(syn, task["x_test"], task["y_test"], desired, settings,
                              clock + t, scaled=scaled, generator=gen)
                drift.append({"t_s": t, "scaling": scaled, "train": _counts(tr),
                              "test": _counts(te)})
    torch.save(syn.state_dict(), arm_dir / "synapses.pt")
    example = _example(syn, settings, task, clock)
    return {"arm": arm, "synapse": synapse,
            "devices_per_sign": devices if synapse == "pcm" else None,
            "devices_per_synapse": {"ideal": 0, "pcm": 2 * devices, "cu-sio2-w": 1}[synapse],
            "epochs": settings.epochs, "patterns": int(x.shape[1]),
            "train_within": last["train"]["within"], "test_within": last["test"]["within"],
            "train_precision": last["train"]["precision"],
            "test_precision": last["test"]["precision"], "pulses": syn.pulses,
            "history": history, "drift": drift, "example": example,
            "fingerprint": fingerprint, "train_time_s": round(elapsed, 3),
            "train_patterns_per_s": round(settings.epochs * x.shape[1] / max(elapsed, 1e-9),
                                          2)}


def _example(syn: SignedSynapses, settings: SNNSettings, task: dict[str, Any],
             clock: float) -> dict[str, Any]:
    """Desired and observed spike times (ms) of the first training pattern (for the raster)."""
    cfg = settings.neuron()
    u = filter_spikes(task["x_train"][:, :1], psp_kernel(cfg))
    out = simulate(u, syn.read(clock, generator=_generator(0)), cfg)[:, 0]
    want = task["desired"][int(task["y_train"][0])]

    def events(t: Tensor) -> list[list[float]]:
        k, n = torch.nonzero(t, as_tuple=True)
        return [[float(a) * settings.dt, int(b)] for a, b in zip(k, n, strict=True)]

    return {"pattern": task["train_names"][0], "desired": events(want), "observed": events(out)}


# --------------------------------------------------------------------------- the run
def run_nandakumar2020_snn(settings: SNNSettings, out_dir: str | os.PathLike[str], *,
                           data: str | os.PathLike[str] | None = None,
                           show_progress: bool = True, log: Log | None = None,
                           command: str | None = None,
                           allow_other_code: bool = False) -> dict[str, Any]:
    """Run (or resume) every arm; write ``metrics.json``, plots and ``report.md``."""
    from aimc.experiments import nandakumar2020_snn_report as report
    from aimc.experiments.nandakumar2020 import machine_info

    if not isinstance(settings, SNNSettings):
        raise ConfigError(f"settings must be an SNNSettings, got {type(settings).__name__}; "
                          f"e.g. SNNSettings.quick()")
    fsdd, mnist = data_dirs(data)
    out, history, log_line = open_run_folder(out_dir, allow_other_code=allow_other_code,
                                             log=log)

    t_load = time.perf_counter()
    task = load_task(settings, fsdd, mnist)
    log_line(f"run {out}: mode {settings.mode}, {task['x_train'].shape[1]} training and "
             f"{task['x_test'].shape[1]} test patterns (encoded in "
             f"{time.perf_counter() - t_load:.1f} s), arms "
             f"{', '.join(a for a, _, _ in settings.arms())}")
    metrics: dict[str, Any] = {
        "name": "nandakumar2020-snn", "paper": PAPER, "mode": settings.mode,
        "settings": settings.to_dict(), "command": command, "machine": machine_info(),
        "code": code_block(history), "date": time.strftime("%Y-%m-%d"),
        "data": {"fsdd": portable_path(fsdd, data), "mnist": portable_path(mnist, data)},
        "target": TARGET, "task": {"train": task["train_names"], "test": task["test_names"],
                                   "desired_spikes_per_class":
                                       task["desired"].sum(dim=(1, 2)).tolist()},
        "arms": {}}
    t_start = time.perf_counter()
    for arm, synapse, devices in settings.arms():
        path = out / "arms" / f"{arm}.json"
        result = _load_arm(path, settings.fingerprint(synapse, devices))
        if result is not None:
            log_line(f"{arm}: done (loaded {path.name})")
        else:
            log_line(f"{arm}: training {settings.epochs} epochs ...")
            result = train_arm(arm, synapse, devices, settings, task, out / "arms" / arm,
                               show_progress=show_progress, log=log_line)
            assert result is not None
            result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            write_json(path, result)
        metrics["arms"][arm] = result
        metrics["summary"] = report.summarise(metrics)
        metrics["wall_time_s"] = round(time.perf_counter() - t_start, 3)
        report.write_outputs(out, metrics, task)
    written = report.write_outputs(out, metrics, task)
    log_line(f"wrote {out}/: " + ", ".join(sorted(p.name for p in written.values())))
    return metrics
