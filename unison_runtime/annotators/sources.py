"""Source preparation as the reference does it: size from the planned area, length spread over
the clip, resize-and-centre-crop (docs/ARCHITECTURE.md, "Fidelity").

The reference (Unison `module.py` `prepare_source`, which drives VACE's `VaceVideoProcessor` in
`keep_last` mode) never takes a source's own size or the plan's exact size: it keeps the source's
aspect, scales it to the planned *area* within a token budget, never upscales, and snaps both
sides to 16; a video keeps at most the budget's frames, sampled over its whole duration. Frames
are resized on uint8 with bicubic antialiasing and centre-cropped, so the results here are the
reference's bytes, not an approximation of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import AnnotatorError
from ..facts import FPS

if TYPE_CHECKING:
    import numpy as np

# Wan's VAE stride times its patch size: one token covers 4 frames × 16 × 16 pixels.
DOWNSAMPLE = (4, 16, 16)
DEFAULT_AREA = 832 * 480


@dataclass(frozen=True)
class SourceFit:
    """The size and length a source is prepared at."""

    width: int
    height: int
    num_frames: int


def reference_seq_len(area: int) -> int:
    """The token budget Unison's `prepare_source` gives an area (its two presets, else area / 12)."""
    return {480 * 832: 32760, 720 * 1280: 75600}.get(int(area), int(area) // 12)


def fit_source_to_area(src_width: int, src_height: int, src_frames: int, area: int = DEFAULT_AREA,
                       max_frames: int | None = None) -> SourceFit:
    """The size and frame count the reference prepares a `src_width`×`src_height` source of
    `src_frames` frames at, for a planned `area` (width × height).

    Keeps the source's aspect, never upscales, snaps to 16; the frame count is 4k+1, at most the
    source's own and the token budget's. `max_frames` (a planned length) lowers it further.
    """
    for name, value in (("width", src_width), ("height", src_height), ("frame count", src_frames),
                        ("area", area)):
        if int(value) < 1:
            raise AnnotatorError(f"source {name} must be positive, got {value}")
    df, dh, dw = DOWNSAMPLE
    seq_len = reference_seq_len(area)
    # Sources under 16 px a side get one token there (the reference would divide by zero).
    area_z = min(seq_len, area / (dh * dw), max(1, src_height // dh) * max(1, src_width // dw))
    latent_frames = min((int(src_frames) - 1) // df + 1, int(seq_len / area_z))
    if max_frames is not None:
        latent_frames = max(1, min(latent_frames, (int(max_frames) - 1) // df + 1))
    target_area_z = min(area_z, int(seq_len / latent_frames))
    oh = max(1, round(math.sqrt(target_area_z * src_height / src_width)))
    ow = max(1, int(target_area_z / oh))
    return SourceFit(ow * dw, oh * dh, (latent_frames - 1) * df + 1)


def resample_frame_ids(src_frames: int, num_frames: int, fps: float = FPS) -> list[int]:
    """Which source frames make `num_frames` frames spread over the whole clip, first and last
    included: the frame shown at each of `num_frames` evenly spaced times (decord's frame
    timestamps at a constant `fps`, float32, as the reference reads them). More frames than the
    source has repeat frames."""
    import numpy as np

    if src_frames < 1 or num_frames < 1:
        raise AnnotatorError(f"cannot resample {src_frames} frame(s) to {num_frames}")
    starts = np.arange(src_frames, dtype=np.float64) / fps
    stamps = np.stack([starts, starts + 1.0 / fps], axis=1).astype(np.float32)
    duration = stamps[-1].mean()
    times = np.linspace(0.0, duration, num_frames)
    inside = (times[:, None] >= stamps[None, :, 0]) & (times[:, None] <= stamps[None, :, 1])
    return np.argmax(inside, axis=1).tolist()


def resample_frames(frames: "np.ndarray", num_frames: int, fps: float = FPS) -> "np.ndarray":
    """`frames` (`[T, ...]`) resampled to `num_frames` over the whole clip (`resample_frame_ids`)."""
    if len(frames) == num_frames:
        return frames
    return frames[resample_frame_ids(len(frames), num_frames, fps)]


def resize_crop(frames: "np.ndarray", width: int, height: int) -> "np.ndarray":
    """Scale `[T, H, W, C]` or `[T, H, W]` uint8 frames to cover width×height (bicubic,
    antialiased, on uint8 as the reference does) and centre-crop; unchanged when the size fits."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    if frames.dtype != np.uint8:
        raise AnnotatorError(f"resize_crop needs uint8 frames, got {frames.dtype}")
    if width < 1 or height < 1:
        raise AnnotatorError(f"target size must be positive, got {width}x{height}")
    plain = frames.ndim == 3
    stack = frames[..., None] if plain else frames
    ih, iw = stack.shape[1:3]
    if (ih, iw) == (height, width):
        return frames.copy()
    scale = max(width / iw, height / ih)
    video = torch.from_numpy(np.ascontiguousarray(stack)).permute(0, 3, 1, 2)
    video = F.interpolate(video, size=(round(scale * ih), round(scale * iw)), mode="bicubic", antialias=True)
    top, left = (video.shape[2] - height) // 2, (video.shape[3] - width) // 2
    out = video[:, :, top:top + height, left:left + width].permute(0, 2, 3, 1).contiguous().numpy()
    return out[..., 0] if plain else out


def fit_video(frames: "np.ndarray", width: int, height: int, num_frames: int | None = None,
              fps: float = FPS) -> "np.ndarray":
    """A source (or its mask video) at the prepared size and length: frames resampled over the
    clip, then resized and centre-cropped. A single image is repeated to `num_frames`."""
    if num_frames is not None:
        frames = resample_frames(frames, num_frames, fps)
    return resize_crop(frames, width, height)
