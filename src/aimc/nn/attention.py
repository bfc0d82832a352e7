"""``AnalogMultiheadAttention`` and the transformer encoder layer with analog projections.

What is analog: the q/k/v input projections (three tile arrays over the rows of
``in_proj_weight``, or over ``q/k/v_proj_weight`` when the embedding sizes differ) and the
output projection (``out_proj`` becomes an :class:`~aimc.nn.AnalogLinear` during
conversion). What stays digital: the attention matmuls QKᵀ and A·V (activation ×
activation — there are no stationary weights to program), the softmax, masking, dropout and
the biases.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aimc.config import AnalogConfig
from aimc.errors import ConfigError, ShapeError
from aimc.nn.base import AnalogLayerMixin, make_tile_array, resolve_config
from aimc.physics.geometry import LinearGeometry
from aimc.tile.array import TileArray

__all__ = ["AnalogMultiheadAttention", "AnalogTransformerEncoderLayer"]


class AnalogMultiheadAttention(AnalogLayerMixin, nn.MultiheadAttention):
    """:class:`torch.nn.MultiheadAttention` with analog projections; same signature + ``config``.

    ``add_bias_kv`` and ``add_zero_attn`` are not supported (ConfigError).

    Shapes: query (L, N, E) or (N, L, E) with ``batch_first`` or unbatched (L, E); returns
    (output, attention weights averaged over heads (N, L, S) or per head (N, H, L, S), or
    None when ``need_weights=False``).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None,
                 dtype: Any = None, *, config: AnalogConfig | None = None):
        if add_bias_kv or add_zero_attn:
            raise ConfigError("AnalogMultiheadAttention does not support add_bias_kv or "
                              "add_zero_attn; build the torch module without them or keep it "
                              "digital with filter_fn")
        super().__init__(embed_dim, num_heads, dropout, bias, add_bias_kv, add_zero_attn, kdim,
                         vdim, batch_first, device=device, dtype=dtype)
        self.analog_config = resolve_config(config)
        max_rows = self.analog_config.mapping.tiles.max_rows
        ref = self.out_proj.weight
        sizes = {"q": embed_dim, "k": self.kdim, "v": self.vdim}
        self.proj_tiles = nn.ModuleDict({
            key: make_tile_array(LinearGeometry(size, embed_dim, max_rows), self.analog_config,
                                 device=ref.device, dtype=ref.dtype)
            for key, size in sizes.items()})
        self._register_checkpoint_validation()

    def _proj_weight(self, key: str) -> Tensor:
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            i = "qkv".index(key)
            return self.in_proj_weight[i * e:(i + 1) * e]
        return getattr(self, f"{key}_proj_weight")

    def tile_weights(self) -> Iterator[tuple[str, TileArray, Tensor]]:
        for key in "qkv":
            yield f"{key}_proj_weight", self.proj_tiles[key], self._proj_weight(key)

    def read_weights(self, *, compensated: bool = True) -> dict[str, Tensor]:
        """Effective q/k/v projection weights now (``out_proj`` has its own read-out)."""
        out = super().read_weights(compensated=compensated)
        assert isinstance(out, dict)
        return out

    def _project(self, key: str, x: Tensor) -> Tensor:
        e = self.embed_dim
        lead = x.shape[:-1]
        bias = None
        if self.in_proj_bias is not None:
            i = "qkv".index(key)
            bias = self.in_proj_bias[i * e:(i + 1) * e]
        y = self.proj_tiles[key](x.reshape(-1, x.shape[-1]), self._proj_weight(key), bias)
        return y.view(*lead, e)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        self._check_input(query, "query", (2, 3), self.embed_dim, -1)
        self._check_input(key, "key", (2, 3), self.kdim, -1)
        self._check_input(value, "value", (2, 3), self.vdim, -1)
        unbatched = query.dim() == 2
        if unbatched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        n, tgt, _ = query.shape
        src = key.shape[1]
        h, d = self.num_heads, self.head_dim
        q = self._project("q", query).view(n, tgt, h, d).transpose(1, 2)
        k = self._project("k", key).view(n, src, h, d).transpose(1, 2)
        v = self._project("v", value).view(n, src, h, d).transpose(1, 2)
        mask = self._merged_mask(attn_mask, key_padding_mask, n, tgt, src, is_causal, q)
        p_drop = self.dropout if self.training else 0.0
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
            if mask is not None:
                scores = scores + mask
            attn = torch.softmax(scores, dim=-1)
            ctx = F.dropout(attn, p_drop, self.training) @ v
        else:
            attn = None
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p_drop)
        out = self.out_proj(ctx.transpose(1, 2).reshape(n, tgt, self.embed_dim))
        if attn is not None and average_attn_weights:
            attn = attn.mean(dim=1)
        if unbatched:
            out = out.squeeze(0)
            attn = attn.squeeze(0) if attn is not None else None
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, attn

    def _merged_mask(self, attn_mask: Tensor | None, key_padding_mask: Tensor | None, n: int,
                     tgt: int, src: int, is_causal: bool, like: Tensor) -> Tensor | None:
        """Additive float mask (N, H, L, S) from torch-style boolean/float masks."""
        mask = None
        if attn_mask is None and is_causal:
            attn_mask = torch.ones(tgt, src, dtype=torch.bool, device=like.device).triu(1)
        if attn_mask is not None:
            m = _to_additive(attn_mask, like.dtype)
            if m.dim() == 2:
                if tuple(m.shape) != (tgt, src):
                    raise ShapeError(f"attn_mask must be ({tgt}, {src}), got {tuple(m.shape)}")
                m = m.view(1, 1, tgt, src)
            elif m.dim() == 3:
                if tuple(m.shape) != (n * self.num_heads, tgt, src):
                    raise ShapeError(f"3-d attn_mask must be ({n * self.num_heads}, {tgt}, "
                                     f"{src}), got {tuple(m.shape)}")
                m = m.view(n, self.num_heads, tgt, src)
            else:
                raise ShapeError("attn_mask must have 2 or 3 dims")
            mask = m
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (n, src):
                raise ShapeError(f"key_padding_mask must be ({n}, {src}), got "
                                 f"{tuple(key_padding_mask.shape)}")
            kp = _to_additive(key_padding_mask, like.dtype).view(n, 1, 1, src)
            mask = kp if mask is None else mask + kp
        return mask

    @classmethod
    def from_float(cls, module: nn.MultiheadAttention, config: AnalogConfig | None = None
                   ) -> AnalogMultiheadAttention:
        """Analog copy; ``out_proj`` is copied as is (``convert_to_analog`` converts it)."""
        if module.bias_k is not None or module.add_zero_attn:
            raise ConfigError("cannot convert an nn.MultiheadAttention with add_bias_kv or "
                              "add_zero_attn; exclude it with filter_fn")
        ref = module.out_proj.weight
        new = cls(module.embed_dim, module.num_heads, module.dropout,
                  module.in_proj_bias is not None, kdim=module.kdim, vdim=module.vdim,
                  batch_first=module.batch_first, device=ref.device, dtype=ref.dtype,
                  config=config)
        with torch.no_grad():
            for name, p in module.named_parameters(recurse=False):
                getattr(new, name).copy_(p)
                getattr(new, name).requires_grad_(p.requires_grad)
        new.out_proj = copy.deepcopy(module.out_proj)
        new._copy_mode_from(module)
        return new

    def to_float(self, *, realistic: bool = False) -> nn.MultiheadAttention:
        """A plain ``nn.MultiheadAttention`` (``out_proj`` is converted separately)."""
        ref = self.out_proj.weight
        out = nn.MultiheadAttention(self.embed_dim, self.num_heads, self.dropout,
                                    self.in_proj_bias is not None, kdim=self.kdim,
                                    vdim=self.vdim, batch_first=self.batch_first,
                                    device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            for name, p in self.named_parameters(recurse=False):
                getattr(out, name).copy_(p)
            weights = self.float_weights(realistic=realistic)
            for key in "qkv":
                w = weights[f"{key}_proj_weight"]
                if self._qkv_same_embed_dim:
                    i = "qkv".index(key)
                    e = self.embed_dim
                    out.in_proj_weight[i * e:(i + 1) * e].copy_(w)
                else:
                    getattr(out, f"{key}_proj_weight").copy_(w)
        out.out_proj = copy.deepcopy(self.out_proj)
        out.train(self.training)
        return out


def _to_additive(mask: Tensor, dtype: torch.dtype) -> Tensor:
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(
            mask, float("-inf"))
    return mask.to(dtype)


class AnalogTransformerEncoderLayer(nn.TransformerEncoderLayer):
    """``nn.TransformerEncoderLayer`` that always runs its module-by-module path.

    torch's eval fast path (``torch._transformer_encoder_layer_fwd``) reads the projection
    weights directly and would bypass the analog tiles, so this subclass never takes it.
    Its children (``self_attn``, ``linear1``, ``linear2``) are converted as usual.
    """

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask,
                                   is_causal=is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask,
                                              is_causal=is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x
