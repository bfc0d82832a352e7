"""``aimc device-plot``: pulse-response PNGs of the pulsed device models.

::

    aimc device-plot NAME [--out FILE.png] [--set FIELD=VALUE ...] [--up N] [--down N]
                     [--cycles N] [--devices N] [--seed N]
    aimc device-plot --list

``NAME`` is a device config class (``SoftBoundsDevice``, ``ConstantStepDevice``, …) or a
preset (``pcm_preset``: aihwkit's fitted one-sided PCM device; ``pcm_2018``: the
Nandakumar et al. 2018 PCM pulse model). ``--set`` changes fields, e.g.
``--set dw_min=0.01 --set up_down=0.2``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_device_plot", "device_from_name", "DEVICE_NAMES", "STDP_DEVICE_NAMES"]

#: device config classes by name, plus the preset factories
#: memristive STDP synapses (plotted as an STDP window, not a pulse response)
STDP_DEVICE_NAMES = ("CuSiO2WMemristor",)
DEVICE_NAMES = ("ConstantStepDevice", "LinearStepDevice", "SoftBoundsDevice", "ExpStepDevice",
                "PowStepDevice", "PiecewiseStepDevice", "PCMPulseDevice", "pcm_preset",
                "pcm_2018")


def device_from_name(name: str, overrides: list[str] | None = None) -> Any:
    """Build a pulsed device config from its name and ``FIELD=VALUE`` overrides.

    Raises:
        ConfigError: unknown name (the message lists the choices) or a bad override.
    """
    from aimc.config import pulsed
    from aimc.errors import ConfigError

    if name == "pcm_preset":
        cfg = pulsed.pcm_preset_device()
    elif name == "pcm_2018":
        cfg = pulsed.PCMPulseDevice()
    elif name in DEVICE_NAMES:
        cfg = getattr(pulsed, name)()
    elif name in STDP_DEVICE_NAMES:
        from aimc.config import snn

        cfg = getattr(snn, name)()
    else:
        raise ConfigError(f"unknown device {name!r}; choose one of: "
                          f"{', '.join(DEVICE_NAMES + STDP_DEVICE_NAMES)}")
    changes: dict[str, Any] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects FIELD=VALUE, got {item!r}; e.g. --set dw_min=0.01")
        key, text = item.split("=", 1)
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise ConfigError(f"--set {key}: {text!r} is not a number or JSON value; e.g. "
                              f"--set {key}=0.01") from None
        changes[key.strip()] = tuple(value) if isinstance(value, list) else value
    return cfg.replace(**changes) if changes else cfg


def add_device_plot(sub: Any, int_at_least: Any) -> None:
    """Register the ``device-plot`` sub-command on the ``aimc`` parser."""
    p = sub.add_parser(
        "device-plot", help="plot the pulse response of a pulsed device model to PNG",
        description="Simulate devices (device-to-device and cycle-to-cycle variation on) under "
                    "up/down pulse trains and plot their response and mean step vs. value.")
    p.add_argument("name", nargs="?",
                   help=f"device: {', '.join(DEVICE_NAMES + STDP_DEVICE_NAMES)}")
    p.add_argument("--list", action="store_true", help="list the device names and exit")
    p.add_argument("--out", default=None, help="PNG file (default: device_<name>.png)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change a config field, e.g. --set dw_min=0.01 (repeatable)")
    p.add_argument("--up", type=int_at_least(1, "--up", 500), default=500,
                   help="up (SET) pulses per cycle (500)")
    p.add_argument("--down", type=int_at_least(0, "--down", 500), default=500,
                   help="down pulses per cycle (500; ignored for one-sided devices)")
    p.add_argument("--cycles", type=int_at_least(1, "--cycles", 2), default=2)
    p.add_argument("--devices", type=int_at_least(1, "--devices", 20), default=20)
    p.add_argument("--seed", type=int_at_least(0, "--seed", 0), default=0)
    p.set_defaults(func=run_device_plot, subparser=p)


def run_device_plot(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Handler of ``aimc device-plot``; returns the exit status."""
    from aimc.errors import AimcError

    if args.list:
        print("\n".join(DEVICE_NAMES + STDP_DEVICE_NAMES))
        return 0
    if not args.name:
        parser.error("device-plot needs a device NAME (see aimc device-plot --list), e.g. "
                     "aimc device-plot SoftBoundsDevice")
    try:
        cfg = device_from_name(args.name, args.set)
        from aimc.plotting import plot_device_response, plot_stdp_window

        out = args.out or f"device_{args.name}.png"
        if args.name in STDP_DEVICE_NAMES:  # a memristive synapse: its STDP window
            plot_stdp_window(cfg, path=out, seed=args.seed, devices=max(args.devices, 50))
        else:
            plot_device_response(cfg, n_up=args.up, n_down=args.down, cycles=args.cycles,
                                 n_devices=args.devices, seed=args.seed, path=out)
    except AimcError as exc:
        parser.error(str(exc))
    print(f"wrote {out}")
    return 0
