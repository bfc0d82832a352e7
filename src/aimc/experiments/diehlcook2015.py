"""``aimc reproduce diehlcook2015``: unsupervised MNIST by STDP, ideal and device synapses.

Diehl & Cook, "Unsupervised learning of digit recognition using spike-timing-dependent
plasticity", Front. Comput. Neurosci. 9:99 (2015), the network of physics.md §4.3 with the
constants of its reference code (:mod:`aimc.snn.diehl_cook`), and the device study of
arXiv:2001.09299: the same network with its input synapses made of devices
(:mod:`aimc.snn.synapses`). One *arm* per (synapse model, network size):

* ``ideal``: the reference code's clipped weights (the ideal limit);
* ``soft-bounds``, ``pcm``, ``cu-sio2-w``: device synapses
  (:func:`aimc.snn.synapses.make_synapses`);
* ``<model>/no-state``, ``<model>/no-noise``: one device property switched off at a time
  (``--ablation``), to say which property costs the accuracy.

**Protocol** (the reference code's): training images in file order, one at a time, 350 ms of
Poisson input at dt = 0.5 ms then 150 ms of rest, weights normalised before each image,
STDP within the image; an image that makes fewer than 5 spikes is shown again at a higher
rate. After each epoch the network is frozen (no plasticity, no threshold adaptation), each
neuron is labelled with the class it answers most over one presentation of the training
images (``assign_images``: the first N only), and the test images are classified by the
all-activity vote (the class whose neurons spike most on average). Epochs: 1 for up to 100
neurons, 3 above (our choice: the paper trains larger networks longer; ``--epochs``
overrides).

**Targets** (issue; paper): with ideal synapses 100 neurons ≥ 80 % (paper 82.9 %), 400
neurons ≥ 87 % (paper 87.0 %, reference code ≈ 89 %) after training on the full set.

**Resuming.** Every ``checkpoint_every`` training images an arm writes
``OUT/arms/<arm>/checkpoint.pt`` atomically (network state, the Poisson generator's state,
position, evaluations so far); a re-run continues from it bit-exactly. A finished arm is
``OUT/arms/<arm>.json`` (with a fingerprint of its settings) and is reused.
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

from aimc.config.base import ConfigBase, config
from aimc.config.snn import DIEHL_COOK_LOCKOUT, diehl_cook_excitatory
from aimc.errors import CheckpointError, ConfigError
from aimc.experiments.nandakumar2020 import _load_arm, derived_seed  # shared run helpers
from aimc.experiments.progress import progress
from aimc.experiments.provenance import code_block, portable_path
from aimc.experiments.report import write_json
from aimc.experiments.run_folder import open_run_folder
from aimc.snn.diehl_cook import DiehlCookNetwork, DiehlCookSettings, assign_labels, predict

__all__ = ["DiehlCook2015Settings", "run_diehlcook2015", "SYNAPSES", "PAPER", "TARGETS",
           "arm_name"]

PAPER = ("Diehl & Cook, Front. Comput. Neurosci. 9:99 (2015); device synapses after "
         "Nandakumar et al., arXiv:2001.09299")
SYNAPSES = ("ideal", "soft-bounds", "pcm", "cu-sio2-w")  # + "<model>/<variant>" ablations
MODES = ("full", "quick")
#: ideal-synapse test accuracy targets by network size (issue 12; paper 82.9 % / 87.0 %)
TARGETS = {100: 0.80, 400: 0.87}
PAPER_ACCURACY = {100: 0.829, 400: 0.870}
Log = Callable[[str], None]


def arm_name(synapse: str, neurons: int) -> str:
    return f"{synapse.replace('/', '-')}_{neurons}"


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"DiehlCook2015Settings.{name} must be an integer >= {minimum}, "
                          f"got {value!r}")


@config
class DiehlCook2015Settings(ConfigBase):
    """What ``aimc reproduce diehlcook2015`` runs.

    Attributes:
        mode: ``"full"`` or ``"quick"`` (:meth:`quick`).
        seed: master seed (initial weights, devices, Poisson input per arm).
        neurons: network sizes (excitatory neurons; as many inhibitory ones).
        synapses: synapse models, from :data:`SYNAPSES`; one arm per (synapse, size).
        epochs: passes over the training images (None: 1 up to 100 neurons, else 3).
        train_images: training images per epoch (None: all 60,000).
        assign_images: first training images used to label the neurons after each epoch
            (None: all of them, the paper's "one presentation of the training set"; the
            first recorded run used 10,000).
        test_images: test images (None: all 10,000).
        checkpoint_every: training images between checkpoints.
        eval_batch: images per batch when evaluating.
        dt, t_present, t_rest: time step and presentation/rest times (ms), the paper's.
        lockout: the excitatory neurons' firing lockout after a spike (ms; the reference
            code's 50 ms, see :func:`aimc.config.snn.diehl_cook_excitatory`); None: the
            5 ms refractory period alone (the paper's text).
    """

    mode: str = "full"
    seed: int = 0
    neurons: tuple[int, ...] = (100,)
    synapses: tuple[str, ...] = ("ideal",)
    epochs: int | None = None
    train_images: int | None = None
    assign_images: int | None = None
    test_images: int | None = None
    checkpoint_every: int = 500
    eval_batch: int = 1000
    dt: float = 0.5
    t_present: float = 350.0
    t_rest: float = 150.0
    lockout: float | None = DIEHL_COOK_LOCKOUT

    def _validate(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"DiehlCook2015Settings.mode must be one of {MODES}, got "
                              f"{self.mode!r}")
        _check_int("seed", self.seed, 0)
        if not isinstance(self.neurons, tuple) or not self.neurons:
            raise ConfigError("DiehlCook2015Settings.neurons needs at least one size, e.g. "
                              "(100,)")
        for n in self.neurons:
            _check_int("neurons", n, 1)
        if not isinstance(self.synapses, tuple) or not self.synapses:
            raise ConfigError(f"DiehlCook2015Settings.synapses needs at least one of "
                              f"{', '.join(SYNAPSES)}")
        from aimc.snn.synapses import synapse_names

        unknown = [s for s in self.synapses if s not in synapse_names(ablation=True)]
        if unknown:
            raise ConfigError(f"unknown synapse model(s) {', '.join(map(repr, unknown))}; "
                              f"choose from {', '.join(synapse_names(ablation=True))}")
        if len(set(self.synapses)) != len(self.synapses) or \
                len(set(self.neurons)) != len(self.neurons):
            raise ConfigError("DiehlCook2015Settings lists a synapse model or size twice")
        for f in ("epochs", "train_images", "test_images", "assign_images"):
            if getattr(self, f) is not None:
                _check_int(f, getattr(self, f), 1)
        for f in ("checkpoint_every", "eval_batch"):
            _check_int(f, getattr(self, f), 1)
        try:  # the neuron's own rule, reported under this setting's name
            diehl_cook_excitatory(lockout=self.lockout)
        except ConfigError as exc:
            raise ConfigError(f"DiehlCook2015Settings.lockout must be None or a number of ms "
                              f">= the refractory period (the reference code's: "
                              f"{DIEHL_COOK_LOCKOUT}): {exc}") from exc
        self.network(self.neurons[0])  # validates dt and the times

    @classmethod
    def quick(cls, **changes: Any) -> DiehlCook2015Settings:
        """``--quick``: 1,000 training images (one epoch), labels from the first 1,000,
        1,000 test images — a few minutes per arm, far from the paper's accuracy."""
        base: dict[str, Any] = {"mode": "quick", "epochs": 1, "train_images": 1000,
                                "assign_images": 1000, "test_images": 1000}
        base.update(changes)
        return cls(**base)

    def epochs_of(self, neurons: int) -> int:
        return self.epochs if self.epochs is not None else (1 if neurons <= 100 else 3)

    def network(self, neurons: int) -> DiehlCookSettings:
        return DiehlCookSettings(n_neurons=neurons, dt=self.dt, t_present=self.t_present,
                                 t_rest=self.t_rest,
                                 exc=diehl_cook_excitatory(lockout=self.lockout))

    def arms(self) -> list[tuple[str, str, int]]:
        """(name, synapse, neurons) of every arm, in run order."""
        return [(arm_name(s, n), s, n) for n in self.neurons for s in self.synapses]

    def fingerprint(self, synapse: str, neurons: int) -> str:
        """Hash of everything an arm's result depends on."""
        relevant = {"synapse": synapse, "neurons": neurons, "seed": self.seed,
                    "epochs": self.epochs_of(neurons), "train_images": self.train_images,
                    "assign_images": self.assign_images, "test_images": self.test_images,
                    "dt": self.dt, "t_present": self.t_present, "t_rest": self.t_rest}
        if self.lockout is not None:  # absent: as before the setting existed (no lockout)
            relevant["lockout"] = float(self.lockout)
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def build_network(synapse: str, neurons: int, settings: DiehlCook2015Settings
                  ) -> DiehlCookNetwork:
    """The arm's network: initial weights seeded by (seed, size) — the same for every
    synapse model — and devices seeded by (seed, arm)."""
    from aimc.snn.synapses import make_synapses

    net_settings = settings.network(neurons)
    net = DiehlCookNetwork(net_settings, generator=_generator(
        derived_seed(settings.seed, f"weights_{neurons}")))
    if synapse != "ideal":
        syn = make_synapses(synapse, net.weights, net_settings.stdp.w_max,
                            generator=_generator(derived_seed(settings.seed,
                                                              arm_name(synapse, neurons), 1)))
        net = DiehlCookNetwork(net_settings, generator=net.generator, synapses=syn)
    return net


# --------------------------------------------------------------------------- evaluation
def evaluate(net: DiehlCookNetwork, x_assign: Tensor, y_assign: Tensor, x_test: Tensor,
             y_test: Tensor, batch: int, generator: torch.Generator) -> dict[str, Any]:
    """Label the neurons on ``x_assign`` and classify ``x_test`` (network frozen)."""

    def responses(x: Tensor) -> Tensor:
        return torch.cat([net.present(x[i:i + batch], learn=False, generator=generator)
                          for i in range(0, len(x), batch)])

    train_counts = responses(x_assign)
    assignment = assign_labels(train_counts, y_assign)
    test_counts = responses(x_test)
    pred = predict(test_counts, assignment)
    per_class = torch.bincount(assignment, minlength=10).tolist()
    return {"test_accuracy": float((pred == y_test).double().mean()),
            "assign_accuracy": float((predict(train_counts, assignment) == y_assign)
                                     .double().mean()),
            "neurons_per_class": per_class,
            "mean_test_spikes": float(test_counts.sum(dim=1).double().mean())}


# --------------------------------------------------------------------------- checkpoints
def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        state = torch.load(path, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise CheckpointError(f"{path} is unreadable ({exc}); delete it to restart the arm") \
            from exc
    if not isinstance(state, dict) or state.get("fingerprint") != fingerprint:
        return None
    return state


# --------------------------------------------------------------------------- one arm
def train_arm(synapse: str, neurons: int, settings: DiehlCook2015Settings,
              data: dict[str, Tensor], arm_dir: Path, *, show_progress: bool = True,
              log: Log = print, stop_after: int | None = None) -> dict[str, Any] | None:
    """Train and evaluate one arm, resuming from ``arm_dir/checkpoint.pt``.

    ``stop_after`` (tests): return None after that many training images of this call,
    with the checkpoint written.
    """
    arm = arm_name(synapse, neurons)
    fingerprint = settings.fingerprint(synapse, neurons)
    arm_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = arm_dir / "checkpoint.pt"
    net = build_network(synapse, neurons, settings)
    gen = _generator(derived_seed(settings.seed, arm, 2))
    epochs = settings.epochs_of(neurons)
    x_train = data["x_train"]
    n_train = len(x_train)
    state = _load_checkpoint(ckpt_path, fingerprint)
    epoch, index, evals, elapsed = 0, 0, [], 0.0
    if state is not None:
        net.load_state_dict(state["network"])
        gen.set_state(state["generator"])
        epoch, index, evals = state["epoch"], state["index"], state["evals"]
        elapsed = float(state["train_time_s"])
        log(f"{arm}: resuming at epoch {epoch + 1}, image {index}")

    def checkpoint() -> None:
        _save_checkpoint(ckpt_path, {"fingerprint": fingerprint, "epoch": epoch,
                                     "index": index, "evals": evals,
                                     "network": net.state_dict(),
                                     "generator": gen.get_state(),
                                     "train_time_s": elapsed})

    bar = progress(total=epochs * n_train, desc=arm, enabled=show_progress)
    bar.update(epoch * n_train + index)
    done_here = 0
    while epoch < epochs:
        t0 = time.perf_counter()
        while index < n_train:
            c = net.present(x_train[index:index + 1], learn=True, generator=gen)
            index += 1
            done_here += 1
            bar.update()
            if index % 50 == 0:
                bar.set_postfix_str(f"epoch {epoch + 1}, {int(c.sum())} spikes")
            if index % settings.checkpoint_every == 0 or index == n_train:
                elapsed += time.perf_counter() - t0
                t0 = time.perf_counter()
                checkpoint()
            if stop_after is not None and done_here >= stop_after:
                elapsed += time.perf_counter() - t0
                checkpoint()
                bar.close()
                return None
        elapsed += time.perf_counter() - t0
        t_eval = time.perf_counter()
        result = evaluate(net, data["x_assign"], data["y_assign"], data["x_test"],
                          data["y_test"], settings.eval_batch,
                          _generator(derived_seed(settings.seed, arm, 3, epoch)))
        result.update(epoch=epoch + 1, train_images_seen=(epoch + 1) * n_train,
                      eval_time_s=round(time.perf_counter() - t_eval, 3),
                      train_time_s=round(elapsed, 3))
        evals.append(result)
        log(f"{arm}: epoch {epoch + 1}/{epochs}: test accuracy "
            f"{100 * result['test_accuracy']:.2f} %")
        epoch, index = epoch + 1, 0
        checkpoint()
    bar.close()
    torch.save(net.state_dict(), arm_dir / "network.pt")
    final = evals[-1]
    return {"arm": arm, "synapse": synapse, "neurons": neurons, "epochs": epochs,
            "train_images": epochs * n_train, "test_accuracy": final["test_accuracy"],
            "evals": evals, "fingerprint": fingerprint,
            "train_time_s": round(elapsed, 3),
            "train_images_per_s": round(epochs * n_train / max(elapsed, 1e-9), 3),
            "weights_path": f"arms/{arm}/network.pt"}


# --------------------------------------------------------------------------- the run
def _data(folder: Path, settings: DiehlCook2015Settings) -> dict[str, Tensor]:
    from aimc.data import load_mnist

    x_tr, y_tr = load_mnist(folder, "train", limit=settings.train_images).tensors
    x_te, y_te = load_mnist(folder, "test", limit=settings.test_images).tensors
    x_tr = x_tr.reshape(len(x_tr), -1)
    k = len(x_tr) if settings.assign_images is None else min(settings.assign_images, len(x_tr))
    return {"x_train": x_tr, "x_assign": x_tr[:k], "y_assign": y_tr[:k],
            "x_test": x_te.reshape(len(x_te), -1), "y_test": y_te}


def run_diehlcook2015(settings: DiehlCook2015Settings, out_dir: str | os.PathLike[str], *,
                      data: str | os.PathLike[str] | None = None, show_progress: bool = True,
                      log: Log | None = None, command: str | None = None,
                      allow_other_code: bool = False) -> dict[str, Any]:
    """Run (or resume) every arm; write ``metrics.json``, plots and ``report.md``.

    Raises:
        ConfigError: ``settings`` is not a :class:`DiehlCook2015Settings`.
        StateError: ``out_dir`` holds results of other code (without ``allow_other_code``).
        DataError: the MNIST folder or a file is missing or corrupt.
        CheckpointError: a stored arm or checkpoint is unreadable.
    """
    from aimc.experiments import diehlcook2015_report as report
    from aimc.experiments.nandakumar2020 import machine_info, mnist_dir

    if not isinstance(settings, DiehlCook2015Settings):
        raise ConfigError(f"settings must be a DiehlCook2015Settings, got "
                          f"{type(settings).__name__}; e.g. DiehlCook2015Settings.quick()")
    out, history, log_line = open_run_folder(out_dir, allow_other_code=allow_other_code,
                                             log=log)

    folder = mnist_dir(data)
    dataset = _data(folder, settings)
    log_line(f"run {out}: mode {settings.mode}, arms "
             f"{', '.join(a for a, _, _ in settings.arms())}; data {folder}")
    metrics: dict[str, Any] = {
        "name": "diehlcook2015", "paper": PAPER, "mode": settings.mode,
        "settings": settings.to_dict(), "command": command, "machine": machine_info(),
        "code": code_block(history), "date": time.strftime("%Y-%m-%d"),
        "data": portable_path(folder, data),
        "targets": {str(k): v for k, v in TARGETS.items()},
        "paper_accuracy": {str(k): v for k, v in PAPER_ACCURACY.items()}, "arms": {}}
    t_start = time.perf_counter()
    for arm, synapse, neurons in settings.arms():
        path = out / "arms" / f"{arm}.json"
        result = _load_arm(path, settings.fingerprint(synapse, neurons))
        if result is not None:
            log_line(f"{arm}: done (loaded {path.name})")
        else:
            log_line(f"{arm}: training {settings.epochs_of(neurons)} epoch(s) of "
                     f"{len(dataset['x_train'])} images ...")
            result = train_arm(synapse, neurons, settings, dataset, out / "arms" / arm,
                               show_progress=show_progress, log=log_line)
            assert result is not None
            result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            write_json(path, result)
        metrics["arms"][arm] = result
        metrics["summary"] = report.summarise(metrics)
        metrics["wall_time_s"] = round(time.perf_counter() - t_start, 3)
        report.write_outputs(out, metrics)  # partial results visible early
    written = report.write_outputs(out, metrics)
    log_line(f"wrote {out}/: " + ", ".join(sorted(p.name for p in written.values())))
    return metrics


def weights_of(out_dir: str | os.PathLike[str], arm: str) -> Tensor:
    """The trained input weights of ``arm`` in a run folder (for plots)."""
    state = torch.load(Path(out_dir) / "arms" / arm / "network.pt", weights_only=False)
    w = state.get("weights")
    if w is None:
        raise CheckpointError(f"{arm}'s network.pt holds no weights")
    return w

