"""``MLP`` / ``mlp_mnist``: the fully connected MNIST workload.

A plain multilayer perceptron (Flatten → [Linear → ReLU] × k → Linear), the smallest network
of the HWA benchmark suite (arXiv:2302.08469 benchmarks CNN, RNN and transformer topologies;
an MLP on MNIST is the customary first sanity check). Every Linear maps onto analog tiles
after :func:`aimc.convert_to_analog`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from aimc.errors import ConfigError, ShapeError

__all__ = ["MLP", "mlp_mnist"]


class MLP(nn.Module):
    """Flatten → [Linear → ReLU] per hidden size → Linear.

    Args:
        in_features: number of input values per sample (784 for 1×28×28 MNIST images).
        hidden: hidden-layer widths, e.g. ``(256, 128)``; empty for a linear classifier.
        num_classes: number of output logits.

    Shapes:
        x: (N, *) with ``prod(*) == in_features``, e.g. (N, 1, 28, 28) or (N, 784);
        returns logits (N, num_classes).
    """

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (256, 128),
                 num_classes: int = 10) -> None:
        super().__init__()
        hidden = tuple(hidden)
        for name, value in (("in_features", in_features), ("num_classes", num_classes),
                            *((f"hidden[{i}]", h) for i, h in enumerate(hidden))):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"MLP {name} must be a positive int, got {value!r}")
        self.in_features = in_features
        self.num_classes = num_classes
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, num_classes) for inputs (N, *) with ``in_features`` values each."""
        if not isinstance(x, Tensor) or not x.is_floating_point():
            what = x.dtype if isinstance(x, Tensor) else type(x).__name__
            raise ShapeError(f"MLP expects a floating-point tensor, got {what}; convert with "
                             "x.float()")
        if x.dim() < 2 or math.prod(x.shape[1:]) != self.in_features:
            raise ShapeError(f"MLP expects (N, *) inputs with {self.in_features} values per "
                             f"sample (e.g. (N, 1, 28, 28)), got {tuple(x.shape)}; add the "
                             "batch dim with x.unsqueeze(0)")
        return self.layers(x)


def mlp_mnist(hidden: Sequence[int] = (256, 128), num_classes: int = 10) -> MLP:
    """The MNIST MLP: 1×28×28 images → Flatten → 784-256-128-10 with ReLU (default widths).

    Shapes:
        x: (N, 1, 28, 28) (or (N, 784)); returns logits (N, num_classes).

    With the default widths it has 235,146 parameters and 3 analog layers after conversion.
    """
    return MLP(784, hidden, num_classes)
