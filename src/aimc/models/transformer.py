"""``TransformerClassifier``: a small transformer-encoder sequence classifier (SST-2).

The encoder of Vaswani et al., "Attention Is All You Need", NeurIPS 2017, arXiv:1706.03762
(post-norm layers: self-attention and a ReLU feed-forward block, each with residual
connection and LayerNorm), with learned positional embeddings as in BERT, masked mean
pooling over the non-pad tokens and a Linear head: the transformer topology of the HWA
benchmark (arXiv:2302.08469), sized to train from scratch on SST-2 in minutes.

After :func:`aimc.convert_to_analog`, each encoder layer has 4 analog layers — the q/k/v
input projections (``self_attn``), ``self_attn.out_proj``, ``linear1`` and ``linear2`` — and
the head is a fifth; the attention matmuls QKᵀ and A·V, softmax, LayerNorms and both
embeddings stay digital.

torch's encoder runs a fused "fast path" in eval mode (and nested tensors for padded
batches); it gives the same result up to float rounding. Converted models never take it
(see :class:`aimc.nn.AnalogTransformerEncoderLayer`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from aimc.errors import ConfigError, ShapeError
from aimc.models._checks import check_tokens

__all__ = ["TransformerClassifier", "transformer_sst2"]


class TransformerClassifier(nn.Module):
    """Token + position embedding → TransformerEncoder → masked mean pool → Linear.

    Args:
        vocab_size: number of token ids V (including ``pad_id``).
        num_classes: number of output logits C.
        d_model: model width.
        nhead: attention heads (must divide ``d_model``).
        num_layers: encoder layers.
        dim_feedforward: hidden width of the feed-forward block.
        max_len: longest sequence the learned positional embedding covers.
        dropout: dropout after the embeddings and inside every encoder layer.
        pad_id: the padding token id; pad positions are masked out of attention (as keys)
            and of the pooling.

    Shapes:
        tokens: (N, L) integer ids in [0, V) with L ≤ max_len; every sequence needs at least
        one non-pad token. Returns logits (N, C).
    """

    def __init__(self, vocab_size: int, num_classes: int = 2, d_model: int = 128,
                 nhead: int = 4, num_layers: int = 2, dim_feedforward: int = 256,
                 max_len: int = 128, dropout: float = 0.1, pad_id: int = 0) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("num_classes", num_classes),
                            ("d_model", d_model), ("nhead", nhead), ("num_layers", num_layers),
                            ("dim_feedforward", dim_feedforward), ("max_len", max_len)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"TransformerClassifier {name} must be a positive int, got "
                                  f"{value!r}")
        if d_model % nhead:
            raise ConfigError(f"TransformerClassifier d_model={d_model} is not divisible by "
                              f"nhead={nhead}; pick nhead among the divisors of d_model")
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"TransformerClassifier dropout must lie in [0, 1), got "
                              f"{dropout!r}")
        if not isinstance(pad_id, int) or not 0 <= pad_id < vocab_size:
            raise ConfigError(f"TransformerClassifier pad_id must be a token id in [0, "
                              f"{vocab_size - 1}], got {pad_id!r}")
        self.vocab_size, self.num_classes, self.max_len = vocab_size, num_classes, max_len
        self.d_model, self.pad_id = d_model, pad_id
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.pos_embedding = nn.Embedding(max_len, d_model)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, num_classes)
        with torch.no_grad():
            nn.init.normal_(self.embedding.weight, std=0.02)
            nn.init.normal_(self.pos_embedding.weight, std=0.02)
            self.embedding.weight[pad_id].zero_()

    def forward(self, tokens: Tensor) -> Tensor:
        """Logits (N, num_classes) for token ids (N, L)."""
        tokens = check_tokens(tokens, "TransformerClassifier", self.vocab_size, self.max_len)
        pad = tokens == self.pad_id  # (N, L), True where padded
        keep = (~pad).to(self.head.weight.dtype).unsqueeze(-1)  # (N, L, 1)
        count = keep.sum(dim=1)  # (N, 1)
        if not torch.compiler.is_compiling() and bool((count == 0).any()):
            raise ShapeError(f"TransformerClassifier got a sequence made only of pad tokens "
                             f"(pad_id={self.pad_id}); every sequence needs at least one "
                             "real token")
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.drop(self.embedding(tokens) + self.pos_embedding(pos))
        x = self.encoder(x, src_key_padding_mask=pad)
        pooled = (x * keep).sum(dim=1) / count  # (N, d_model)
        return self.head(pooled)


def transformer_sst2(vocab_size: int = 30_522, num_classes: int = 2, d_model: int = 128,
                     nhead: int = 4, num_layers: int = 2, dim_feedforward: int = 256,
                     max_len: int = 128, dropout: float = 0.1, pad_id: int = 0
                     ) -> TransformerClassifier:
    """The SST-2 sentiment transformer: 2 encoder layers, d_model 128, 4 heads, FF 256.

    ``vocab_size`` defaults to 30 522, the size of the BERT-base uncased WordPiece
    vocabulary (a common SST-2 tokenisation; pad id 0); pass the size of your own
    tokenizer's vocabulary. With the defaults: 4,188,418 parameters, of which 3,906,816
    in the digital token embedding; 9 analog layers after conversion.

    Shapes:
        tokens: (N, L ≤ 128) long; returns logits (N, 2).
    """
    return TransformerClassifier(vocab_size, num_classes, d_model, nhead, num_layers,
                                 dim_feedforward, max_len, dropout, pad_id)
