"""The U²-Net salient-object network (Qin et al. 2020), written so that its parameter names match
the released `u2net.pt` (the file VACE-Annotators ships): `stage1..stage6`, `stage5d..stage1d`,
`side1..side6`, `outconv`, each stage a residual U-block (`rebnconvin`, `rebnconv1..`,
`rebnconv..d`, each with `conv_s1` / `bn_s1`).

`width_divisor` shrinks every channel count (tiny test models use 8); the real file is divisor 1.
`infer_width_divisor(state_dict)` reads it back from a checkpoint. torch is imported here, so
import this module only inside functions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (name, depth, in, mid, out, dilated) for the real network; "dilated" stages (RSU-4F) keep the
# resolution and grow the dilation instead of pooling.
_ENCODER = (
    ("stage1", 7, 3, 32, 64, False),
    ("stage2", 6, 64, 32, 128, False),
    ("stage3", 5, 128, 64, 256, False),
    ("stage4", 4, 256, 128, 512, False),
    ("stage5", 4, 512, 256, 512, True),
    ("stage6", 4, 512, 256, 512, True),
)
_DECODER = (
    ("stage5d", 4, 1024, 256, 512, True),
    ("stage4d", 4, 1024, 128, 256, False),
    ("stage3d", 5, 512, 64, 128, False),
    ("stage2d", 6, 256, 32, 64, False),
    ("stage1d", 7, 128, 16, 64, False),
)
_SIDE_INPUTS = (64, 64, 128, 256, 512, 512)  # side1..side6 read stage1d, 2d, 3d, 4d, 5d, 6


def _upsample_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


class ConvBnRelu(nn.Module):
    """3×3 (dilated) conv → batch norm → ReLU; attribute names are the checkpoint's."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1):
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation)
        self.bn_s1 = nn.BatchNorm2d(out_ch)
        self.relu_s1 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu_s1(self.bn_s1(self.conv_s1(x)))


class ResidualUBlock(nn.Module):
    """RSU-`depth` (or RSU-4F when `dilated`): a small U-Net whose output is added to its input
    projection. Encoder layers are `rebnconv1..depth`, decoder layers `rebnconv{depth-1..1}d`."""

    def __init__(self, depth: int, in_ch: int, mid_ch: int, out_ch: int, dilated: bool = False):
        super().__init__()
        self.depth, self.dilated = depth, dilated
        self.rebnconvin = ConvBnRelu(in_ch, out_ch)
        # Encoder dilations: pooled blocks use 1 and a dilated bottom (2); RSU-4F uses 1, 2, 4, 8.
        enc_dil = [2 ** i for i in range(depth)] if dilated else [1] * (depth - 1) + [2]
        for i in range(1, depth + 1):
            setattr(self, f"rebnconv{i}", ConvBnRelu(out_ch if i == 1 else mid_ch, mid_ch, enc_dil[i - 1]))
        for i in range(depth - 1, 0, -1):
            dec_dil = enc_dil[i - 1] if dilated else 1
            setattr(self, f"rebnconv{i}d", ConvBnRelu(mid_ch * 2, out_ch if i == 1 else mid_ch, dec_dil))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.rebnconvin(x)
        skips, hx = [], hxin
        for i in range(1, self.depth):
            hx = getattr(self, f"rebnconv{i}")(hx)
            skips.append(hx)
            if not self.dilated and i < self.depth - 1:  # the last two encoder levels share a size
                hx = F.max_pool2d(hx, 2, stride=2, ceil_mode=True)
        hx = getattr(self, f"rebnconv{self.depth}")(hx)
        for i in range(self.depth - 1, 0, -1):
            skip = skips[i - 1]
            hx = getattr(self, f"rebnconv{i}d")(torch.cat((hx, skip), 1))
            if i > 1 and not self.dilated:
                hx = _upsample_like(hx, skips[i - 2])
        return hx + hxin


class U2Net(nn.Module):
    """U²-Net(3 → 1). `forward` returns the fused saliency map d0 (sigmoid, `[B, 1, H, W]`)
    followed by the six side outputs d1..d6, as the reference implementation does."""

    def __init__(self, width_divisor: int = 1, out_ch: int = 1):
        super().__init__()
        self.width_divisor = width_divisor

        def w(c: int) -> int:
            return c if c == 3 else max(1, c // width_divisor)  # the RGB input is never shrunk

        for name, depth, cin, mid, cout, dilated in _ENCODER + _DECODER:
            setattr(self, name, ResidualUBlock(depth, w(cin), w(mid), w(cout), dilated))
        for i, cin in enumerate(_SIDE_INPUTS, start=1):
            setattr(self, f"side{i}", nn.Conv2d(w(cin), out_ch, 3, padding=1))
        self.outconv = nn.Conv2d(6 * out_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        encoded, hx = [], x
        for index, (name, *_rest) in enumerate(_ENCODER):
            if index > 0:
                hx = F.max_pool2d(hx, 2, stride=2, ceil_mode=True)
            hx = getattr(self, name)(hx)
            encoded.append(hx)
        decoded = [encoded[-1]]  # stage6 output feeds side6 and the top of the decoder
        hx = encoded[-1]
        for (name, *_rest), skip in zip(_DECODER, reversed(encoded[:-1])):
            hx = getattr(self, name)(torch.cat((_upsample_like(hx, skip), skip), 1))
            decoded.append(hx)
        decoded.reverse()  # stage1d, stage2d, ..., stage5d, stage6
        sides = [getattr(self, f"side{i}")(feat) for i, feat in enumerate(decoded, start=1)]
        sides = [sides[0]] + [_upsample_like(s, sides[0]) for s in sides[1:]]
        fused = self.outconv(torch.cat(sides, 1))
        return tuple(torch.sigmoid(t) for t in [fused] + sides)


def infer_width_divisor(state_dict: dict) -> int:
    """1 for the released checkpoint; the divisor a shrunken test model was built with."""
    out_channels = state_dict["stage1.rebnconvin.conv_s1.weight"].shape[0]
    return max(1, 64 // int(out_channels))
