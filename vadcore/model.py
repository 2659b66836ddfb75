"""The multi-task network: one ResNet-18 backbone, a class head and a VAD head."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from vadcore.taxonomy import FACE_SIZE, NUM_CLASSES

STEMS = ("paper", "torchvision", "stride2")
BACKBONES = ("resnet18",)
VAD_FEATURE_NORM = 3.0


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network; stored in every checkpoint.

    stem "paper": 3×3 stride-1 conv, no max-pool (the paper's Table 2, for a GPU).
    stem "torchvision": 7×7 stride-2 conv + max-pool (about 8× cheaper; the CPU configuration).
    stem "stride2": 3×3 stride-2 conv, no max-pool (between the two: ~3.2× the torchvision stem's cost).
    """

    stem: str = "paper"
    num_classes: int = NUM_CLASSES
    in_channels: int = 1
    input_size: int = 44  # training crop; inference uses the centre crop or ten crops of 48
    face_size: int = FACE_SIZE
    vad_bounded: bool = False  # True: tanh bounds V, A, D; False: linear, clipped to −1…+1 at inference
    backbone: str = "resnet18"  # the only one so far; a name, so a checkpoint says which network it holds

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, not {self.backbone!r}")
        if self.stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, not {self.stem!r}")
        if not 0 < self.input_size <= self.face_size:
            raise ValueError("input_size must be in 1…face_size")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """A stored config; fields it lacks (added to the code after it was saved) take their defaults, which
        must build what older code built. Unknown fields are refused: newer code's option would be ignored."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"model config does not match this code: unknown keys {sorted(unknown)}")
        return cls(**d)


class VADNet(nn.Module):
    """ResNet-18 (2-2-2-2 basic blocks, 64…512) → global pool → class logits and V, A, D."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        net = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=config.num_classes)
        if config.stem == "paper":
            net.conv1 = nn.Conv2d(config.in_channels, 64, 3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif config.stem == "stride2":
            net.conv1 = nn.Conv2d(config.in_channels, 64, 3, stride=2, padding=1, bias=False)
            net.maxpool = nn.Identity()
        else:
            net.conv1 = nn.Conv2d(config.in_channels, 64, 7, stride=2, padding=3, bias=False)
        net.fc = nn.Identity()
        self.backbone = net
        self.class_head = nn.Linear(512, config.num_classes)
        self.vad_head = nn.Linear(512, 3)
        nn.init.normal_(self.vad_head.weight, std=0.01)
        nn.init.zeros_(self.vad_head.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(x)
        # A linear regression head's effective step is lr·‖f‖²; pooled ResNet features have ‖f‖² in the
        # hundreds, which made MSE diverge within a few SGD steps. L2-normalised features, scaled to
        # ‖f‖² = 9, keep it stable up to lr ≈ 0.2.
        vad = self.vad_head(F.normalize(features, dim=1) * VAD_FEATURE_NORM)
        if self.config.vad_bounded:
            vad = torch.tanh(vad)
        return self.class_head(features), vad

    def orthogonal_weights(self) -> list[torch.Tensor]:
        """The convs the paper regularises: each stage's first conv and its shortcut conv."""
        out = []
        for stage in (self.backbone.layer1, self.backbone.layer2, self.backbone.layer3, self.backbone.layer4):
            block = stage[0]
            out.append(block.conv1.weight)
            if block.downsample is not None:
                out.append(block.downsample[0].weight)
        return out


def build_model(config: ModelConfig) -> VADNet:
    return VADNet(config)
