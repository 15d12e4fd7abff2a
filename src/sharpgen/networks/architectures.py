"""The architectures trained here: a pre-activation ResNet and a SimpleViT, at digits scale
(8x8 grey images), and the authors' two CIFAR-10 families (32x32 colour images) with the
parameter names of their checkpoints: the PreActResNet-18 of their ``models.py`` and
vit-pytorch 0.40.2's ``SimpleViT`` (their ``vit_exp``).

Inputs are images in [0, 1]; a model built with ``mean``/``std`` normalises them inside
(non-persistent buffers, so state dicts hold weights only). Initialisation follows the global
torch RNG, in the order the modules are created.
"""

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

ARCHITECTURES: tuple[str, ...] = ("resnet", "vit")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)  # normalisation of the authors' training code
CIFAR10_STD = (0.2023, 0.1994, 0.2010)


class Normalize(nn.Module):
    """(x - mean) / std per channel; identity when built without statistics."""

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        super().__init__()
        self.enabled = mean is not None
        if self.enabled:
            self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std if self.enabled else x


class PreActBlock(nn.Module):
    """Pre-activation residual block: BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus (projected) identity."""

    def __init__(self, c_in: int, c_out: int, stride: int, wrapped_shortcut: bool = False) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        needs_projection = stride != 1 or c_in != c_out
        projection = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False) if needs_projection else None
        # the authors' blocks hold the projection in a Sequential (parameter shortcut.0.weight)
        self.shortcut = nn.Sequential(projection) if wrapped_shortcut and projection is not None else projection

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class PreActResNet(nn.Module):
    """Pre-activation ResNet: a 3x3 stem, then stages of ``blocks_per_stage`` blocks with width,
    2*width, 4*width, ... channels (stride 2 between stages), BN-ReLU, global average pooling and
    a Linear head. Digits: 3 stages of 1 block on (N, 1, 8, 8); ResNet-18: 4 stages of 2 blocks.
    """

    def __init__(
        self,
        num_classes: int = 10,
        width: int = 16,
        blocks_per_stage: tuple[int, ...] = (1, 1, 1),
        in_channels: int = 1,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        c_in = width
        for stage, n_blocks in enumerate(blocks_per_stage):
            c_out = width * 2**stage
            for block in range(n_blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(PreActBlock(c_in, c_out, stride))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c_in)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn(self.blocks(self.stem(self.normalize(x)))))
        return self.head(out.mean(dim=(2, 3)))


def sincos_posemb_2d(h: int, w: int, dim: int, temperature: float = 10000.0) -> Tensor:
    """Fixed 2D sine-cosine positional embedding, shape (h * w, dim); ``dim`` divisible by 4."""
    if dim % 4 != 0:
        raise ValueError(f"sincos embedding needs dim divisible by 4, got {dim}")
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    omega = 1.0 / temperature ** (torch.arange(dim // 4) / (dim // 4 - 1 if dim > 4 else 1))
    y = y.flatten()[:, None] * omega[None, :]
    x = x.flatten()[:, None] * omega[None, :]
    return torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], dim=1).float()


def patchify(x: Tensor, p: int) -> Tensor:
    """(B, C, H, W) -> (B, H/p * W/p, p * p * C), row-major over patches, (p1 p2 c) inside a patch."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), -1)


class Attention(nn.Module):
    """Pre-norm multi-head self-attention (explicit softmax, so every autodiff mode works)."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = dim_head**-0.5
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.to_out = nn.Linear(heads * dim_head, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        qkv = self.to_qkv(self.norm(x)).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        return self.to_out((attn @ v).transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    """Pre-norm MLP: LayerNorm-Linear-GELU-Linear."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class SimpleViT(nn.Module):
    """SimpleViT (Beyer et al., 2022) for small images.

    Linear patch embedding of flattened patches followed by a LayerNorm, fixed 2D sincos positions, pre-norm transformer blocks, mean pooling, LayerNorm + Linear head; no
    dropout, no class token. ``dim_head`` defaults to ``dim // heads``.
    """

    def __init__(
        self,
        num_classes: int = 10,
        image_size: int = 8,
        patch_size: int = 2,
        dim: int = 32,
        depth: int = 2,
        heads: int = 4,
        mlp_dim: int = 64,
        in_channels: int = 1,
        dim_head: int | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(f"image_size {image_size} must be divisible by patch_size {patch_size}")
        if dim_head is None and dim % heads != 0:
            raise ValueError(f"the ViT width (dim) {dim} must be divisible by its {heads} heads")
        self.normalize = Normalize(mean, std)
        self.patch_size = patch_size
        grid = image_size // patch_size
        patch_dim = in_channels * patch_size**2
        self.patch_embed = nn.Sequential(nn.Linear(patch_dim, dim), nn.LayerNorm(dim))
        self.register_buffer("pos_embedding", sincos_posemb_2d(grid, grid, dim), persistent=False)
        self.layers = nn.ModuleList(
            nn.ModuleList([Attention(dim, heads, dim_head or dim // heads), FeedForward(dim, mlp_dim)]) for _ in range(depth)
        )
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def patchify(self, x: Tensor) -> Tensor:
        return patchify(x, self.patch_size)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.patch_embed(self.patchify(self.normalize(x))) + self.pos_embedding
        for attention, feed_forward in self.layers:
            tokens = tokens + attention(tokens)
            tokens = tokens + feed_forward(tokens)
        return self.head(tokens.mean(dim=1))


def build_model(arch: str, num_classes: int = 10, width: int | None = None) -> nn.Module:
    """Build ``arch`` ("resnet": ``width`` = stem channels, default 16; "vit": ``width`` = token dim,
    default 32, with 4 heads and MLP dim 2*width). Initialisation follows the global torch RNG.
    """
    if arch == "resnet":
        return PreActResNet(num_classes=num_classes, width=width or 16)
    if arch == "vit":
        dim = width or 32
        return SimpleViT(num_classes=num_classes, dim=dim, mlp_dim=2 * dim)
    raise ValueError(f"unknown architecture {arch!r}; valid: {', '.join(ARCHITECTURES)}")


class AuthorsPreActResNet(nn.Module):
    """The authors' CIFAR-10 PreActResNet (their ``models.py``, ``learnable_bn=True``): conv1
    (3x3, no bias), layer1..layer4 of pre-activation blocks (convolutions without bias, projection
    shortcut taken after the first BN-ReLU), BN-ReLU, 4x4 average pooling, ``linear``. Their model
    normalises with mean 0 / std 1 (the identity) because their data loader already applies the
    CIFAR-10 statistics; here the statistics are applied inside (``Normalize``), so inputs are in
    [0, 1] and the state dict is theirs.
    """

    def __init__(self, num_classes: int = 10, width: int = 64, blocks_per_stage: Sequence[int] = (2, 2, 2, 2)) -> None:
        super().__init__()
        self.normalize = Normalize(CIFAR10_MEAN, CIFAR10_STD)
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        c_in = width
        for stage, n_blocks in enumerate(blocks_per_stage):
            c_out = width * 2**stage
            blocks = []
            for block in range(n_blocks):
                blocks.append(PreActBlock(c_in, c_out, 2 if stage > 0 and block == 0 else 1, wrapped_shortcut=True))
                c_in = c_out
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.stages = len(blocks_per_stage)
        self.bn = nn.BatchNorm2d(c_in)
        self.linear = nn.Linear(c_in, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(self.normalize(x))
        for stage in range(1, self.stages + 1):
            out = getattr(self, f"layer{stage}")(out)
        out = F.relu(self.bn(out))
        return self.linear(out.mean(dim=(2, 3)))


class Patches(nn.Module):
    """Parameter-free patch extraction (the ``Rearrange`` of vit-pytorch's patch embedding)."""

    def __init__(self, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size

    def forward(self, x: Tensor) -> Tensor:
        return patchify(x, self.patch_size)


class Transformer(nn.Module):
    """``depth`` pre-norm blocks of attention and MLP with residuals (no final norm, as in vit-pytorch 0.40.2)."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.ModuleList([Attention(dim, heads, dim_head), FeedForward(dim, mlp_dim)]) for _ in range(depth))

    def forward(self, x: Tensor) -> Tensor:
        for attention, feed_forward in self.layers:
            x = attention(x) + x
            x = feed_forward(x) + x
        return x


class VitPytorchSimpleViT(nn.Module):
    """vit-pytorch 0.40.2's ``SimpleViT`` (the authors' ``vit_exp``) with its parameter names:
    ``to_patch_embedding.1`` (Linear on (p1 p2 c) patches, no norm), fixed 2D sincos positions,
    ``transformer.layers``, mean pooling, ``linear_head`` (LayerNorm, Linear). The CIFAR-10
    statistics are applied inside (the authors' loader applied them), so inputs are in [0, 1].
    """

    def __init__(self, num_classes: int = 10, image_size: int = 32, patch_size: int = 4, dim: int = 512, depth: int = 6,
                 heads: int = 16, mlp_dim: int = 1024, dim_head: int = 64, channels: int = 3) -> None:
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(f"image_size {image_size} must be divisible by patch_size {patch_size}")
        self.normalize = Normalize(CIFAR10_MEAN, CIFAR10_STD)
        self.to_patch_embedding = nn.Sequential(Patches(patch_size), nn.Linear(channels * patch_size**2, dim))
        grid = image_size // patch_size
        self.register_buffer("pos_embedding", sincos_posemb_2d(grid, grid, dim), persistent=False)
        self.transformer = Transformer(dim, depth, heads, dim_head, mlp_dim)
        self.linear_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.to_patch_embedding(self.normalize(x)) + self.pos_embedding
        return self.linear_head(self.transformer(tokens).mean(dim=1))


def preact_resnet18(num_classes: int = 10, width: int = 64) -> nn.Module:
    """The paper's CIFAR-10 ResNet-18 (the authors' ``resnet18``, ``model_width`` = ``width``)."""
    return AuthorsPreActResNet(num_classes, width)


def simple_vit(num_classes: int = 10, width: int = 512, depth: int = 6, heads: int = 16) -> nn.Module:
    """The paper's CIFAR-10 ViT (the authors' ``vit_exp``): SimpleViT with dim ``width``, MLP
    2 * ``width``, ``depth`` blocks of ``heads`` heads of 64, patch 4 (defaults: 512, 6, 16)."""
    return VitPytorchSimpleViT(num_classes, dim=width, depth=depth, heads=heads, mlp_dim=2 * width)
