"""Model factories for the cifar setting's ``arch`` column (``module:function``, zero arguments).

The authors' CIFAR-10 models (reference spec, section 4): a pre-activation ResNet-18 of width
64 and a SimpleViT (dim 512, depth 6, 16 heads, patch 4) on 32x32x3 inputs, 10 classes. Inputs
are images in [0, 1]; the models normalise with the CIFAR-10 mean and std of the authors'
training code inside (non-persistent buffers, so state dicts hold weights only).

The parameter names follow the common layouts (PreActResNet of kuangliu/pytorch-cifar, SimpleViT
of lucidrains/vit-pytorch); they were not checked against the authors' own files, which are not
published. A checkpoint with other names fails to load with a message listing the keys; write
a factory with the right names and point ``arch`` at it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sharpgen.data.sources.cifar10 import MEAN, STD


class Normalize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class PreActBlock(nn.Module):
    def __init__(self, inputs: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inputs)
        self.conv1 = nn.Conv2d(inputs, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or inputs != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, planes, 1, stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet18(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 64) -> None:
        super().__init__()
        self.normalize = Normalize()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        layers, inputs = [], width
        for i, stride in enumerate((1, 2, 2, 2)):
            planes = width * 2**i
            layers.append(nn.Sequential(PreActBlock(inputs, planes, stride), PreActBlock(planes, planes, 1)))
            inputs = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.bn = nn.BatchNorm2d(inputs)
        self.linear = nn.Linear(inputs, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.normalize(x))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.relu(self.bn(out))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


def posemb_sincos_2d(h: int, w: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    omega = 1.0 / temperature ** (torch.arange(dim // 4) / (dim // 4 - 1))
    y, x = y.flatten()[:, None] * omega[None, :], x.flatten()[:, None] * omega[None, :]
    return torch.cat((x.sin(), x.cos(), y.sin(), y.cos()), dim=1).float()


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.to_out = nn.Linear(heads * dim_head, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in self.to_qkv(self.norm(x)).chunk(3, -1))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).flatten(2))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SimpleViT(nn.Module):
    """SimpleViT (Beyer et al. 2022): fixed 2-D sin-cos position embedding, mean pooling."""

    def __init__(self, image_size: int = 32, patch_size: int = 4, num_classes: int = 10, dim: int = 512,
                 depth: int = 6, heads: int = 16, mlp_dim: int = 1024, dim_head: int = 64) -> None:
        super().__init__()
        self.normalize = Normalize()
        self.patch_size = patch_size
        patch_dim = 3 * patch_size * patch_size
        self.to_patch_embedding = nn.Sequential(nn.LayerNorm(patch_dim), nn.Linear(patch_dim, dim), nn.LayerNorm(dim))
        grid = image_size // patch_size
        self.register_buffer("pos_embedding", posemb_sincos_2d(grid, grid, dim), persistent=False)
        self.layers = nn.ModuleList(
            nn.ModuleList([Attention(dim, heads, dim_head), FeedForward(dim, mlp_dim)]) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.linear_head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        x = self.normalize(x)
        b, c, h, w = x.shape  # b c (h p1) (w p2) -> b (h w) (p1 p2 c)
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)
        x = self.to_patch_embedding(x) + self.pos_embedding
        for attention, feedforward in self.layers:
            x = attention(x) + x
            x = feedforward(x) + x
        return self.linear_head(self.norm(x).mean(dim=1))


def preact_resnet18() -> nn.Module:
    """The authors' ResNet-18: pre-activation, width 64, CIFAR-10."""
    return PreActResNet18(num_classes=10, width=64)


def simple_vit() -> nn.Module:
    """The authors' ViT: SimpleViT, dim 512, depth 6, 16 heads, patch 4, 32x32 inputs."""
    return SimpleViT(image_size=32, patch_size=4, num_classes=10, dim=512, depth=6, heads=16)
