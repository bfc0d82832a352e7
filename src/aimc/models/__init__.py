"""Reference workloads: the HWA-training benchmark (Rasch et al. 2023, arXiv:2302.08469) and
the always-on KWS / VWW networks of AnalogNets (arXiv:2111.06503).

Plain PyTorch modules written here (no downloads, no torchvision): train them anywhere; they
become analog only through :func:`aimc.convert_to_analog`.

=====================  ==========================================  ==================
name                   model                                       analog layers
=====================  ==========================================  ==================
``mlp_mnist``          :func:`mlp_mnist` (784-256-128-10)           3
``resnet20_cifar``     :func:`resnet20_cifar` (He et al. 2016)      20 (19 conv + fc)
``lstm_ptb``           :class:`LSTMLanguageModel` (Zaremba 2014)    2 (LSTM + decoder)
``transformer_sst2``   :class:`TransformerClassifier` (Vaswani)     4·layers + 1
``ds_cnn_kws``         :func:`ds_cnn_kws` (MLPerf Tiny KWS)         10
``analognet_kws``      :func:`analognet_kws` (dense, CiM-shaped)    6
``mobilenet_v1_vww``   :func:`mobilenet_v1_vww` (MLPerf Tiny VWW)   28
``analognet_vww``      :func:`analognet_vww` (dense, CiM-shaped)    6
=====================  ==========================================  ==================

Example::

    model = aimc.models.build_model("resnet20_cifar")
    analog = aimc.convert_to_analog(model, aimc.presets.rasch2023())
"""

from aimc.models.kws import KWSNet, analognet_kws, ds_cnn_kws
from aimc.models.lstm_lm import LSTMLanguageModel, LSTMState, lstm_ptb
from aimc.models.mlp import MLP, mlp_mnist
from aimc.models.registry import TINYML_WORKLOADS, WORKLOADS, Workload, build_model
from aimc.models.resnet import BasicBlock, ResNet20, resnet20_cifar
from aimc.models.transformer import TransformerClassifier, transformer_sst2
from aimc.models.vww import VWWNet, analognet_vww, mobilenet_v1_vww

__all__ = [
    "MLP", "mlp_mnist",
    "ResNet20", "BasicBlock", "resnet20_cifar",
    "LSTMLanguageModel", "LSTMState", "lstm_ptb",
    "TransformerClassifier", "transformer_sst2",
    "KWSNet", "ds_cnn_kws", "analognet_kws", "VWWNet", "mobilenet_v1_vww", "analognet_vww",
    "Workload", "WORKLOADS", "TINYML_WORKLOADS", "build_model",
]
