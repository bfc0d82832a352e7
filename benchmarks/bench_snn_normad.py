"""NormAD supervised spike timing (arXiv:1905.11929 task): training and evaluation speed.

    .venv/bin/python benchmarks/bench_snn_normad.py --data ../shared/data \
        --json benchmarks/results/snn_normad.json --md benchmarks/results/snn_normad.md

No SNN library ships NormAD, so there is no peer to run (issue 13): the anchor is the
arithmetic and the issue's targets on 2 CPU cores — one training epoch over the whole FSDD
training split (2,700 clips, batch 1, update after every pattern) in ≤ 2 minutes, and
batched evaluation ≥ 200 samples/s. The paper's scale: 132 cochlea channels × 168 output
neurons, 1250 ms patterns at dt = 1 ms. Timed for ideal synapses and for PCM with 1 and 4
devices per sign (drift, read noise and pulse programming included). Cochlea encoding is
timed separately (it runs once per dataset). Where the time goes: ``cProfile`` of the ideal
training epoch, split into the input filter (FFT), the spike search (the event-driven "time
loop"), the NormAD update and the device (read + programming).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

from common import env_info, write_json  # threads before torch

# isort: split
import torch

from aimc.data import load_fsdd
from aimc.experiments.nandakumar2020_snn import SNNSettings, evaluate, make_synapses
from aimc.experiments.provenance import code_version, portable_command
from aimc.snn.normad import filter_spikes, normad_update, psp_kernel, simulate
from aimc.snn.spike_patterns import desired_trains, encode_clip

PARTS = {"filter": ("filter_spikes",), "spike search": ("simulate",),
         "update": ("normad_update",), "device": ("read", "program")}


def _epoch(syn, x: torch.Tensor, y: torch.Tensor, desired: torch.Tensor,
           settings: SNNSettings) -> float:
    cfg = settings.neuron()
    kernel = psp_kernel(cfg)
    clock = 0.0
    t0 = time.perf_counter()
    for i in range(x.shape[1]):
        u = filter_spikes(x[:, i:i + 1], kernel)
        out = simulate(u, syn.read(clock), cfg)
        syn.program(normad_update(u, desired[int(y[i])].unsqueeze(1), out, settings.rate),
                    clock)
        clock += settings.pattern_ms / 1000.0
    return time.perf_counter() - t0


def _profile(syn, x, y, desired, settings, n: int) -> dict[str, float]:
    prof = cProfile.Profile()
    prof.enable()
    _epoch(syn, x[:, :n], y[:n], desired, settings)
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = max(v[3] for v in stats.values())
    share = {}
    for part, names in PARTS.items():
        share[part] = sum(v[3] for (f, _, fn), v in stats.items()
                          if fn in names and ("normad" in f or "signed_synapses" in f)) / total
    share["other"] = max(0.0, 1.0 - sum(share.values()))
    return {k: round(v, 3) for k, v in share.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="data root with fsdd/ and mnist/")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--md", type=Path)
    ap.add_argument("--train-clips", type=int, default=None, help="default: all 2,700")
    args = ap.parse_args()
    settings = SNNSettings(speakers=("george", "jackson", "lucas", "nicolas", "theo",
                                     "yweweler"))
    t0 = time.perf_counter()
    train = load_fsdd(args.data / "fsdd", "train")[: args.train_clips]
    test = load_fsdd(args.data / "fsdd", "test")
    coch = settings.cochlea()
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    x_tr = torch.stack([encode_clip(c.samples, c.rate, coch, settings.steps) for c in train],
                       dim=1)
    t_enc = time.perf_counter() - t0
    x_te = torch.stack([encode_clip(c.samples, c.rate, coch, settings.steps) for c in test],
                       dim=1)
    y_tr = torch.tensor([c.label for c in train])
    y_te = torch.tensor([c.label for c in test])
    from aimc.data import load_mnist
    from aimc.snn.spike_patterns import target_images

    xm, ym = load_mnist(args.data / "mnist", "train", limit=1000).tensors
    desired = desired_trains(target_images(xm, ym), settings.steps, settings.dt,
                             settings.t_first, settings.t_last, settings.cut)
    rows = []
    for name, synapse, n in (("ideal", "ideal", 1), ("pcm_x1", "pcm", 1),
                             ("pcm_x4", "pcm", 4)):
        syn = make_synapses(synapse, n, settings, name)
        epoch_s = _epoch(syn, x_tr, y_tr, desired, settings)
        t0 = time.perf_counter()
        m = evaluate(syn, x_te, y_te, desired, settings, 3600.0)
        eval_s = time.perf_counter() - t0
        rows.append({"synapses": name, "train_clips": x_tr.shape[1],
                     "epoch_s": round(epoch_s, 2),
                     "train_samples_per_s": round(x_tr.shape[1] / epoch_s, 1),
                     "eval_samples": x_te.shape[1], "eval_batch": settings.eval_batch,
                     "eval_samples_per_s": round(x_te.shape[1] / eval_s, 1),
                     "epoch_within_25ms_test": round(m.recall, 4)})
        print(rows[-1], flush=True)
    syn = make_synapses("ideal", 1, settings, "ideal")
    share = _profile(syn, x_tr, y_tr, desired, settings, min(500, x_tr.shape[1]))
    result = {"benchmark": "snn_normad", "command": portable_command(
        ["python", "benchmarks/bench_snn_normad.py", "--data", str(args.data)]),
        "date": time.strftime("%Y-%m-%d"), "env": env_info(), "code": code_version(),
        "scale": {"inputs": settings.channels, "outputs": 168, "steps": settings.steps,
                  "dt_ms": settings.dt},
        "targets": {"epoch_s_max": 120.0, "eval_samples_per_s_min": 200.0},
        "encoding": {"clips": len(train), "read_s": round(t_read, 2),
                     "cochlea_s": round(t_enc, 2)},
        "rows": rows, "time_share_ideal_training": share}
    if args.json:
        write_json(str(args.json), result)
    if args.md:
        args.md.write_text(_markdown(result), encoding="utf-8")


def _markdown(r: dict) -> str:
    lines = ["# NormAD spike-timing benchmark (arXiv:1905.11929 task)", "",
             f"Command: `{r['command']}`  ", f"Code: aimc {r['code'].get('aimc')} "
             f"(commit {r['code'].get('git_commit')}), {r['date']}  ",
             f"CPU: {r['env'].get('cpu')}, threads {r['env'].get('threads')}, load average "
             f"{r['env'].get('loadavg')}", "",
             f"Scale: {r['scale']['inputs']} inputs × {r['scale']['outputs']} outputs, "
             f"{r['scale']['steps']} steps of {r['scale']['dt_ms']} ms. Targets (issue 13): "
             f"an epoch over the FSDD training split ≤ {r['targets']['epoch_s_max']:.0f} s, "
             f"evaluation ≥ {r['targets']['eval_samples_per_s_min']:.0f} samples/s. No peer: "
             f"no SNN library ships NormAD.", "",
             "| synapses | training clips | epoch (s) | train samples/s | eval samples/s "
             "(batch) |", "|---|---|---|---|---|"]
    for row in r["rows"]:
        lines.append(f"| {row['synapses']} | {row['train_clips']} | {row['epoch_s']} | "
                     f"{row['train_samples_per_s']} | {row['eval_samples_per_s']} "
                     f"({row['eval_batch']}) |")
    enc = r["encoding"]
    share = r["time_share_ideal_training"]
    lines += ["", f"Cochlea encoding of the {enc['clips']} training clips (once per dataset): "
              f"{enc['cochlea_s']} s (reading the WAVs {enc['read_s']} s).", "",
              "Where the ideal training epoch's time goes (cProfile): " +
              ", ".join(f"{k} {100 * v:.0f} %" for k, v in share.items()) + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
