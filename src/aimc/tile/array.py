"""``TileArray``: one layer's weight matrix on a grid of crossbar tiles, with its state.

The tile grid (K tiles of ``rows`` inputs × ``out`` columns, see
:mod:`aimc.physics.geometry`) runs as one batched contraction. The array owns the hardware
state as buffers:

* ``input_range`` (K,) — per-tile input range r (a parameter, learnable in HWA training);
* after :meth:`program`: the programmed devices — ĝ⁺, ĝ⁻ (2, K, out, rows), normalised by
  g_max, and their drift exponents ν (2, K, out, rows; float16: relative precision 5e-4,
  i.e. < 0.05 % conductance error after ten years of drift, far below the model's read
  noise) — kept as a recipe (:class:`aimc.tile.programming.ProgrammingRecord`: the source
  weight and the RNG state of the draws) and redrawn bit-identically when ``set_time`` or a
  checkpoint needs them (:meth:`TileArray.programmed_devices`). The ``g_programmed`` and
  ``drift_nu`` buffers hold them as tensors only after a checkpoint load or
  :meth:`TileArray.store_programmed_state` (checkpoints always carry the tensors);
  ``weight_scales`` (K, out) digital column scales; ``weight_now`` (K, out, rows) the
  normalised weights the hardware holds at the current time; ``gdc_reference`` and
  ``gdc_alpha`` (K,) or (K, out) drift compensation; ``t_inference`` (s) the simulated time
  since programming. The perturbation MVMs (IR drop, read noise) take |w| and, where their
  dtype is lower (bfloat16, see :class:`aimc.config.Runtime`), w in that dtype per call
  instead of caching them: a programmed, drifted layer holds 2× its FP32 weight bytes
  (the digital weight + ``weight_now``).

Semantics (physics.md §1.4): ``program`` draws programming noise and drift exponents once;
``set_time(t)`` recomputes drift from the stored state and draws fresh read noise. In
``train()`` mode, and before programming, the forward pass maps the digital weights on the
fly (HWA semantics: periphery noise, no programming noise or drift).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from aimc.config import (
    AnalogConfig,
    DeviceStateWeightNoise,
    GlobalCompensation,
    NoCompensation,
    NoScaling,
    PerColumnCompensation,
    PerTileScaling,
)
from aimc.errors import CheckpointError, ConfigError, StateError
from aimc.physics.devices import conductances_at, drift, program_conductances
from aimc.physics.geometry import LinearGeometry, TileGeometry
from aimc.physics.mapping import conductances_to_weights, weights_to_conductances
from aimc.physics.modifiers import apply_weight_noise, device_state_forward
from aimc.physics.mvm import (
    MVMObserver,
    PerturbationWeights,
    analog_mvm,
    analog_mvm_prepared,
    crossbar_mvm,
    perturbation_dtype,
    prepared_factors,
)
from aimc.tile.counters import TileCounters, conductance_row_sums
from aimc.tile.programming import ProgrammingRecord

__all__ = ["TileArray"]

#: at most this many values per tile enter a quantile estimate (torch.quantile's limit is 2^24)
_QUANTILE_SAMPLES = 1 << 20

#: the batch size for which the perturbation caches are built (see ``_perturbation_dtype``)
CACHE_BATCH = 64

STATE_BUFFERS = ("g_programmed", "drift_nu", "weight_scales", "weight_now", "gdc_reference",
                  "gdc_alpha")


class TileArray(nn.Module):
    """A layer's weight on crossbar tiles: state buffers plus the composed analog MVM.

    Args:
        geometry: the layer's tile geometry (dense or convolution).
        config: the analog config (validated).
        device, dtype: of the state tensors.
    """

    def __init__(self, geometry: TileGeometry, config: AnalogConfig, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        super().__init__()
        if not isinstance(config, AnalogConfig):
            raise ConfigError(f"expected an AnalogConfig instance (e.g. aimc.presets.rasch2023()),"
                              f" got {config!r}")
        self.geometry = geometry
        self.config = config
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        k = geometry.num_tiles
        if config.input_range is not None:
            self.input_range: nn.Parameter | None = nn.Parameter(
                torch.full((k,), float(config.input_range.init_value), **kw),
                requires_grad=config.input_range.learn)
        else:
            self.input_range = None
        if config.mapping.learn_out_scaling:
            self.out_scales: nn.Parameter | None = nn.Parameter(
                torch.ones((k, geometry.out), **kw))
        else:
            self.out_scales = None
        io, tr = config.forward, config.training
        #: the periphery while training: extra output noise injected (HWATraining.out_noise)
        self._train_io = io if tr.out_noise == 0 else io.replace(
            out_noise=math.hypot(io.out_noise, tr.out_noise))
        self.register_buffer("input_range_batches", torch.zeros((), dtype=torch.long,
                                                                device=device))
        self.register_buffer("programmed", torch.zeros((), dtype=torch.bool, device=device))
        self.register_buffer("t_inference", torch.zeros((), dtype=torch.float64, device=device))
        for name in STATE_BUFFERS:
            self.register_buffer(name, torch.empty(0, **kw))
        #: Σ over columns of ĝ⁺ + ĝ⁻ per row (K, rows) at the current time, for cost counting
        self.register_buffer("g_row_sum", torch.empty(0, **kw), persistent=False)
        #: operation counters for the cost model (aimc.cost.count_costs); None: not counting
        self.counters: TileCounters | None = None
        self._calibration_checked = False
        self.sync_range_batches(0)  # Python mirror of input_range_batches
        self._calibrating: tuple[str, float] | None = None  # set by calibrate_input_ranges
        #: collects |ADC input| statistics while aimc.calibrate_adc_ranges runs, else None
        self.adc_calibration: AdcInputCollector | None = None
        #: RNG for the per-MVM noise (input, read and output noise); None: the global RNG.
        #: Not saved in checkpoints (generators are not tensors); see aimc.set_noise_generator.
        self.noise_generator: torch.Generator | None = None
        self._eval_cache: tuple[Any, Tensor, Tensor | None, Any] | None = None
        #: the training state that owns the weight when ``config.on_chip`` is set (an
        #: :class:`aimc.onchip.OnChipState`, attached by the layer that builds this array:
        #: the tile knows only the :class:`WeightTrainer` protocol)
        self.onchip: WeightTrainer | None = None
        #: how to redraw the programmed devices (None: not programmed, or stored as tensors)
        self._programming: ProgrammingRecord | None = None

    # ------------------------------------------------------------------ helpers
    @property
    def is_programmed(self) -> bool:
        """Whether :meth:`program` has run (and the state was not cleared since)."""
        return self.weight_now.numel() > 0

    def extra_repr(self) -> str:
        g = self.geometry
        state = (f"programmed, t={float(self.t_inference):g} s" if self.is_programmed
                 else "not programmed")
        return f"tiles={g.num_tiles}, rows={g.rows}, cols={g.out}, {state}"

    def _scales(self, w_tiles: Tensor) -> Tensor:
        """Digital weight scales (K, out) so that w_tiles/scale ∈ [−1, 1]."""
        ws = self.config.mapping.weight_scaling
        if isinstance(ws, NoScaling):
            return torch.ones(w_tiles.shape[:2], dtype=w_tiles.dtype, device=w_tiles.device)
        a = w_tiles.detach().abs()
        s = a.amax(dim=2) if not isinstance(ws, PerTileScaling) else (
            a.amax(dim=(1, 2), keepdim=False).unsqueeze(1).expand(w_tiles.shape[:2]))
        return torch.where(s > 0, s, torch.ones_like(s))

    def _expected_shapes(self) -> dict[str, tuple[int, ...]]:
        g = self.geometry
        k, o, r = g.num_tiles, g.out, g.rows
        comp = self.config.drift_compensation
        gdc = (k,) if isinstance(comp, GlobalCompensation) else (
            (k, o) if isinstance(comp, PerColumnCompensation) else (0,))
        return {"g_programmed": (2, k, o, r), "drift_nu": (2, k, o, r),
                "weight_scales": (k, o), "weight_now": (k, o, r),
                "gdc_reference": gdc, "gdc_alpha": gdc}

    def _update_input_range(self, x_tiles: Tensor, method: str = "std",
                            quantile: float = 0.9999) -> None:
        """Fold this batch into the running mean of the input range per tile.

        ``method``: ``"std"`` — r = init_std_alpha·std(x) (the HWA-training initialisation of
        physics.md §1.2); ``"quantile"`` — r = the ``quantile`` of |x|; ``"max"`` — max |x|.
        """
        ir = self.config.input_range
        assert ir is not None and self.input_range is not None
        n = int(self.input_range_batches)
        with torch.no_grad():
            per_tile = x_tiles.detach().transpose(0, self._tile_dim())
            per_tile = per_tile.reshape(per_tile.shape[0], -1)
            if method == "std":
                new = ir.init_std_alpha * per_tile.std(dim=1)
            elif method == "max":
                new = per_tile.abs().amax(dim=1)
            else:
                values = per_tile.abs()
                if values.shape[1] > _QUANTILE_SAMPLES:  # deterministic strided subsample
                    values = values[:, :: values.shape[1] // _QUANTILE_SAMPLES + 1]
                new = torch.quantile(values.float(), quantile, dim=1).to(values.dtype)
            new = torch.where(new > 0, new, torch.full_like(new, ir.init_value))
            if n:
                self.input_range.mul_(n / (n + 1)).add_(new / (n + 1))
            else:
                self.input_range.copy_(new)
            self.input_range_batches += 1
            self.sync_range_batches(self._range_batches_seen + 1)

    @torch.compiler.disable
    def _initialise_input_range(self, x_tiles: Tensor) -> Tensor:
        """One batch of the data initialisation of r; returns the r to use in this call.

        r is not learned in such a call, and a copy keeps later in-place updates (e.g. the
        next LSTM time step) out of the graph. Runs eagerly under ``torch.compile`` (one
        graph break per call during the first ``init_from_data`` batches; the compiled
        graph after them has none).
        """
        self._update_input_range(x_tiles)
        assert self.input_range is not None
        return self.input_range.detach().clone()

    @torch.compiler.disable
    def _warn_uncalibrated(self) -> None:
        if not self._calibration_checked:
            self._calibration_checked = True
            ir = self.config.input_range
            warnings.warn(
                f"input ranges were never initialised from data, so r = "
                f"{ir.init_value if ir else None} is used; call aimc.calibrate_input_ranges("
                "model, batches) after conversion (or train analog) for a meaningful DAC "
                "range", stacklevel=4)

    def sync_range_batches(self, batches: int | None = None) -> None:
        """Mirror ``input_range_batches`` in Python state (re-read it, or set it to ``batches``).

        The forward pass reads only the mirror's two flags (any data seen; initialisation
        done), never the tensor: reading it is a graph break under ``torch.compile``, and a
        guard on a counter would recompile on every batch. Call this after writing the
        buffer directly.
        """
        n = int(self.input_range_batches) if batches is None else batches
        ir = self.config.input_range
        self._range_batches_seen = n
        self._ranges_seen = n > 0
        self._ranges_ready = ir is None or n >= ir.init_from_data

    def _tile_dim(self) -> int:
        return 0 if isinstance(self.geometry, LinearGeometry) else 1

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        """Analog MVM of layer inputs ``x`` (layer layout) with digital ``weight``.

        ``bias`` (out features,) is added digitally. Returns the layer output in the layout
        of ``geometry.from_tiles``.
        """
        g = self.geometry
        x_tiles = g.to_tiles(x)
        ir = self.config.input_range
        input_range = self.input_range
        if self._calibrating is not None:
            self._update_input_range(x_tiles, *self._calibrating)
        elif ir is not None and ir.init_from_data > 0:
            if self.training:
                if not self._ranges_ready:
                    input_range = self._initialise_input_range(x_tiles)
            elif not self._ranges_seen:
                self._warn_uncalibrated()  # once; runs eagerly (compiled: a graph break)
        observe = self._mvm_observer(x_tiles, weight)
        vectors = x_tiles.shape[g.batch_dim] * math.prod(x_tiles.shape[3:])
        if self.is_programmed and not self.training:
            io = self.config.forward
            if torch.compiler.is_compiling():  # no cache, no in-place path: one fused graph
                out_scale, input_range = self._programmed_scales()
                return analog_mvm(x_tiles, self.weight_now, io, g, out_scale=out_scale,
                                  input_range=input_range,
                                  pert=self._perturbation_weights(vectors), bias=bias,
                                  generator=self.noise_generator, observe=observe)
            out_scale, input_range, factors = self._eval_scales()
            pert = self._perturbation_weights(vectors)
            if factors is not None and not (torch.is_grad_enabled() and x.requires_grad):
                return analog_mvm_prepared(x_tiles, self.weight_now, io, g, factors=factors,
                                           pert=pert, bias=bias, generator=self.noise_generator,
                                           observe=observe)
            return analog_mvm(x_tiles, self.weight_now, io, g, out_scale=out_scale,
                              input_range=input_range, pert=pert, bias=bias,
                              generator=self.noise_generator, observe=observe)
        onchip = self.onchip
        if onchip is not None:
            onchip.ensure_initialized(weight)
            # every differentiable forward (train or eval mode) goes through the on-chip
            # function: the weight never gets an autograd gradient, its update is the pulses
            if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
                return onchip.differentiable_forward(x, weight, bias, self)
        return self._digital_weight_forward(x_tiles, weight, bias, input_range, vectors,
                                            observe)

    def _mvm_observer(self, x_tiles: Tensor, weight: Tensor) -> MVMObserver | None:
        """The hook on this call's converter signals, or None when nothing listens."""
        if self.counters is None and self.adc_calibration is None:
            return None
        return _TileObserver(self, x_tiles.shape, weight)

    def _digital_weight_forward(self, x_tiles: Tensor, weight: Tensor, bias: Tensor | None,
                                input_range: Tensor | None, vectors: int,
                                observe: MVMObserver | None = None) -> Tensor:
        """The analog MVM with the current digital weights (training, or not programmed)."""
        g = self.geometry
        w_tiles = g.weight_to_tiles(weight)
        onchip = self.onchip
        generator = self.noise_generator
        if onchip is not None:
            # on-chip: the weight is the devices' state, on a fixed crossbar scale
            s = onchip.crossbar_scale
            w = w_tiles / s
            scale = onchip.out_scale(w_tiles.shape[:2], w)
            if self.training:
                # training MVMs draw from the on-chip generator (saved in checkpoints, so
                # training resumes bit-exactly); evaluation leaves that stream alone
                if generator is None:
                    generator = onchip.generator
                onchip.counters["forward_mvms"] += vectors
        else:
            scale = self._scales(w_tiles)
            w = w_tiles / scale.unsqueeze(-1)
        io = self.config.forward
        if self.training:
            io = self._train_io
            noise = self.config.training.weight_noise
            if isinstance(noise, DeviceStateWeightNoise):
                # drifted weights in the crossbar, compensation in the digital scale
                w, alpha = device_state_forward(w, noise, self.config.device,
                                                self.config.drift_compensation,
                                                generator=generator)
                scale = scale * alpha
            else:
                w = apply_weight_noise(w, noise, generator=generator)
        out_scale = scale if self.out_scales is None else scale * self.out_scales
        pert = PerturbationWeights(self._perturbation_dtype(w, vectors))
        return analog_mvm(x_tiles, w, io, g, out_scale=out_scale, input_range=input_range,
                          pert=pert, bias=bias, generator=generator,
                          range_learning=self._range_learning(), observe=observe)

    def _range_learning(self) -> tuple[float, float, float] | None:
        ir = self.config.input_range
        if ir is None:
            return None
        return (ir.decay, ir.input_min_percentage,
                self.config.training.input_range_gradient_scale)

    def _perturbation_dtype(self, w: Tensor, vectors: int | None = None) -> torch.dtype:
        """Perturbation-MVM dtype for a call with ``vectors`` input vectors.

        ``vectors=None`` gives the dtype of the cached weights: the choice for a batch of
        :data:`CACHE_BATCH` vectors.
        """
        n = CACHE_BATCH if vectors is None else vectors
        return perturbation_dtype(w.dtype, w.device, self.config.runtime.perturbation_precision,
                                  n * w.numel())

    def _perturbation_weights(self, vectors: int) -> PerturbationWeights:
        """The perturbation weights of a programmed call: |w| (and w in a lower dtype) built
        per call from ``weight_now``.

        Nothing is cached: a cached |w| or bfloat16 copy would cost 1× / 0.5× the FP32
        weight bytes of every programmed layer, and building them is one elementwise pass
        over the weights, small next to the matrix products of the call.
        """
        return PerturbationWeights(self._perturbation_dtype(self.weight_now, vectors))

    def _eval_scales(self) -> tuple[Tensor, Tensor | None, Any]:
        """Digital output scale (weight scale × α) and input range, cached between calls.

        The cache is keyed on the identity and in-place version of the tensors it derives
        from, so any change to them (set_time, calibration, loading) invalidates it.
        """
        r = self.input_range
        sources = (self.weight_scales, self.gdc_alpha, r, self.out_scales)
        versions = tuple(-1 if t is None else t._version for t in sources)
        cache = self._eval_cache
        # the cache holds its source tensors, so identity checks cannot alias freed tensors
        if (cache is None or any(a is not b for a, b in zip(cache[0][0], sources, strict=True))
                or cache[0][1] != versions):
            scale, r_now = self._programmed_scales()
            factors = prepared_factors(self.config.forward, self.geometry, scale, r_now)
            cache = ((sources, versions), scale, r_now, factors)
            self._eval_cache = cache
        return cache[1], cache[2], cache[3]

    def _programmed_scales(self) -> tuple[Tensor, Tensor | None]:
        """Digital output scale (weight scale × α × output scale) and the detached r."""
        scale = self.weight_scales
        if self.gdc_alpha.numel():
            scale = scale * self.gdc_alpha.view(self.geometry.num_tiles, -1)
        if self.out_scales is not None:
            scale = scale * self.out_scales.detach()
        r = self.input_range
        return scale, None if r is None else r.detach()

    # ------------------------------------------------------------------ lifecycle
    @torch.no_grad()
    def program(self, weight: Tensor, *, generator: torch.Generator | None = None) -> None:
        """Program the digital ``weight`` onto the devices (programming noise + drift ν once).

        Resets the simulated time to 0 and measures the drift-compensation reference. The
        devices are kept as a recipe (source weight + RNG state; see
        :mod:`aimc.tile.programming`), not as tensors, unless the RNG state cannot be
        captured.
        """
        record = ProgrammingRecord.capture(weight, generator)  # before any draw
        scales, g_prog, nu = self._draw_devices(weight.detach(), generator)
        self._programming = record
        empty = weight.new_empty(0)
        self.g_programmed = g_prog.contiguous() if record is None else empty
        self.drift_nu = nu.contiguous() if record is None else empty.to(torch.float16)
        self.weight_scales = scales.contiguous()
        self.g_row_sum = g_prog.clamp(min=0).sum(dim=(0, 2))
        self.weight_now = conductances_to_weights(g_prog).contiguous()
        del g_prog, nu
        self.t_inference.fill_(0.0)
        self.programmed.fill_(True)
        comp = self.config.drift_compensation
        if isinstance(comp, NoCompensation):
            self.gdc_reference = torch.empty(0, dtype=weight.dtype, device=weight.device)
            self.gdc_alpha = torch.empty(0, dtype=weight.dtype, device=weight.device)
        else:
            self.gdc_reference = self._probe(self.weight_now, generator)
            self.gdc_alpha = torch.ones_like(self.gdc_reference)

    def _draw_devices(self, weight: Tensor, generator: torch.Generator | None
                      ) -> tuple[Tensor, Tensor, Tensor]:
        """Column scales (K, out), ĝ (2, K, out, rows) and float16 ν for ``weight``."""
        w_tiles = self.geometry.weight_to_tiles(weight)
        scales = self._scales(w_tiles)
        g_target = weights_to_conductances(w_tiles / scales.unsqueeze(-1))
        g_prog, nu = program_conductances(g_target, self.config.device, generator=generator)
        return scales, g_prog, nu.to(torch.float16)

    @torch.no_grad()
    def programmed_devices(self) -> tuple[Tensor, Tensor]:
        """The programmed devices: ĝ (2, K, out, rows) in units of g_max and float16 ν.

        Redrawn from the programming record (bit-identical to the first draw, on this
        array's device and dtype) unless they are stored as tensors.

        Raises:
            StateError: not programmed, or the digital weight changed since programming.
        """
        self._require_programmed("programmed_devices()")
        record = self._programming
        if record is None:
            return self.g_programmed, self.drift_nu
        record.check()
        _, g_prog, nu = self._draw_devices(record.source, record.generator())
        like = self.weight_now
        return g_prog.to(device=like.device, dtype=like.dtype), nu.to(device=like.device)

    def store_programmed_state(self) -> None:
        """Keep the programmed devices as tensors (3× the FP32 weight bytes) from now on.

        Needed only to change the digital weight of a programmed layer without
        re-programming it: the recipe would then describe other devices.
        """
        if self._programming is not None:
            self.g_programmed, self.drift_nu = self.programmed_devices()
            self._programming = None

    @torch.no_grad()
    def set_time(self, t_inference: float, *, generator: torch.Generator | None = None) -> None:
        """Move to ``t_inference`` seconds after programming: drift + fresh read noise + GDC."""
        if not self.is_programmed:
            raise StateError("set_time() needs programmed devices; call aimc.program(model) "
                             "first")
        t = _check_time(t_inference)
        g_prog, nu16 = self.programmed_devices()
        g_t = conductances_at(g_prog, nu16.to(g_prog.dtype), t, self.config.device,
                              generator=generator)
        del g_prog, nu16
        self.g_row_sum = g_t.clamp(min=0).sum(dim=(0, 2))
        self.weight_now = conductances_to_weights(g_t)
        del g_t
        if self.gdc_reference.numel():
            current = self._probe(self.weight_now, generator)
            self.gdc_alpha = self.gdc_reference / current.clamp(min=1e-4)
        self.t_inference.fill_(t)

    def row_conductance_sums(self, weight: Tensor) -> Tensor:
        """Σ over columns of ĝ⁺ + ĝ⁻ per row, (K, rows), in units of g_max.

        Programmed: the devices' conductances at the current time (after a checkpoint load,
        which does not store them, the drifted programmed values without read noise).
        Not programmed: the conductances the digital ``weight`` maps to.
        """
        if self.is_programmed:
            if self.g_row_sum.numel() == 0:
                g_prog, nu16 = self.programmed_devices()
                g_t = drift(g_prog, nu16.to(g_prog.dtype), float(self.t_inference),
                            self.config.device.t0)
                self.g_row_sum = g_t.clamp(min=0).sum(dim=(0, 2))
            return self.g_row_sum
        w_tiles = self.geometry.weight_to_tiles(weight.detach())
        if self.onchip is not None:
            w = w_tiles / self.onchip.crossbar_scale
        else:
            w = w_tiles / self._scales(w_tiles).unsqueeze(-1)
        return conductance_row_sums(w.clamp(-1.0, 1.0))

    def snapshot(self) -> tuple[Tensor, Tensor, Tensor]:
        """The time-dependent state (weights now, α, time), for :meth:`restore`."""
        return self.weight_now.clone(), self.gdc_alpha.clone(), self.t_inference.clone()

    def restore(self, state: tuple[Tensor, Tensor, Tensor]) -> None:
        """Return to a state taken with :meth:`snapshot` (no new noise is drawn)."""
        w, alpha, t = state
        self.weight_now = w
        self.g_row_sum = w.new_empty(0)  # recomputed (drift, no read noise) when counted
        self.gdc_alpha = alpha
        self.t_inference.copy_(t)

    def _probe(self, w: Tensor, generator: torch.Generator | None) -> Tensor:
        """Drift-compensation readout: one-hot (or m-row) probes through the noisy tile.

        Returns mean|Y| per tile (K,) for global, or per tile column (K, out) for per-column.
        """
        g = self.geometry
        geom = LinearGeometry(in_features=g.num_tiles * g.rows, out_features=g.out,
                              max_rows=g.rows)
        m = getattr(self.config.drift_compensation, "rows_per_probe", 1)
        probes = torch.eye(g.rows, dtype=w.dtype, device=w.device)
        if m > 1:  # probe p drives rows p·m … p·m + m − 1 together
            probes = probes.reshape(-1, m, g.rows).sum(1) if g.rows % m == 0 else torch.stack(
                [probes[i:i + m].sum(0) for i in range(0, g.rows, m)])
        probes = probes.expand(g.num_tiles, -1, -1)
        y = crossbar_mvm(probes, w, self.config.forward, geom, generator=generator).abs()
        if isinstance(self.config.drift_compensation, PerColumnCompensation):
            return y.mean(dim=1)
        return y.mean(dim=(1, 2))

    def replace_config(self, config: AnalogConfig) -> None:
        """Switch to another analog config with the same structure (e.g. for a sweep).

        Allowed to change: the device model, the periphery (``forward``), drift compensation,
        runtime and training settings, and the input-range *settings*. Not allowed (they
        change the tile structure or parameters): the tile size, weight scaling, learnable
        output scales, and switching the input range on or off. The programmed state is
        kept; re-program after changing the device model, and re-run ``set_time`` after
        changing drift compensation.
        """
        self.check_replacement(config)
        if config.device != self.config.device:
            # the recipe redraws with the config's device model: keep the devices that were
            # programmed with the old one (the chip does not change until re-programmed)
            self.store_programmed_state()
        self.config = config
        io, tr = config.forward, config.training
        self._train_io = io if tr.out_noise == 0 else io.replace(
            out_noise=math.hypot(io.out_noise, tr.out_noise))
        if self.input_range is not None and config.input_range is not None:
            self.input_range.requires_grad_(config.input_range.learn)
        self.sync_range_batches(self._range_batches_seen)
        self._eval_cache = None

    def check_replacement(self, config: AnalogConfig) -> None:
        """Raise ConfigError unless :meth:`replace_config` can switch to ``config``."""
        old = self.config
        if not isinstance(config, AnalogConfig):
            raise ConfigError(f"expected an AnalogConfig, got {type(config).__name__}")
        if config.mapping != old.mapping:
            raise ConfigError("replace_config cannot change the mapping (tile size, scaling, "
                              "output scales); convert the digital model again instead")
        if (config.input_range is None) != (old.input_range is None):
            raise ConfigError("replace_config cannot switch the input range on or off; "
                              "convert the digital model again instead")
        if config.on_chip != old.on_chip:
            raise ConfigError("replace_config cannot change the on-chip training settings (the "
                              "devices and accumulators are built from them); convert the "
                              "digital model again with the new config instead")
        if type(config.drift_compensation) is not type(old.drift_compensation) and (
                self.is_programmed):
            raise ConfigError("replace_config cannot change the drift compensation of a "
                              "programmed tile; clear it first (tile.clear_programming()) and "
                              "program again after switching")

    def clear_programming(self) -> None:
        """Forget the programmed state (back to mapping the digital weights on the fly)."""
        like = self.weight_scales
        for name in (*STATE_BUFFERS, "g_row_sum"):
            setattr(self, name, like.new_empty(0))
        self._programming = None
        self.programmed.fill_(False)
        self.t_inference.fill_(0.0)

    # ------------------------------------------------------------------ read-out
    def conductances(self) -> Tensor:
        """Programmed conductances in siemens, (2, K, out, rows): [G⁺, G⁻] per tile."""
        self._require_programmed("conductances()")
        return self.programmed_devices()[0] * self.config.device.g_max

    def conductances_now(self) -> Tensor:
        """Conductances in siemens at the current time, as the difference-pair weights hold.

        Returns (K, out, rows): G⁺ − G⁻ in S (drift and read noise at ``t_inference``).
        """
        self._require_programmed("conductances_now()")
        return self.weight_now * self.config.device.g_max

    def read_weights(self, *, compensated: bool = True) -> Tensor:
        """Effective weights in tile layout (K, out, rows), in digital-weight units.

        ``compensated`` includes the drift-compensation factor α (what the layer computes).
        """
        self._require_programmed("read_weights()")
        w = self.weight_now * self.weight_scales.unsqueeze(-1)
        if self.out_scales is not None:
            w = w * self.out_scales.detach().unsqueeze(-1)
        if compensated and self.gdc_alpha.numel():
            w = w * self.gdc_alpha.view(self.geometry.num_tiles, -1, 1)
        return w

    def effective_weight(self, weight: Tensor) -> Tensor:
        """The digital weight the ideal crossbar computes with, in the layer's layout.

        Equals ``weight`` unless learnable output scales are on; then each tile column is
        multiplied by its output scale.
        """
        if self.out_scales is None:
            return weight
        g = self.geometry
        return g.weight_from_tiles(g.weight_to_tiles(weight) * self.out_scales.unsqueeze(-1))

    def _require_programmed(self, what: str) -> None:
        if not self.is_programmed:
            raise StateError(f"{what} needs programmed devices; call aimc.program(model) first")

    # ------------------------------------------------------------------ checkpoints
    def get_extra_state(self) -> dict[str, Any]:
        g = self.geometry
        return {"config": self.config.to_dict(),
                "tiles": [g.num_tiles, g.out, g.rows]}

    def set_extra_state(self, state: Any) -> None:
        self.check_extra_state(state, prefix="")

    def check_extra_state(self, state: Any, prefix: str) -> None:
        """Raise CheckpointError unless ``state`` matches this array's config and geometry."""
        g = self.geometry
        if not isinstance(state, dict) or "config" not in state or "tiles" not in state:
            raise CheckpointError(f"{prefix}_extra_state is not an aimc tile state; the "
                                  "checkpoint was not saved from an aimc analog model")
        if list(state["tiles"]) != [g.num_tiles, g.out, g.rows]:
            raise CheckpointError(
                f"{prefix}: checkpoint tiles {state['tiles']} (tiles, cols, rows) do not match "
                f"this layer's {[g.num_tiles, g.out, g.rows]}; build the same architecture "
                "and tile size before loading")
        if state["config"] != self.config.to_dict():
            mine = self.config.to_dict()
            diff = _first_difference(state["config"], mine)
            raise CheckpointError(
                f"{prefix}: checkpoint was saved with a different analog config ({diff}); "
                "convert the model with the checkpoint's config, e.g. "
                "AnalogConfig.from_dict(state_dict[key]['config'])")

    def check_state_shapes(self, state_dict: dict[str, Any], prefix: str) -> None:
        """Raise CheckpointError if programmed-state tensors have impossible shapes."""
        expected = self._expected_shapes()
        for name, shape in expected.items():
            key = prefix + name
            if key in state_dict:
                got = tuple(state_dict[key].shape)
                if got not in (shape, (0,)):
                    raise CheckpointError(f"{key} has shape {got}, expected {shape} (or empty); "
                                          "the checkpoint is from a different architecture")

    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str,
                            keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self._programming is not None:  # checkpoints carry the devices as tensors
            destination[prefix + "g_programmed"], destination[prefix + "drift_nu"] = (
                self.programmed_devices())

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any,
                              **kwargs: Any) -> None:
        self.check_state_shapes(state_dict, prefix)
        for name in STATE_BUFFERS:
            key = prefix + name
            if key in state_dict:
                mine, theirs = getattr(self, name), state_dict[key]
                if mine.shape != theirs.shape or mine.dtype != theirs.dtype:
                    setattr(self, name, mine.new_empty(theirs.shape, dtype=theirs.dtype))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if prefix + "g_programmed" in state_dict:
            self._programming = None  # the loaded tensors are the devices now
        self.sync_range_batches()
        self.g_row_sum = self.weight_now.new_empty(0)


class WeightTrainer(Protocol):
    """A training state that owns a tile array's weight (on-chip training: the devices are
    the truth, see :class:`aimc.onchip.OnChipState`). The tile calls it; it never imports it.
    """

    generator: torch.Generator
    counters: dict[str, int]

    @property
    def crossbar_scale(self) -> float:
        """Digital weight units per unit of normalised conductance (w/g_max)."""

    def ensure_initialized(self, weight: Tensor) -> None:
        """Write ``weight`` onto the devices on first use."""

    def out_scale(self, shape: torch.Size, like: Tensor) -> Tensor:
        """The digital output scale (tiles, out) of the forward MVM."""

    def differentiable_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None,
                               tiles: TileArray) -> Tensor:
        """The forward whose backward pass feeds the trainer's update (x, δ record)."""


class AdcInputCollector(Protocol):
    """Receives the ADC inputs of a tile array (see :func:`aimc.calibrate_adc_ranges`)."""

    def add(self, y: Tensor, unit: float) -> None:
        """One call's analog outputs y·unit (full-scale units), before the ADC."""


class _TileObserver:
    """An :class:`~aimc.physics.mvm.MVMObserver` for one forward call of a tile array."""

    __slots__ = ("tiles", "in_shape", "weight")

    def __init__(self, tiles: TileArray, in_shape: torch.Size, weight: Tensor) -> None:
        self.tiles, self.in_shape, self.weight = tiles, in_shape, weight

    def dac_output(self, xq: Tensor, unit: float) -> None:
        counters = self.tiles.counters
        if counters is not None:
            counters.record(self.tiles, self.in_shape, xq, unit, self.weight)

    def adc_input(self, y: Tensor, unit: float) -> None:
        collector = self.tiles.adc_calibration
        if collector is not None:
            collector.add(y, unit)


def _check_time(t: Any) -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        if isinstance(t, Tensor) and t.numel() == 1:
            t = float(t)
        else:
            raise ConfigError(f"time must be a number of seconds, got {type(t).__name__}")
    t = float(t)
    if math.isnan(t) or t < 0 or math.isinf(t):
        raise ConfigError(f"time must be a finite number of seconds >= 0 after programming, "
                          f"got {t}")
    return t


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
    return f"{path}: checkpoint {a!r} vs model {b!r}"
