"""PyTorch SFNet written from ../shared/sfnet-reference.md, with the SFSegNets state-dict key names."""
from .model import (SFNet, build_sfnet, ARCHS, CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, MEAN, STD, THING_CLASSES,
                    INSTANCE_HEAD_CHANNELS)

__all__ = ["SFNet", "build_sfnet", "ARCHS", "CITYSCAPES_CLASSES", "CITYSCAPES_PALETTE", "MEAN", "STD", "THING_CLASSES",
           "INSTANCE_HEAD_CHANNELS"]
