"""``WORKLOADS`` / ``build_model``: the paper-1 benchmark workloads by name.

The HWA-training benchmark of Rasch et al. 2023 (arXiv:2302.08469) spans CNN, RNN and
transformer topologies; its exact DNN/dataset list is not in the sources we have
(``reference/physics.md`` §1.1), so these four small, from-scratch-trainable stand-ins cover
one of each plus an MLP. All are plain PyTorch modules; they become analog only through
:func:`aimc.convert_to_analog`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from aimc.errors import ConfigError
from aimc.models.kws import analognet_kws, ds_cnn_kws
from aimc.models.lstm_lm import lstm_ptb
from aimc.models.mlp import mlp_mnist
from aimc.models.resnet import resnet20_cifar
from aimc.models.transformer import transformer_sst2
from aimc.models.vww import analognet_vww, mobilenet_v1_vww

__all__ = ["Workload", "WORKLOADS", "TINYML_WORKLOADS", "build_model"]


@dataclass(frozen=True, kw_only=True)
class Workload:
    """One benchmark workload.

    Attributes:
        name: registry key.
        factory: builds the model; keyword arguments override its defaults.
        topology: "mlp", "cnn", "rnn" or "transformer".
        dataset: the dataset the defaults are sized for.
        task: "classification" or "language_modeling".
        inputs: the model's input, in words with shapes.
        citation: the architecture's source.
    """

    name: str
    factory: Callable[..., nn.Module]
    topology: str
    dataset: str
    task: str
    inputs: str
    citation: str


WORKLOADS: dict[str, Workload] = {w.name: w for w in (
    Workload(name="mlp_mnist", factory=mlp_mnist, topology="mlp", dataset="MNIST",
             task="classification", inputs="images (N, 1, 28, 28) float",
             citation="multilayer perceptron, 784-256-128-10"),
    Workload(name="resnet20_cifar", factory=resnet20_cifar, topology="cnn",
             dataset="CIFAR-10", task="classification", inputs="images (N, 3, 32, 32) float",
             citation="He et al. 2016, arXiv:1512.03385 (ResNet-20, option-A shortcuts)"),
    Workload(name="lstm_ptb", factory=lstm_ptb, topology="rnn", dataset="Penn Treebank",
             task="language_modeling", inputs="token ids (N, L) long, optional state (h, c)",
             citation="Zaremba et al. 2014, arXiv:1409.2329 (small config)"),
    Workload(name="transformer_sst2", factory=transformer_sst2, topology="transformer",
             dataset="SST-2", task="classification",
             inputs="token ids (N, L <= max_len) long, pad_id 0",
             citation="Vaswani et al. 2017, arXiv:1706.03762 (encoder)"),
)}

#: the always-on TinyML workloads of AnalogNets (arXiv:2111.06503): KWS and VWW
TINYML_WORKLOADS: dict[str, Workload] = {w.name: w for w in (
    Workload(name="ds_cnn_kws", factory=ds_cnn_kws, topology="cnn",
             dataset="Speech Commands v2 (12 classes)", task="classification",
             inputs="MFCC maps (N, 1, 49, 10) float",
             citation="MLPerf Tiny KWS reference DS-CNN; Zhang et al. 2017, arXiv:1711.07128"),
    Workload(name="analognet_kws", factory=analognet_kws, topology="cnn",
             dataset="Speech Commands v2 (12 classes)", task="classification",
             inputs="MFCC maps (N, 1, 49, 10) float",
             citation="CiM-shaped dense-conv KWS net after AnalogNets, arXiv:2111.06503"),
    Workload(name="mobilenet_v1_vww", factory=mobilenet_v1_vww, topology="cnn",
             dataset="Visual Wake Words", task="classification",
             inputs="images (N, 3, 96, 96) float",
             citation="MLPerf Tiny VWW reference; Howard et al. 2017, arXiv:1704.04861"),
    Workload(name="analognet_vww", factory=analognet_vww, topology="cnn",
             dataset="Visual Wake Words", task="classification",
             inputs="images (N, 3, 96, 96) float",
             citation="CiM-shaped dense-conv VWW net after AnalogNets, arXiv:2111.06503"),
)}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """A fresh (randomly initialised, FP) model of the workload ``name``.

    Args:
        name: a key of ``WORKLOADS`` ("mlp_mnist", "resnet20_cifar", "lstm_ptb",
            "transformer_sst2") or ``TINYML_WORKLOADS`` ("ds_cnn_kws", "analognet_kws",
            "mobilenet_v1_vww", "analognet_vww").
        **kwargs: overrides of the factory's defaults, e.g. ``width=8`` or
            ``vocab_size=5000``.

    Raises:
        ConfigError: for an unknown name or a keyword the factory does not take.
    """
    known = WORKLOADS | TINYML_WORKLOADS
    if name not in known:
        raise ConfigError(f"unknown workload {name!r}; valid names: "
                          f"{', '.join(sorted(known))}")
    factory = known[name].factory
    params = inspect.signature(factory).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(f"workload {name!r} takes no argument {', '.join(unknown)}; it takes "
                          f"{', '.join(params)}")
    return factory(**kwargs)
