"""Cost model (aimc.cost) on the AnalogNets workloads: TOPS/W at 8/6/4 bits, and its overhead.

For each KWS/VWW network (MLPerf Tiny reference and the dense CiM-shaped variant) and each
bit width: convert with ``aimc.presets.analognets(bits)`` (unsigned DACs on the layers after
a ReLU), calibrate the input ranges and the fixed per-layer ADC ranges on real inputs,
program (PCM, seed 0), run real inputs with counters on and estimate energy, latency, area
and TOPS/W on the default layer-serial accelerator (256×256 arrays, counting
ADC law anchored on HERMES, 14 nm table). Compared with AnalogNets (arXiv:2111.06503): the
8 → 6 → 4-bit TOPS/W ratios (IEEE Micro: KWS 1 : 3.1 : 6.6, VWW 1 : 2.9 : 5.8; target
±15 %) and the absolute 8-bit figure (arXiv: 8.58 KWS, 4.37 VWW; target within 2×). The
weights are untrained (the cost depends on them only through Σ G, the array's small share);
``aimc reproduce analognets`` reports the trained models.

Overhead: an inference forward with and without counting, interleaved (common.time_group);
the counted calls add to one run's counts (``count_costs(resume=...)``), as an evaluation
loop inside one ``with`` block does.

Usage: python benchmarks/bench_cost.py [--data ../shared/data] [--json F] [--md F]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import env_info, time_group, write_json  # threads before torch

import aimc
from aimc import cost
from aimc.experiments.provenance import code_version, portable_command
from aimc.models import analognet_kws, analognet_vww, ds_cnn_kws, mobilenet_v1_vww

PAPER_ARXIV_8BIT = {"kws": 8.58, "vww": 4.37}
PAPER_MICRO = {"kws": {8: 8.55, 6: 26.55, 4: 56.67}, "vww": {8: 4.34, 6: 12.64, 4: 25.2}}
MODELS = {"ds_cnn_kws": ("kws", ds_cnn_kws), "analognet_kws": ("kws", analognet_kws),
          "mobilenet_v1_vww": ("vww", mobilenet_v1_vww), "analognet_vww": ("vww", analognet_vww)}


def _inputs(task: str, data: Path) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if task == "kws":
        root = data / "speech_commands_v2_subset"
        if root.is_dir():
            from aimc.data.mfcc import load_speech_commands_subset, mfcc

            return mfcc(load_speech_commands_subset(root, limit=64).audio).unsqueeze(1)
        return torch.randn(64, 1, 49, 10, generator=g) * 5
    root = data / "vww_subset"
    if root.is_dir():
        from aimc.data.vww import load_vww_subset

        return load_vww_subset(root, limit=16).images
    return torch.rand(16, 3, 96, 96, generator=g)


def _programmed(factory, bits: int, x: torch.Tensor) -> torch.nn.Module:  # type: ignore[no-untyped-def]
    """The converters of ``aimc reproduce analognets``: unsigned DACs after ReLUs, input and
    fixed per-layer ADC ranges calibrated on ``x``; then programmed (seed 0)."""
    torch.manual_seed(0)
    digital = factory().eval()
    unsigned = aimc.presets.analognets(bits, unsigned_dac=True)
    model = aimc.convert_to_analog(digital, aimc.presets.analognets(bits), overrides={
        n: unsigned for n in aimc.nonnegative_input_layers(digital, [x])})
    aimc.calibrate_input_ranges(model, [x])
    aimc.set_noise_generator(model, torch.Generator().manual_seed(1))
    aimc.calibrate_adc_ranges(model, [x])
    aimc.set_noise_generator(model, None)
    aimc.program(model, generator=torch.Generator().manual_seed(0))
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--md", type=Path)
    args = ap.parse_args()
    rows, overhead = [], []
    for name, (task, factory) in MODELS.items():
        x = _inputs(task, args.data)
        per_bits = {}
        for bits in (8, 6, 4):
            model = _programmed(factory, bits, x)
            with torch.no_grad(), aimc.at_time(model, 86400.0):
                report = cost.measure(model, x)
            b = report.breakdown
            per_bits[bits] = report
            rows.append({"model": name, "task": task, "bits": bits,
                         "macs": report.macs, "n_arrays": report.n_arrays,
                         "macro_tops_per_w": report.macro_tops_per_w,
                         "system_tops_per_w": report.system_tops_per_w,
                         "energy_nj": report.system_energy * 1e9,
                         "latency_us": report.latency * 1e6,
                         "area_mm2": report.area_mm2,
                         "share": {k: v / report.system_energy for k, v in b.items()}})
            print(name, bits, round(report.macro_tops_per_w, 3),
                  round(report.system_tops_per_w, 3), flush=True)
            if bits == 8:
                with torch.no_grad():
                    run: list[cost.CostCounts] = []  # one counted run over all the calls

                    def plain(model=model, x=x):  # type: ignore[no-untyped-def]
                        model(x)

                    def counted(model=model, x=x, run=run):  # type: ignore[no-untyped-def]
                        with cost.count_costs(model, resume=run[0] if run else None) as c:
                            model(x)
                        run[:] = [c]

                    t = time_group({"plain": plain, "counted": counted}, repeats=41)
                overhead.append({"model": name, "batch": x.shape[0],
                                 "plain_ms": t["plain"]["median_s"] * 1e3,
                                 "counted_ms": t["counted"]["median_s"] * 1e3,
                                 "overhead": t["counted"]["median_s"] / t["plain"]["median_s"]
                                 - 1,
                                 "overhead_min": t["counted"]["min_s"] / t["plain"]["min_s"]
                                 - 1})
                print(overhead[-1], flush=True)
        for key in ("macro_tops_per_w", "system_tops_per_w"):
            base = getattr(per_bits[8], key)
            for row in rows[-3:]:
                row[f"{key}_ratio_to_8bit"] = row[key] / base
    result = {"benchmark": "cost_analognets", "command": portable_command(
        ["python", "benchmarks/bench_cost.py", "--data", str(args.data)]),
        "date": time.strftime("%Y-%m-%d"), "env": env_info(), "code": code_version(),
        "evaluated_at_s": 86400.0, "paper_arxiv_8bit": PAPER_ARXIV_8BIT,
        "paper_ieee_micro": PAPER_MICRO, "rows": rows, "overhead": overhead,
        "assumptions": list(per_bits[8].assumptions)}
    if args.json:
        write_json(str(args.json), result)
    if args.md:
        args.md.write_text(_markdown(result), encoding="utf-8")


def _markdown(r: dict) -> str:
    micro = r["paper_ieee_micro"]
    lines = ["# Cost model on the AnalogNets workloads (arXiv:2111.06503)", "",
             f"Command: `{r['command']}`  ", f"Code: aimc {r['code'].get('aimc')} (commit "
             f"{r['code'].get('git_commit')}), {r['date']}  ",
             f"CPU: {r['env'].get('cpu')}, threads {r['env'].get('threads')}", "",
             "Untrained weights, real inputs (64 MLPerf KWS clips as MFCC / 16 VWW images), "
             "programmed PCM after 24 h of drift with global drift compensation, "
             "`aimc.presets.analognets(bits)` with unsigned DACs after ReLUs and fixed per-layer "
             "ADC ranges (as `aimc reproduce analognets`), default `LayerSerialAccelerator` and "
             "`CostTable` (nothing fitted to the paper). Paper: arXiv 8-bit "
             f"{r['paper_arxiv_8bit']}; IEEE Micro ratios 8:6:4 KWS 1 : "
             f"{micro['kws'][6] / micro['kws'][8]:.2f} : {micro['kws'][4] / micro['kws'][8]:.2f},"
             f" VWW 1 : {micro['vww'][6] / micro['vww'][8]:.2f} : "
             f"{micro['vww'][4] / micro['vww'][8]:.2f}.", "",
             "| model | bits | MACs | arrays | macro TOPS/W | system TOPS/W | ratio to 8 b "
             "(system) | paper ratio | ADC share | latency (us) | area (mm2) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in r["rows"]:
        p = micro[row["task"]]
        lines.append(
            f"| {row['model']} | {row['bits']} | {row['macs']:,.0f} | {row['n_arrays']} | "
            f"{row['macro_tops_per_w']:.3g} | {row['system_tops_per_w']:.3g} | "
            f"{row['system_tops_per_w_ratio_to_8bit']:.2f} | {p[row['bits']] / p[8]:.2f} | "
            f"{100 * row['share']['adc']:.0f} % | {row['latency_us']:.4g} | "
            f"{row['area_mm2']:.3g} |")
    load = r["env"].get("loadavg")
    lines += ["", "Counting overhead (inference forward, counted vs plain, 41 interleaved rounds, "
              "the counted calls adding to one run's counts; load average at the start "
              f"{load}; no other job running):", "",
              "| model | batch | plain (ms, median) | counted (ms, median) | overhead (median) "
              "| overhead (min) |",
              "|---|---:|---:|---:|---:|---:|"]
    for o in r["overhead"]:
        lines.append(f"| {o['model']} | {o['batch']} | {o['plain_ms']:.2f} | "
                     f"{o['counted_ms']:.2f} | {100 * o['overhead']:.1f} % | "
                     f"{100 * o['overhead_min']:.1f} % |")
    lines += ["", "Assumptions:", ""] + [f"- {a}" for a in r["assumptions"]] + [""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
