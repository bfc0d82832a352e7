#!/usr/bin/env python3
"""Render the README's measured-results block from the stored result files.

Every number between the README's ``<!-- results:begin -->`` and ``<!-- results:end -->``
markers comes from a JSON file under ``benchmarks/results/`` (timings, ratios to plain
PyTorch in the same run, peers from ``benchmarks/results/peers/``) or a recorded run's
``metrics.json`` under ``docs/results/``; nothing is typed by hand.

    .venv/bin/python scripts/readme_results.py           # print the block
    .venv/bin/python scripts/readme_results.py --write   # replace it in README.md

``tests/test_documented_numbers.py`` fails when the README's block differs from what this
renders, so a re-run benchmark or an edited number shows up in CI.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "docs" / "results"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def _load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def _ratio(rows: list[dict[str, Any]], key: str, **match: Any) -> float:
    hits = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    if len(hits) != 1:
        raise KeyError(f"{len(hits)} rows match {match}")
    return float(hits[0][key])


def _x(v: float) -> str:
    return f"{v:.1f}×" if v < 100 else f"{v:.0f}×"


def _source(name: str, data: dict[str, Any]) -> str:
    env = data.get("env_start", {})
    cpu = env.get("cpu", "?")
    threads = env.get("threads", env.get("torch_threads", "?"))
    when = data.get("date", "date not recorded")
    return f"`benchmarks/results/{name}` ({when}; {cpu}, {threads} threads)"


def inference_table() -> list[str]:
    """Median forward time / FP32 median, same run; aihwkit from its own run vs its FP32."""
    ours = _load("inference_cpu.json")
    batches = sorted({r["batch"] for r in ours["results"]})
    lines = ["Inference (forward pass, 1 h after programming), time ÷ the same model in FP32 "
             f"PyTorch: aimc from {_source('inference_cpu.json', ours)}, aihwkit 1.1.0 from "
             "`benchmarks/results/peers/aihwkit_inference_{mlp,cnn}.json`.", "",
             "| model | " + " | ".join(f"batch {b}" for b in batches) + " |",
             "|---|" + "---:|" * len(batches)]
    for model in ("mlp", "cnn"):
        peer = _load(f"peers/aihwkit_inference_{model}.json")["results"]
        for label, rows, config in (
                ("aimc `rasch2023`", ours["results"], "rasch2023"),
                ("aihwkit `StandardHWATrainingPreset`", peer, "standard_preset")):
            cells = [_x(_ratio(rows, "ratio_vs_fp32_median", model=model, config=config,
                               batch=b)) for b in batches]
            lines.append(f"| {model.upper()}, {label} | " + " | ".join(cells) + " |")
    return lines


def training_table() -> list[str]:
    """HWA training step (forward, backward, optimizer) / FP SGD step, same run."""
    data = _load("training_cpu.json")
    rows = data["results"]
    batches = sorted({r["batch"] for r in rows})
    lines = ["Hardware-aware training step ÷ an FP32 SGD step of the same model, same run "
             f"({_source('training_cpu.json', data)}; aihwkit-lightning 2.1.0 in that run):",
             "", "| model, config | " + " | ".join(f"batch {b}" for b in batches) + " |",
             "|---|" + "---:|" * len(batches)]
    for model in ("mlp", "cnn"):
        for label, config in (("aimc `rasch2023_hwa`", "aimc_rasch2023_hwa"),
                              ("aimc, lightning's recipe", "aimc_matched"),
                              ("aihwkit-lightning, its recipe", "lightning_hwa")):
            cells = [_x(_ratio(rows, "ratio_vs_fp_median", model=model, config=config,
                               batch=b)) for b in batches]
            lines.append(f"| {model.upper()}, {label} | " + " | ".join(cells) + " |")
    return lines


def onchip_table() -> list[str]:
    """On-chip training step / FP SGD step at batch 64; aihwkit's C++ from its own run."""
    data = _load("onchip_cpu.json")
    one = data["supplements"][0]
    peer2 = _load("peers/aihwkit_training_onchip.json")["results"]
    peer1 = _load("peers/aihwkit_training_onchip.1thread.json")["results"]
    lines = ["On-chip training step of an MLP 784-256-10, batch 64, ÷ a plain torch SGD step "
             f"({_source('onchip_cpu.json', data)}; the 1-thread column from that session's "
             "1-thread run), and the step time of aimc and of aihwkit 1.1.0's C++ simulator "
             "(`benchmarks/results/peers/aihwkit_training_onchip*.json`) in milliseconds:",
             "", "| algorithm | aimc ÷ FP, 2 threads | aimc ÷ FP, 1 thread | aimc ms, 2 / 1 "
             "threads | aihwkit ms, 2 / 1 threads |", "|---|---:|---:|---:|---:|"]
    for config, label in (("aimc_sgd_constant_exact", "in-situ SGD, constant step, `exact`"),
                          ("aimc_sgd_constant_fast", "in-situ SGD, constant step, `fast`"),
                          ("aimc_sgd_softbounds_exact", "in-situ SGD, soft bounds, `exact`"),
                          ("aimc_mixed_precision", "mixed precision, soft bounds"),
                          ("aimc_mixed_precision_pcm", "mixed precision, PCM pair"),
                          ("aimc_tiki_taka", "Tiki-Taka v1"),
                          ("aimc_tiki_taka_v2", "Tiki-Taka v2")):
        ratios, ms = [], []
        for rows in (data["results"], one["aimc"]["results"]):
            ratios.append(_x(_ratio(rows, "ratio_vs_fp_median", config=config, batch=64)))
            ms.append(f"{1e3 * _ratio(rows, 'median_s', config=config, batch=64):.2f}")
        peer = data["configs"][config].get("aihwkit_peer")
        pms = " / ".join(f"{1e3 * _ratio(p, 'median_s', config=peer, batch=64):.2f}"
                         for p in (peer2, peer1)) if peer else "–"
        lines.append(f"| {label} | {ratios[0]} | {ratios[1]} | {' / '.join(ms)} | {pms} |")
    return lines


def modes_table() -> list[str]:
    """In-situ SGD on MNIST, exact vs fast pulse sampling: test accuracy mean ± std."""
    data = _load("onchip_modes_mnist.json")
    lines = [f"In-situ SGD on MNIST, `exact` vs `fast` pulse updates (`{data['command']}`, "
             f"{data['date'][:10]}, aimc {data['aimc']}; test accuracy %, mean ± sample std "
             "over seeds):", "", "| device | exact | fast |", "|---|---:|---:|"]
    for device, by_mode in data["results"].items():
        cells = []
        for mode in ("exact", "fast"):
            acc = [100 * a for a in by_mode[mode]]
            cells.append(f"{statistics.mean(acc):.2f} ± {statistics.stdev(acc):.2f} "
                         f"(n = {len(acc)})")
        lines.append(f"| {device.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return lines


def snn_table() -> list[str]:
    """Diehl & Cook STDP network, images per second, aimc and BindsNET in the same run."""
    data = _load("snn_stdp.json")
    env = data["env"]
    code = data.get("code", {})
    lines = ["Diehl & Cook STDP network (784 inputs, n excitatory + n inhibitory neurons, 250 ms "
             "per image at dt 1 ms, batch-1 training with STDP within the image), images "
             f"per second, aimc and BindsNET 0.3.4 in the same run (`{data['command']}`, "
             f"{data['date']}, {env['cpu']}, {env['threads']} threads, aimc at "
             f"{str(code.get('git_commit'))[:12]}):", "",
             "| library | neurons | training | evaluation | evaluation batch | ratio training "
             "| ratio evaluation |", "|---|---:|---:|---:|---:|---:|---:|"]
    rows = data["rows"]
    for r in rows:
        peer = [p for p in rows if p["library"] == "bindsnet" and p["neurons"] == r["neurons"]]
        ratio_t = ratio_e = "—"
        if r["library"] == "aimc" and peer:
            ratio_t = _x(r["train_images_per_s"] / peer[0]["train_images_per_s"])
            ratio_e = _x(r["eval_images_per_s"] / peer[0]["eval_images_per_s"])
        lines.append(f"| {r['library']} | {r['neurons']} | {r['train_images_per_s']:.1f} | "
                     f"{r['eval_images_per_s']:.1f} | {r['eval_batch']} | {ratio_t} | "
                     f"{ratio_e} |")
    return lines


def compile_tables() -> list[str]:
    """:func:`compile_table` of every recorded compile benchmark (one per CPU)."""
    lines: list[str] = []
    for path in sorted(RESULTS.glob("compile_cpu*.json")):
        lines += ([""] if lines else []) + compile_table(path.name)
    return lines


def compile_table(name: str = "compile_cpu.json") -> list[str]:
    """Eager and ``aimc.compile`` medians ÷ the eager FP32 model, same run."""
    data = _load(name)
    env = data["env_start"]
    lines = ["Eager and compiled (`aimc.compile`: inductor, eager random numbers), time ÷ the "
             "plain eager FP32 model in the same run (`" + data["command"] + "`, "
             f"{data['date']}, {env['cpu']}, {env['threads']} threads, aimc at "
             f"{data['code']}); inference 1 h after programming:", "",
             "| workload | config | batch | eager | compiled | compile time |",
             "|---|---|---:|---:|---:|---:|"]
    for r in data["results"]:
        what = f"{r['model'].upper()} " + ("inference" if r["kind"] == "inference"
                                            else "HWA training step")
        lines.append(f"| {what} | `{r['config']}` | {r['batch']} | {_x(r['eager_ratio'])} | "
                     f"{_x(r['compiled_ratio'])} | {r['compile_s']:.1f} s |")
    return lines


def memory_table() -> list[str]:
    """Bytes of programmed, drifted models ÷ FP32 weight bytes, recipe vs stored devices."""
    data = _load("memory_cpu.json")
    rows = {(r["workload"], r["precision"], r["layout"]): r for r in data["results"]}
    lines = ["Memory of a programmed model 1 day after programming (`rasch2023`), bytes held by "
             "the analog layers ÷ the FP32 bytes of their weights and biases (`"
             + data["command"] + f"`, {data['date']}, aimc at {data['code']}); devices kept as "
             "a recipe (default) or as tensors (`aimc.store_programmed_state`):", "",
             "| workload | recipe, float32 perturbations | recipe, bfloat16 | stored, float32 "
             "| stored, bfloat16 |", "|---|---:|---:|---:|---:|"]
    for name in dict.fromkeys(w for w, _, _ in rows):
        cells = [f"{rows[(name, p, lay)]['ratio_analog']:.2f}×"
                 for lay in ("record", "stored") for p in ("native", "bfloat16")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _lockout_words(lockout: float | None) -> str:
    return "none (5 ms refractory)" if lockout is None else f"{lockout:g} ms"


def diehlcook_seeds_table() -> list[str]:
    """Diehl & Cook, 100 neurons, ideal synapses, one epoch of all 60,000 images: per seed
    and excitatory firing lockout (runs before the setting existed had none), with the mean
    over seeds of each lockout."""
    seeds: list[tuple[float | None, int, float, str]] = []
    targets: set[tuple[float, float]] = set()
    for path in sorted(RUNS.glob("diehlcook2015*/metrics.json")):
        m = json.loads(path.read_text(encoding="utf-8"))
        if m.get("mode") != "full":
            continue
        targets.add((100 * m["targets"]["100"], 100 * m["paper_accuracy"]["100"]))
        lockout = m["settings"].get("lockout")
        for arm in m["summary"]["arms"]:
            if (arm["arm"] == "ideal_100" and arm["epochs"] == 1
                    and arm["train_images"] == 60000):
                seeds.append((lockout, int(m["settings"]["seed"]),
                              100 * float(arm["test_accuracy"]), path.parent.name))
    seeds.sort(key=lambda r: (r[0] is not None, r[0] or 0.0, r[1]))
    if len(targets) != 1:
        raise ValueError(f"the Diehl & Cook runs disagree on the 100-neuron target: {targets}")
    target, paper = targets.pop()
    lines = ["Diehl & Cook STDP network, 100 excitatory neurons, ideal synapses, one epoch over "
             "all 60,000 MNIST training images, test accuracy on all 10,000 test images per "
             "master seed and excitatory firing lockout (`aimc reproduce diehlcook2015 "
             "--neurons 100 --seed N [--lockout none]`; the reference code's 50 ms lockout is "
             f"the default; target {target:.0f} %, paper {paper:.1f} %):", "",
             "| lockout | seed | test accuracy | run |", "|---|---:|---:|---|"]
    for lockout, seed, a, run in seeds:
        lines.append(f"| {_lockout_words(lockout)} | {seed} | {a:.2f} % | "
                     f"`docs/results/{run}` |")
    lines.append("")
    for lockout in dict.fromkeys(r[0] for r in seeds):
        acc = [a for lk, _, a, _ in seeds if lk == lockout]
        if len(acc) > 1:
            mean, std = statistics.mean(acc), statistics.stdev(acc)
            verdict = "meets" if mean >= target else "misses"
            lines.append(f"Lockout {_lockout_words(lockout)}: mean over {len(acc)} seeds "
                         f"{mean:.2f} % ± {std:.2f} % (sample std; standard error "
                         f"{std / len(acc) ** 0.5:.2f}): the mean {verdict} the "
                         f"{target:.0f} % target.")
        else:
            verdict = "meets" if acc[0] >= target else "misses"
            lines.append(f"Lockout {_lockout_words(lockout)}: one seed so far, "
                         f"{acc[0]:.2f} % ({verdict} the {target:.0f} % target).")
    return lines


def _hwa_recipe(settings: dict[str, Any]) -> str:
    """A workload's HWA recipe in words, from its stored spec settings."""
    training = settings.get("hwa_training")
    noise = "preset periphery only" if training is None else (
        training["weight_noise"]["type"].removesuffix("WeightNoise").lower()
        + (f" at {training['weight_noise']['t_inference']:g} s"
           if "t_inference" in training["weight_noise"] else ""))
    distill = f", distillation {settings['distill']:g}" if settings["distill"] > 0 else ""
    return (f"{settings['hwa_epochs']} epoch(s), {settings['hwa_optimizer']} lr "
            f"{settings['hwa_lr']:g}, weight noise: {noise}{distill}")


def rasch2023_recipes_table() -> list[str]:
    """The HWA recipes tried per workload in the recorded standard rasch2023 runs."""
    lines = ["HWA recipes tried on the `--standard` rasch2023 workloads (each row one recorded "
             "run under `docs/results/`; normalised = mean over the run's programmings of "
             "metric/FP "
             "(language model: FP perplexity / analog perplexity) at 1 h; iso-accuracy ≥ "
             "0.99):", "",
             "| workload | run | HWA recipe | FP | HWA, digital | programmings | direct, 1 h "
             "| HWA, 1 h |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for path in sorted(RUNS.glob("rasch2023*/metrics.json")):
        m = json.loads(path.read_text(encoding="utf-8"))
        if m.get("mode") != "standard":
            continue
        for name, w in m["workloads"].items():
            iso = w["iso_accuracy"]
            lines.append(f"| {name} | `{path.parent.name}` | {_hwa_recipe(w['settings'])} | "
                         f"{w['fp']:.4g} | {w['hwa_digital']:.4g} | {m['spec']['repeats']} | "
                         f"{iso['direct']['normalised_mean']:.4f} | "
                         f"{iso['hwa']['normalised_mean']:.4f} |")
    return lines


def render() -> str:
    parts = [BEGIN,
             "<!-- generated by scripts/readme_results.py from benchmarks/results/*.json; "
             "do not edit by hand -->", ""]
    for table in (inference_table(), training_table(), onchip_table(), modes_table()):
        parts += table + [""]
    parts.append("These runs predate the code-version stamp of the result files (they were made "
                 "by aimc 0.1.0 code older than this README); re-run a benchmark with the "
                 "command in its `.md` next to the JSON to refresh it.")
    parts += [""] + snn_table() + [""] + diehlcook_seeds_table() + [""] + compile_tables()
    parts += [""] + memory_table() + [""] + rasch2023_recipes_table()
    parts.append(END)
    return "\n".join(parts)


def replace_block(readme: str, block: str) -> str:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no {BEGIN} … {END} block")
    return readme[:start] + block + readme[end + len(END):]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace the block in README.md")
    args = ap.parse_args(argv)
    block = render()
    if args.write:
        path = ROOT / "README.md"
        path.write_text(replace_block(path.read_text(encoding="utf-8"), block),
                        encoding="utf-8")
    else:
        print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
