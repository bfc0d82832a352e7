"""Dataset loaders: MNIST/Fashion-MNIST (IDX), CIFAR-10 (python release or JPEG), PTB, SST-2.

Every loader reads local files from ``data_dir`` or ``$AIMC_DATA/<dataset>``
(:func:`resolve_data_dir`) and raises :class:`~aimc.errors.DataError` naming the missing or
broken file. Nothing is downloaded implicitly: :func:`download` fetches the public releases,
verified by checksum, when you ask and are online.

Example::

    from aimc.data import load_mnist
    train = load_mnist("~/data/mnist", "train")          # TensorDataset
    x, y = train.tensors                                   # (60000, 1, 28, 28) f32, (60000,) i64
"""

from aimc.data.audio import FSDD_RATE, AudioClip, load_fsdd, read_wav
from aimc.data.cifar import CIFAR10_CLASSES, load_cifar10
from aimc.data.fetch import download
from aimc.data.idx import FASHION_MNIST_CLASSES, load_fashion_mnist, load_mnist, read_idx
from aimc.data.paths import AIMC_DATA_ENV, resolve_data_dir
from aimc.data.ptb import PTBCorpus, batchify, bptt_batches, load_ptb
from aimc.data.speech_commands import SpeechCommands, load_speech_commands
from aimc.data.sst2 import SST2Split, load_sst2
from aimc.data.stats import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    MNIST_MEAN,
    MNIST_STD,
    channel_mean_std,
    normalize,
)
from aimc.data.text import build_vocab, tokenize
from aimc.data.vww_coco import load_vww_coco, vww_labels

__all__ = [
    "AIMC_DATA_ENV", "resolve_data_dir", "download",
    "load_mnist", "load_fashion_mnist", "read_idx", "FASHION_MNIST_CLASSES",
    "load_cifar10", "CIFAR10_CLASSES",
    "channel_mean_std", "normalize", "MNIST_MEAN", "MNIST_STD", "CIFAR10_MEAN", "CIFAR10_STD",
    "load_ptb", "PTBCorpus", "batchify", "bptt_batches",
    "load_sst2", "SST2Split", "tokenize", "build_vocab",
    "read_wav", "load_fsdd", "AudioClip", "FSDD_RATE", "load_speech_commands",
    "SpeechCommands", "load_vww_coco", "vww_labels",
]
