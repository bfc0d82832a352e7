"""Analog layers (layer 4): drop-in replacements for torch layers."""

from aimc.nn.attention import AnalogMultiheadAttention, AnalogTransformerEncoderLayer
from aimc.nn.base import AnalogLayerMixin
from aimc.nn.conv import AnalogConv1d, AnalogConv2d
from aimc.nn.linear import AnalogLinear
from aimc.nn.rnn import AnalogGRU, AnalogLSTM

__all__ = ["AnalogLayerMixin", "AnalogLinear", "AnalogConv1d", "AnalogConv2d", "AnalogLSTM",
           "AnalogGRU", "AnalogMultiheadAttention", "AnalogTransformerEncoderLayer"]
