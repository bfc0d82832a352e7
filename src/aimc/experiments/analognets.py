"""``aimc reproduce analognets``: always-on KWS / VWW on PCM compute-in-memory, with cost.

Zhou et al., "AnalogNets: ML-HW Co-Design of Noise-robust TinyML Models and Always-On
Analog Compute-in-Memory Accelerator", arXiv:2111.06503 (physics.md §2): networks trained
for PCM drift, read/write noise, a fixed ADC gain and 4–8-bit converters lose 0.8 % (KWS)
and 1.2 % (VWW) accuracy after 24 h of drift at 8 bit; the layer-serial AON-CiM chip runs
them at 8.58 / 4.37 TOPS/W (8 bit) and 57.39 / 25.69 TOPS/W (4 bit).

**Data.** FSDD (``fsdd``, spoken digits at 8 kHz, the official split: 2,700 training and
300 test recordings) is a second KWS task with a real held-out split, through the same MFCC
front end at 8 kHz (``FSDD_MFCC``). KWS: the 1,000-clip MLPerf Tiny Speech Commands subset
(``speech_commands_v2_subset``) through our MFCC front end (:mod:`aimc.data.mfcc`); VWW: the
1,000-image MLPerf Tiny subset (``vww_subset``). Both are evaluation subsets: we train on a
seeded, class-stratified 80 % and test on the other 20 % (speakers may overlap: the file
names do not identify them), so accuracies are for relative comparisons (FP vs analog),
not against the paper's.

**Per task and bit width** (models :func:`aimc.models.analognet_kws` /
:func:`~aimc.models.analognet_vww`, dense CiM-shaped convolutions):

1. ``fp`` — the FP model, Adam, ``fp_epochs`` (shared by all bit widths);
2. ``direct`` — the FP weights mapped with :func:`aimc.presets.analognets` (bits): input
   ranges and then each layer's ADC range calibrated once on training data (the fixed ADC
   gain, :func:`aimc.calibrate_adc_ranges`; ``adc_gain="global"`` keeps the preset's one
   ±10 range), programmed;
3. ``hwa`` — the same calibration on the converted FP model (input ranges at
   init_std_alpha·std, as HWA training initialises them), then fine-tuned from the FP
   weights for ``hwa_epochs`` (80) with the same crossbar and the fixed ADC ranges in the
   forward pass. Default recipe (drift-aware): every forward pass draws the weights the
   programmed devices read 24 h after programming
   (:class:`~aimc.config.DeviceStateWeightNoise`: programming noise, drift-exponent spread,
   1/f read noise; the crossbar and its ADC see the drifted array, drift compensation acts
   on the digital output scale, as on the chip), distillation from the FP model (α 0.5,
   T 2), Gaussian weight clipping at 2.5σ, learned input ranges and output scales with
   channel-wise remapping (the recipe of :func:`aimc.presets.rasch2023_hwa`); then
   programmed. ``hwa_noise="programming"`` injects PCM programming noise only
   (:class:`~aimc.config.ProgrammingWeightNoise`). What each part of the recipe does:
   ``aimc reproduce analognets-recipes`` (:mod:`aimc.experiments.analognets_recipes`).

Each analog model is programmed ``programmings`` times (independent seeds) and evaluated at
each of ``times`` (s after programming) with global drift compensation; the cost of the HWA
model on the default layer-serial accelerator (:mod:`aimc.cost`) is measured on test inputs
at 24 h after the first programming.

**Resuming.** Every finished stage writes ``OUT/arms/<task>_<stage>.json`` (and the trained
weights ``.pt``); a re-run skips finished stages.
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
from torch import Tensor, nn

import aimc
from aimc import cost
from aimc.config.audio import MFCC
from aimc.config.base import ConfigBase, config
from aimc.config.training import (
    DeviceStateWeightNoise,
    GaussianClip,
    HWATraining,
    ProgrammingWeightNoise,
)
from aimc.errors import ConfigError, DataError
from aimc.experiments.progress import progress
from aimc.experiments.provenance import code_block, portable_path
from aimc.experiments.report import write_json
from aimc.experiments.run_folder import open_run_folder
from aimc.train import attach_hwa_constraints, distillation_loss

__all__ = ["AnalogNetsSettings", "run_analognets", "load_task", "TASKS", "PAPER"]

TASKS = ("kws", "vww", "fsdd")
ADC_GAINS = ("per_layer", "global")
HWA_NOISES = ("programming", "device_state")
#: the paper's figures (arXiv:2111.06503 abstract; IEEE Micro for 6 bit)
PAPER = {"drop_24h_8bit": {"kws": 0.8, "vww": 1.2, "fsdd": None},
         "tops_per_w_arxiv": {"kws": {8: 8.58, 4: 57.39}, "vww": {8: 4.37, 4: 25.69}},
         "tops_per_w_ieee_micro": {"kws": {8: 8.55, 6: 26.55, 4: 56.67},
                                   "vww": {8: 4.34, 6: 12.64, 4: 25.2}}}
_MODELS = {"kws": "analognet_kws", "vww": "analognet_vww", "fsdd": "analognet_kws"}
_FOLDERS = {"kws": "speech_commands_v2_subset", "vww": "vww_subset", "fsdd": "fsdd"}
#: FSDD (8 kHz) through the same front end scaled to its rate: 30 ms / 20 ms frames, 1 s
FSDD_MFCC = MFCC(sample_rate=8000, clip_samples=8000, frame_length=240, frame_step=160,
                 fft_length=256)


@config
class AnalogNetsSettings(ConfigBase):
    """What ``aimc reproduce analognets`` runs (defaults: the full run).

    Attributes:
        tasks: subset of ("kws", "vww", "fsdd").
        bits: converter bit widths (2..12).
        fp_epochs, hwa_epochs: training passes.
        batch: mini-batch size. lr: Adam learning rate (HWA uses lr/2).
        programmings: independent programmings per analog model (≥ 1).
        times: seconds after programming to evaluate at.
        test_fraction: share of each class held out for testing.
        cost_samples: test inputs run with cost counters on.
        adc_gain: ``"per_layer"`` — each layer's fixed ADC range calibrated once from
            training data (:func:`aimc.calibrate_adc_ranges`, quantile ``adc_quantile`` of
            |ADC input|); ``"global"`` — one range ±10 for every layer (the preset's).
        adc_quantile: in [0.5, 1].
        adc_recalibrate: with ``"per_layer"``, calibrate the ADC ranges again after HWA
            training, on the trained model (the gain the chip is deployed with); the
            training itself ran with the ranges calibrated before it.
        unsigned_dac: layers whose inputs are ≥ 0 on the training data (after a ReLU;
            :func:`aimc.nonnegative_input_layers`) get an unsigned ``bits``-bit DAC
            (2^bits − 1 levels on [0, r]); False: every DAC is signed (2^(bits−1) − 1
            positive levels).
        hwa_noise: the weight noise HWA training injects: ``"programming"`` — PCM-shaped
            programming noise (:class:`~aimc.config.ProgrammingWeightNoise`);
            ``"device_state"`` — the weights the programmed devices read ``hwa_noise_time``
            s after programming, drift compensated (programming noise, drift spread, 1/f
            read noise: :class:`~aimc.config.DeviceStateWeightNoise`).
        hwa_noise_scale: the ``"programming"`` noise in units of the PCM programming noise
            (its ``scale``; must stay 1 with ``"device_state"``, which has no free scale).
        hwa_noise_time: seconds after programming for ``"device_state"``.
        distill: weight α of distillation from the FP model during HWA training,
            loss = (1 − α)·CE(z, y) + α·T²·KL(softmax(z_FP/T) ‖ softmax(z/T)) (Hinton et
            al. 2015; Rasch et al. 2023 distil from the FP model); 0 switches it off.
        distill_temperature: T of that loss (> 0).
        seed: master seed.
    """

    tasks: tuple[str, ...] = TASKS
    bits: tuple[int, ...] = (8, 6, 4)
    fp_epochs: int = 40
    hwa_epochs: int = 80
    batch: int = 32
    lr: float = 2e-3
    programmings: int = 10
    times: tuple[float, ...] = (1.0, 3600.0, 86400.0, 2592000.0)
    test_fraction: float = 0.2
    cost_samples: int = 64
    adc_gain: str = "per_layer"
    adc_quantile: float = 0.999
    adc_recalibrate: bool = False
    unsigned_dac: bool = True
    hwa_noise: str = "device_state"
    hwa_noise_scale: float = 1.0
    hwa_noise_time: float = 86400.0
    distill: float = 0.5
    distill_temperature: float = 2.0
    seed: int = 0

    def _validate(self) -> None:
        n = "AnalogNetsSettings"
        if not self.tasks or any(t not in TASKS for t in self.tasks):
            raise ConfigError(f"{n}.tasks must be a non-empty subset of {TASKS}, got "
                              f"{self.tasks}")
        if not self.bits or any(isinstance(b, bool) or not isinstance(b, int)
                                or not 2 <= b <= 12 for b in self.bits):
            raise ConfigError(f"{n}.bits must be ints in 2..12 (e.g. 8,6,4), got {self.bits}")
        for f in ("fp_epochs", "hwa_epochs", "batch", "programmings", "cost_samples"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if f == "hwa_epochs"
                                                                      else 1):
                raise ConfigError(f"{n}.{f} must be a positive int, got {v!r}")
        if not self.lr > 0:
            raise ConfigError(f"{n}.lr must be > 0")
        if not self.times or any(not (t >= 0) or t == float("inf") for t in self.times):
            raise ConfigError(f"{n}.times must be finite seconds >= 0, got {self.times}")
        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"{n}.test_fraction must be in (0, 1)")
        if self.adc_gain not in ADC_GAINS:
            raise ConfigError(f"{n}.adc_gain must be one of {ADC_GAINS}, got {self.adc_gain!r}")
        if not isinstance(self.adc_recalibrate, bool):
            raise ConfigError(f"{n}.adc_recalibrate must be True or False")
        if self.adc_recalibrate and self.adc_gain != "per_layer":
            raise ConfigError(f"{n}.adc_recalibrate calibrates per-layer ranges; it needs "
                              f"adc_gain='per_layer' (got {self.adc_gain!r})")
        if not isinstance(self.unsigned_dac, bool):
            raise ConfigError(f"{n}.unsigned_dac must be True or False")
        if self.hwa_noise not in HWA_NOISES:
            raise ConfigError(f"{n}.hwa_noise must be one of {HWA_NOISES}, got "
                              f"{self.hwa_noise!r}")
        if self.hwa_noise == "device_state" and self.hwa_noise_scale != 1.0:
            raise ConfigError(f"{n}.hwa_noise_scale scales the 'programming' noise only; "
                              f"leave it at 1 with hwa_noise='device_state'")
        if not (0 <= self.hwa_noise_time < float("inf")):
            raise ConfigError(f"{n}.hwa_noise_time must be finite seconds >= 0, got "
                              f"{self.hwa_noise_time}")
        if not (self.hwa_noise_scale >= 0) or self.hwa_noise_scale == float("inf"):
            raise ConfigError(f"{n}.hwa_noise_scale must be a finite number >= 0 (1 = the "
                              f"PCM programming noise), got {self.hwa_noise_scale}")
        if not 0.0 <= self.distill <= 1.0:
            raise ConfigError(f"{n}.distill must be in [0, 1] (0: no distillation), got "
                              f"{self.distill}")
        if not (0 < self.distill_temperature < float("inf")):
            raise ConfigError(f"{n}.distill_temperature must be a finite number > 0, got "
                              f"{self.distill_temperature}")
        if not 0.5 <= self.adc_quantile <= 1.0:
            raise ConfigError(f"{n}.adc_quantile must be in [0.5, 1], got {self.adc_quantile}")

    @classmethod
    def quick(cls) -> AnalogNetsSettings:
        """A few minutes: KWS only, 8 and 4 bits, short training, 3 programmings."""
        return cls(tasks=("kws",), bits=(8, 4), fp_epochs=12, hwa_epochs=4, programmings=3,
                   times=(1.0, 86400.0), cost_samples=32)


# ----------------------------------------------------------------------------- data
def _split(labels: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Class-stratified, seeded train/test indices."""
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in labels.unique():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = max(1, round(fraction * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


def load_task(task: str, data: str | os.PathLike[str] | None, settings: AnalogNetsSettings
              ) -> dict[str, Any]:
    """Inputs, labels and the train/test split of ``task``; KWS also the MFCC agreement."""
    root = Path(os.path.expandvars(os.fspath(data))).expanduser() if data is not None else None
    if root is None:
        env = os.environ.get("AIMC_DATA", "").strip()
        if not env:
            raise DataError("no data root: pass --data DIR (holding speech_commands_v2_subset/"
                            " and vww_subset/) or set AIMC_DATA")
        root = Path(env)
    folder = root / _FOLDERS[task]
    if not folder.is_dir():
        raise DataError(f"{folder} does not exist; --data must hold {_FOLDERS[task]}/ (the "
                        "MLPerf Tiny evaluation subset)")
    out: dict[str, Any] = {"folder": folder}
    if task == "fsdd":  # the official split: recordings 0-4 of each speaker and digit test
        from aimc.data.audio import load_fsdd
        from aimc.data.mfcc import fit_length, mfcc

        parts = {}
        for split in ("train", "test"):
            clips = load_fsdd(folder, split)
            audio = torch.stack([fit_length(c.samples, FSDD_MFCC.clip_samples) for c in clips])
            parts[split] = (mfcc(audio, FSDD_MFCC).unsqueeze(1),
                            torch.tensor([c.label for c in clips]))
        (xt, yt), (xe, ye) = parts["train"], parts["test"]
        mean, std = xt.mean(), xt.std().clamp(min=1e-6)
        out.update(x_train=(xt - mean) / std, y_train=yt, x_test=(xe - mean) / std, y_test=ye,
                   classes=10)
        return out
    if task == "kws":
        from aimc.data.mfcc import load_speech_commands_subset, mfcc, mfcc_agreement

        d = load_speech_commands_subset(folder)
        feats = mfcc(d.audio)
        out["agreement"] = mfcc_agreement(feats, d.reference_int8)
        x, y = feats.unsqueeze(1), d.labels
    else:
        from aimc.data.vww import load_vww_subset

        d = load_vww_subset(folder)
        x, y = d.images, d.labels
    tr, te = _split(y, settings.test_fraction, settings.seed)
    mean, std = x[tr].mean(dim=(0, 2, 3), keepdim=True), x[tr].std(dim=(0, 2, 3), keepdim=True)
    x = (x - mean) / std.clamp(min=1e-6)  # per-channel standardisation, training statistics
    out.update(x_train=x[tr], y_train=y[tr], x_test=x[te], y_test=y[te],
               classes=int(y.max()) + 1)
    return out


# ----------------------------------------------------------------------------- train/eval
def _accuracy(model: nn.Module, x: Tensor, y: Tensor, batch: int = 200) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return 100.0 * correct / len(x)


def _loss(logits: Tensor, y: Tensor, teacher: Tensor | None, alpha: float,
          temperature: float) -> Tensor:
    """Cross-entropy, mixed with distillation from ``teacher`` logits when given:
    (1 − α)·CE + α·:func:`aimc.train.distillation_loss` (T²·KL at temperature T)."""
    ce = nn.functional.cross_entropy(logits, y)
    if teacher is None or alpha == 0:
        return ce
    return (1 - alpha) * ce + alpha * distillation_loss(logits, teacher,
                                                        temperature=temperature)


def _train(model: nn.Module, data: dict[str, Any], epochs: int, lr: float, batch: int,
           seed: int, bar_desc: str, show: bool, hwa: bool = False,
           teacher: nn.Module | None = None, distill: float = 0.0,
           temperature: float = 2.0) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1))
    if hwa:
        attach_hwa_constraints(opt, model)
    x, y = data["x_train"], data["y_train"]
    losses = []
    bar = progress(total=epochs, desc=bar_desc, enabled=show)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=g)
        total = 0.0
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            if len(idx) < 2:
                continue
            soft = None
            if teacher is not None and distill > 0:
                with torch.no_grad():
                    soft = teacher(x[idx])
            loss = _loss(model(x[idx]), y[idx], soft, distill, temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        losses.append(total / len(x))
        bar.update(1)
        bar.set_postfix_str(f"loss {losses[-1]:.3f}")
    bar.close()
    return losses


def hwa_config(bits: int, unsigned_dac: bool = False, noise_scale: float = 1.0,
               noise: str = "programming", noise_time: float = 86400.0
               ) -> aimc.config.AnalogConfig:
    """:func:`aimc.presets.analognets` with the HWA-training recipe of the module docstring:
    ``noise="programming"`` injects ``noise_scale`` × the PCM programming noise,
    ``"device_state"`` the devices' compensated state ``noise_time`` s after programming."""
    base = aimc.presets.analognets(bits, unsigned_dac=unsigned_dac)
    weight_noise = (DeviceStateWeightNoise(t_inference=noise_time) if noise == "device_state"
                    else ProgrammingWeightNoise(scale=noise_scale))
    return base.replace(
        mapping=base.mapping.replace(learn_out_scaling=True),
        input_range=base.input_range.replace(learn=True),
        training=HWATraining(weight_noise=weight_noise, clip=GaussianClip(sigma=2.5),
                             remap=True))


def _batches(data: dict[str, Any], size: int = 64) -> list[Tensor]:
    """The training inputs in order, as calibration batches."""
    x = data["x_train"]
    return [x[i:i + size] for i in range(0, len(x), size)]


def _unsigned_layers(fp: nn.Module, data: dict[str, Any], settings: AnalogNetsSettings
                     ) -> list[str]:
    """Layers that get an unsigned DAC (``settings.unsigned_dac``): inputs ≥ 0 on training data."""
    if not settings.unsigned_dac:
        return []
    return aimc.nonnegative_input_layers(fp, _batches(data))


def _fix_adc_gain(model: nn.Module, data: dict[str, Any], settings: AnalogNetsSettings
                  ) -> dict[str, float]:
    """Set the fixed ADC range of every layer (``settings.adc_gain``); returns them by layer.

    The calibration's output noise is drawn from a seeded generator, so a stage re-run
    gets the same ranges.
    """
    if settings.adc_gain == "per_layer":
        aimc.set_noise_generator(model, torch.Generator().manual_seed(settings.seed + 5))
        aimc.calibrate_adc_ranges(model, _batches(data), quantile=settings.adc_quantile)
        aimc.set_noise_generator(model, None)
    return {name: layer.analog_config.forward.adc.bound
            for name, layer in aimc.analog_layers(model)}


def _over_time(model: nn.Module, data: dict[str, Any], settings: AnalogNetsSettings,
               seed: int) -> list[list[float]]:
    """accuracy[programming][time] in %."""
    rows = []
    model.eval()
    for p in range(settings.programmings):
        aimc.program(model, generator=torch.Generator().manual_seed(seed + 1000 * p))
        row = []
        for k, t in enumerate(settings.times):
            with aimc.at_time(model, t, generator=torch.Generator().manual_seed(seed + 1000 * p
                                                                                  + k + 1)):
                aimc.set_noise_generator(model, torch.Generator().manual_seed(seed + p + 7 * k))
                row.append(_accuracy(model, data["x_test"], data["y_test"]))
        rows.append(row)
    aimc.set_noise_generator(model, None)
    return rows


def _cost(model: nn.Module, data: dict[str, Any], settings: AnalogNetsSettings, seed: int
          ) -> dict[str, Any]:
    aimc.program(model, generator=torch.Generator().manual_seed(seed))
    x = data["x_test"][: settings.cost_samples]
    with aimc.at_time(model, 86400.0, generator=torch.Generator().manual_seed(seed + 1)):
        report = cost.measure(model, x)
    return report.to_dict() | {"markdown": report.to_markdown(title=None)}


#: the settings the FP stage depends on (the data split, its training); the others only
#: change the analog stages, so changing them reuses a finished FP model
_FP_SETTINGS = ("fp_epochs", "batch", "lr", "test_fraction", "seed")
#: settings no analog stage depends on (the stage name carries its bit width)
_NOT_ANALOG = ("tasks", "bits")
#: settings only HWA training depends on
_HWA_ONLY = ("hwa_epochs", "adc_recalibrate", "hwa_noise", "hwa_noise_scale",
             "hwa_noise_time", "distill", "distill_temperature", "cost_samples")


def _fingerprint(task: str, stage: str, settings: AnalogNetsSettings) -> str:
    """What a stage's result depends on: for ``fp`` the settings of ``_FP_SETTINGS``, for
    ``direct_*`` every setting but the task list, bit widths and HWA-only ones, for
    ``hwa_*`` every setting but the task list and bit widths."""
    every = settings.to_dict()
    if stage == "fp":
        relevant = {k: every[k] for k in _FP_SETTINGS}
    else:
        skip = _NOT_ANALOG + (_HWA_ONLY if stage.startswith("direct") else ())
        relevant = {k: v for k, v in every.items() if k not in skip}
    blob = json.dumps([task, stage, relevant], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _stage(out: Path, task: str, stage: str, settings: AnalogNetsSettings,
           compute: Callable[[], dict[str, Any]], log: Callable[[str], None]) -> dict[str, Any]:
    """Run ``compute`` unless ``arms/<task>_<stage>.json`` holds a finished result."""
    path = out / "arms" / f"{task}_{stage}.json"
    fp = _fingerprint(task, stage, settings)
    if path.is_file():
        done = json.loads(path.read_text(encoding="utf-8"))
        if done.get("fingerprint") == fp:
            log(f"{task} {stage}: finished earlier, reused")
            return done
    t0 = time.perf_counter()
    result = compute() | {"fingerprint": fp, "seconds": round(time.perf_counter() - t0, 1)}
    write_json(path, result)
    return result


def run_analognets(settings: AnalogNetsSettings, out_dir: str | os.PathLike[str], *,
                   data: str | os.PathLike[str] | None = None, show_progress: bool = True,
                   allow_other_code: bool = False, command: str | None = None,
                   log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume) the experiment; writes ``metrics.json``, plots and ``report.md``."""
    from aimc.experiments.analognets_report import summarise, write_outputs
    from aimc.models import build_model

    out, history, log_line = open_run_folder(out_dir, allow_other_code=allow_other_code,
                                             log=log)
    t_start = time.perf_counter()
    tasks: dict[str, Any] = {}
    for task in settings.tasks:
        d = load_task(task, data, settings)
        seed = settings.seed * 1009 + TASKS.index(task) * 97
        log_line(f"{task}: {len(d['x_train'])} training / {len(d['x_test'])} test samples")
        fp_path = out / "arms" / f"{task}_fp.pt"

        def fp_stage(task: str = task, d: dict[str, Any] = d, seed: int = seed,
                     fp_path: Path = fp_path) -> dict[str, Any]:
            torch.manual_seed(seed)  # initial weights from the seed, not the RNG's history
            model = build_model(_MODELS[task], classes=d["classes"])
            losses = _train(model, d, settings.fp_epochs, settings.lr, settings.batch, seed,
                            f"{task} FP", show_progress)
            torch.save(model.state_dict(), fp_path)
            return {"losses": losses, "accuracy": _accuracy(model, d["x_test"], d["y_test"])}

        fp = _stage(out, task, "fp", settings, fp_stage, log_line)
        log_line(f"{task} FP: test accuracy {fp['accuracy']:.2f} %")
        result: dict[str, Any] = {"fp": fp, "bits": {}, "train_samples": len(d["x_train"]),
                                  "test_samples": len(d["x_test"])}
        if "agreement" in d:
            result["mfcc_agreement"] = d["agreement"]
        for bits in settings.bits:
            def fp_model(task: str = task, d: dict[str, Any] = d,
                         fp_path: Path = fp_path) -> nn.Module:
                m = build_model(_MODELS[task], classes=d["classes"])
                m.load_state_dict(torch.load(fp_path, weights_only=True))
                return m

            def direct_stage(bits: int = bits, d: dict[str, Any] = d,
                             seed: int = seed) -> dict[str, Any]:
                # every stage seeds the global RNG (calibration forwards draw noise from
                # it), so a resumed run gets the numbers of an uninterrupted one
                torch.manual_seed(seed + 1000 + bits)
                fp = fp_model().eval()
                m = aimc.convert_to_analog(fp, aimc.presets.analognets(bits), overrides={
                    n: aimc.presets.analognets(bits, unsigned_dac=True)
                    for n in _unsigned_layers(fp, d, settings)})
                aimc.calibrate_input_ranges(m, _batches(d))
                adc = _fix_adc_gain(m, d, settings)
                return {"accuracy": _over_time(m, d, settings, seed + bits), "adc_bounds": adc}

            def hwa_stage(bits: int = bits, d: dict[str, Any] = d, seed: int = seed,
                          task: str = task) -> dict[str, Any]:
                torch.manual_seed(seed + 2000 + bits)  # as direct_stage
                fp = fp_model()
                noise = {"noise_scale": settings.hwa_noise_scale,
                         "noise": settings.hwa_noise, "noise_time": settings.hwa_noise_time}
                m = aimc.convert_to_analog(fp, hwa_config(bits, **noise), overrides={
                    n: hwa_config(bits, unsigned_dac=True, **noise)
                    for n in _unsigned_layers(fp, d, settings)})
                if settings.hwa_epochs == 0 or settings.adc_gain == "per_layer":
                    # the ADC ranges depend on the DAC scaling: set the input ranges first,
                    # as HWA training would (init_std_alpha·std), then fix the ADC gain
                    aimc.calibrate_input_ranges(m, _batches(d), method="std")
                adc = _fix_adc_gain(m, d, settings)
                teacher = fp_model().eval() if settings.distill > 0 else None
                losses = _train(m, d, settings.hwa_epochs, settings.lr / 2, settings.batch,
                                seed + bits, f"{task} HWA {bits} b", show_progress, hwa=True,
                                teacher=teacher, distill=settings.distill,
                                temperature=settings.distill_temperature)
                extra = {}
                if settings.adc_recalibrate:  # the deployed gain, from the trained model
                    extra["adc_bounds_training"] = adc
                    adc = _fix_adc_gain(m, d, settings)
                acc = _over_time(m, d, settings, seed + 10 * bits)
                return {"losses": losses, "accuracy": acc, "adc_bounds": adc, **extra,
                        "cost": _cost(m, d, settings, seed + 99)}

            direct = _stage(out, task, f"direct_{bits}b", settings, direct_stage, log_line)
            hwa = _stage(out, task, f"hwa_{bits}b", settings, hwa_stage, log_line)
            result["bits"][str(bits)] = {"direct": direct, "hwa": hwa}
            log_line(f"{task} {bits} b: direct {_mean_at(direct, settings, 86400.0)}, HWA "
                     f"{_mean_at(hwa, settings, 86400.0)} at 24 h; system "
                     f"{hwa['cost']['system_tops_per_w']:.3g} TOPS/W")
        tasks[task] = result
    metrics: dict[str, Any] = {
        "experiment": "analognets", "paper": "arXiv:2111.06503",
        "settings": settings.to_dict(), "data": portable_path(data),
        "code": code_block(history), "command": command, "tasks": tasks,
        "paper_values": PAPER,
        "compute_time_s": round(time.perf_counter() - t_start, 1)}
    metrics["summary"] = summarise(metrics)
    write_outputs(out, metrics)
    return metrics


def _mean_at(stage: dict[str, Any], settings: AnalogNetsSettings, t: float) -> str:
    if t not in settings.times:
        return "n/a"
    k = settings.times.index(t)
    vals = [row[k] for row in stage["accuracy"]]
    return f"{sum(vals) / len(vals):.2f} %"
