"""``LSTMLanguageModel``: the classic word-level LSTM language model.

Zaremba, Sutskever, Vinyals, "Recurrent Neural Network Regularization", arXiv:1409.2329
(2014): embedding → stacked LSTM → dropout → Linear decoder over the vocabulary, trained
with truncated backpropagation through time on Penn Treebank (10 000 words). The defaults
are the paper's "small" configuration (2 layers, 200 units, weights uniform in
[−0.1, 0.1]) except for dropout: the small model used none, here ``dropout=0.2`` (the
PyTorch word-language-model example's default) is applied to the embeddings, between LSTM
layers and before the decoder; pass ``dropout=0.0`` for the paper's setting.

After :func:`aimc.convert_to_analog` the LSTM (all layers, input and recurrent weights) and
the decoder are analog; the embedding is a table lookup and stays digital. Recurrent
networks were the most robust topology in the HWA benchmark of arXiv:2302.08469.

Weight tying (``tie_weights=True``, Press & Wolf 2017) makes the decoder share its weight
with the embedding. The shared matrix is the *digital* embedding table, so tying is off by
default: untied, the decoder is an ordinary Linear that maps onto analog tiles. Converting a
tied model copies the weight into the analog decoder, which unties the two.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from aimc.errors import ConfigError, ShapeError
from aimc.models._checks import check_tokens

__all__ = ["LSTMLanguageModel", "LSTMState", "lstm_ptb"]

#: (h, c), each (num_layers, N, hidden).
LSTMState = tuple[Tensor, Tensor]


class LSTMLanguageModel(nn.Module):
    """Embedding → nn.LSTM(batch_first) → dropout → Linear decoder.

    Args:
        vocab_size: number of token ids V (10 000 for Penn Treebank).
        embed_dim: embedding size E.
        hidden: LSTM hidden size H.
        num_layers: stacked LSTM layers.
        dropout: dropout probability on embeddings, between LSTM layers and before the
            decoder (0 switches dropout off).
        tie_weights: share the decoder weight with the embedding (needs ``embed_dim ==
            hidden``); see the module docstring for why this is off by default.

    Shapes:
        tokens: (N, L) integer ids in [0, V); state: (h, c), each (num_layers, N, H), or
        None for zeros. Returns logits (N, L, V) and the final state (h, c).
    """

    def __init__(self, vocab_size: int, embed_dim: int = 200, hidden: int = 200,
                 num_layers: int = 2, dropout: float = 0.2, tie_weights: bool = False) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embed_dim", embed_dim),
                            ("hidden", hidden), ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"LSTMLanguageModel {name} must be a positive int, got "
                                  f"{value!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"LSTMLanguageModel dropout must lie in [0, 1), got {dropout!r}")
        if tie_weights and embed_dim != hidden:
            raise ConfigError(f"tie_weights=True needs embed_dim == hidden, got embed_dim="
                              f"{embed_dim}, hidden={hidden}; set them equal or untie")
        self.vocab_size, self.embed_dim, self.hidden = vocab_size, embed_dim, hidden
        self.num_layers, self.tie_weights = num_layers, bool(tie_weights)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.decoder = nn.Linear(hidden, vocab_size)
        self._init_weights()
        if tie_weights:
            self.decoder.weight = self.embedding.weight

    def _init_weights(self) -> None:
        """Uniform(−0.1, 0.1) for every weight, as in Zaremba et al.; zero decoder bias."""
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-0.1, 0.1)
            self.decoder.bias.zero_()

    def init_state(self, batch: int, *, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> LSTMState:
        """Zero state (h, c), each (num_layers, batch, hidden), on the model's device/dtype."""
        ref = self.decoder.weight
        shape = (self.num_layers, batch, self.hidden)
        kw = {"device": device if device is not None else ref.device,
              "dtype": dtype if dtype is not None else ref.dtype}
        return torch.zeros(shape, **kw), torch.zeros(shape, **kw)

    @staticmethod
    def detach_state(state: LSTMState) -> LSTMState:
        """The state cut from the autograd graph (between truncated-BPTT segments)."""
        return state[0].detach(), state[1].detach()

    def forward(self, tokens: Tensor, state: LSTMState | None = None
                ) -> tuple[Tensor, LSTMState]:
        """Logits (N, L, V) and the final state for token ids (N, L)."""
        tokens = check_tokens(tokens, "LSTMLanguageModel", self.vocab_size)
        if state is not None:
            if not (isinstance(state, tuple | list) and len(state) == 2):
                raise ShapeError("LSTMLanguageModel state must be (h, c) as returned by "
                                 "forward or init_state")
            want = (self.num_layers, tokens.shape[0], self.hidden)
            for s in state:
                if not isinstance(s, Tensor) or tuple(s.shape) != want:
                    got = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
                    raise ShapeError(f"LSTMLanguageModel state tensors must be {want} "
                                     f"(num_layers, N, hidden), got {got}; start with "
                                     "init_state(N) or None")
            state = (state[0], state[1])
        x = self.drop(self.embedding(tokens))
        out, (h, c) = self.lstm(x, state)
        return self.decoder(self.drop(out)), (h, c)


def lstm_ptb(vocab_size: int = 10_000, embed_dim: int = 200, hidden: int = 200,
             num_layers: int = 2, dropout: float = 0.2, tie_weights: bool = False
             ) -> LSTMLanguageModel:
    """The Penn Treebank LSTM LM (Zaremba et al. 2014 "small", arXiv:1409.2329).

    With the defaults (V = 10 000): 4,653,200 parameters (2,000,000 in the digital
    embedding), 2 analog layers (the LSTM and the decoder) after conversion.

    Shapes:
        tokens: (N, L) long; returns logits (N, L, V) and state (h, c) (2, N, 200) each.
    """
    return LSTMLanguageModel(vocab_size, embed_dim, hidden, num_layers, dropout, tie_weights)
