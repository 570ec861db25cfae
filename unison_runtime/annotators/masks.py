"""Checking and normalising user-supplied masks and boxes, and the value mask sources return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from ..errors import AnnotatorError
from ..facts import WIDE_GREY_MODES

if TYPE_CHECKING:
    import numpy as np


@dataclass
class MaskResult:
    """What a mask source (SAM2 from boxes, GroundingDINO + SAM2 from text, U²-Net) produced.

    `masks`: `[T, H, W]` uint8 {0, 1} (1 = the object, i.e. regenerate). `boxes`: the boxes used,
    `[x0, y0, x1, y1]` pixels on the first frame. `found` is False when no object was detected or
    the mask came out empty; `message` then says why (callers decide whether that is an error).
    """

    masks: "np.ndarray"
    boxes: list[list[float]] = field(default_factory=list)
    found: bool = True
    message: str = ""
    scores: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


def as_frames(frames) -> "np.ndarray":
    """Accept `[T, H, W, 3]` or a single `[H, W, 3]` image (uint8); refuse anything else."""
    import numpy as np

    if frames is None:
        raise AnnotatorError("no frames given: pass an image [H, W, 3] or a video [T, H, W, 3] (uint8)")
    array = np.asarray(frames)
    if array.ndim == 3 and array.shape[-1] == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise AnnotatorError(f"frames must be [T, H, W, 3] or [H, W, 3]; got shape {array.shape}")
    if array.dtype != np.uint8:
        raise AnnotatorError(f"frames must be uint8 0..255; got {array.dtype}")
    if min(array.shape[:3]) == 0:
        raise AnnotatorError(f"the video is empty (shape {array.shape})")
    return array


def as_mask_video(mask, num_frames: int, height: int, width: int) -> "np.ndarray":
    """A user mask as `[T, H, W]` uint8 {0, 1} matching the frames.

    Accepted: `[H, W]`, `[T, H, W]`, `[T, H, W, 1]` or `[H, W, 1]`; bool, 0/1, 0..255 or float
    0..1 values. This is the one place a given mask is binarised, with VACE's test: any value above
    0 is the region (a soft or anti-aliased edge counts, as in the reference's masks). Other sizes
    are resized nearest-neighbour; a single mask applies to every frame; a mask video with another
    frame count is refused, because guessing which mask frame belongs to which video frame would
    silently edit the wrong pixels.
    """
    import numpy as np

    from .geometry import resize_mask

    array = np.asarray(mask)
    if array.ndim >= 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or min(array.shape) == 0:
        raise AnnotatorError(f"mask must be [H, W] or [T, H, W]; got shape {np.asarray(mask).shape}")
    if len(array) not in (1, num_frames):
        raise AnnotatorError(
            f"the mask video has {len(array)} frames but the video has {num_frames}; "
            "give one mask for all frames or one mask per frame"
        )
    binary = _binarise(array)
    binary = resize_mask(binary, width, height)
    if len(binary) == 1 and num_frames > 1:
        binary = np.repeat(binary, num_frames, axis=0)
    return binary


def _binarise(array: "np.ndarray") -> "np.ndarray":
    import numpy as np

    if array.dtype == bool:
        return array.astype(np.uint8)
    values = array.astype(np.float32)
    if not np.isfinite(values).all() or values.min() < 0:
        raise AnnotatorError("mask values must be 0..1 or 0..255")
    return (values > 0).astype(np.uint8)  # VACE: any grey above 0 is the region


# -- given mask images, read as VACE reads them ----------------------------------------------------


def grey_levels(rgb: "np.ndarray") -> "np.ndarray":
    """`[..., 3]` uint8 RGB → uint8 grey exactly as PIL's `convert("L")` (ITU-R 601-2 luma)."""
    import numpy as np

    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


def mask_levels(image) -> "np.ndarray":
    """A mask image (PIL) as `[H, W]` float32 levels in 0..1 (1 = regenerate), read as VACE reads
    it: the grey level (PIL "L"). A 16-bit grey image is scaled to 8-bit levels (never clipped:
    PIL's own conversion would turn 16-bit 300 into full white).

    Alpha is the channel only for a genuinely transparent-painted PNG (ComfyUI's convention,
    region = not fully opaque): when some pixels are transparent and the colours themselves mark
    nothing (grey all above 0, as a photo, or all 0). VACE ignores alpha, so a black-and-white
    mask that also has transparency is read by its grey levels. The levels stay soft; the region
    test (above 0) is `as_mask_video`'s.
    """
    import numpy as np

    if image.mode in WIDE_GREY_MODES:
        values = np.asarray(image).astype(np.float64)
        return (np.rint(np.clip(values, 0, 65535) * 255.0 / 65535.0) / 255.0).astype(np.float32)
    grey = np.asarray(image.convert("L"))
    if "A" in image.getbands() or "transparency" in image.info:
        alpha = np.asarray(image.convert("RGBA").getchannel("A"))
        region = grey > 0
        if (alpha < 255).any() and (region.all() or not region.any()):
            return (1.0 - alpha.astype(np.float32) / 255.0).astype(np.float32)
    return (grey.astype(np.float32) / 255.0).astype(np.float32)


def check_boxes(boxes, width: int, height: int) -> list[list[float]]:
    """Boxes as `[[x0, y0, x1, y1], ...]` pixels, each non-empty and inside the image."""
    import numpy as np

    if boxes is None:
        raise AnnotatorError("mode 'bbox' needs boxes: [[x0, y0, x1, y1], ...] in pixels")
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 4 or len(array) == 0:
        raise AnnotatorError(f"boxes must be [[x0, y0, x1, y1], ...]; got shape {array.shape}")
    for x0, y0, x1, y1 in array:
        if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
            raise AnnotatorError(
                f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] is empty or outside the {width}x{height} image; "
                f"need 0 <= x0 < x1 <= {width} and 0 <= y0 < y1 <= {height}"
            )
    return array.tolist()


def bounding_box(mask: "np.ndarray") -> list[float] | None:
    """The `[x0, y0, x1, y1]` pixel box (exclusive max) around a 2-D mask's set pixels, or None."""
    import numpy as np

    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def labels_prompt(text: str | Sequence[str], mode: str) -> str:
    """GroundingDINO's text: lower case, each label ending in '.' ("cat. red car.").

    `label` takes one label or a list of labels; `caption` takes a free sentence as it is.
    """
    if isinstance(text, str):
        parts = [text] if mode == "caption" else [p for p in text.replace(",", ".").split(".")]
    else:
        parts = list(text)
    parts = [" ".join(str(p).lower().split()) for p in parts]
    parts = [p.rstrip(".") for p in parts if p.strip(". ")]
    if not parts:
        raise AnnotatorError(f"mode {mode!r} needs text naming what to find, e.g. 'a dog' or ['dog', 'ball']")
    return " ".join(p + "." for p in parts)
