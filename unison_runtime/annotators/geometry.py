"""Exact, model-free geometry for VACE inputs (DESIGN §5).

Conventions: frames are numpy `[T, H, W, 3]` uint8, images `[H, W, 3]` uint8, mask videos
`[T, H, W]`. Binary masks are {0, 1} on input; the VACE-facing outputs of `apply_edit_mask` and
`expand_frame_reference` carry VACE's own 255/0 encoding (255 = regenerate). `feather` is the one
operation whose result is soft (float 0..1).

Gray: VACE paints edited pixels 128 (`GRAY`). It asks for 127.5 on frame-reference frames, but
the reference writes those float frames to a video file through imageio, which casts a constant
frame to uint8: 127 (`FRAME_REF_GRAY`) is what its generator sees, so that is what is used here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import AnnotatorError

if TYPE_CHECKING:
    import numpy as np

GRAY = 128
FRAME_REF_GRAY = 127
WHITE = 255
FRAME_REF_MODES = ("first", "last", "firstlast")


# -- editing and frame references -----------------------------------------------------------
def apply_edit_mask(frames: "np.ndarray", masks: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
    """Paint masked pixels gray and encode the mask as 255/0 (VACE's editing input).

    `masks` is `[T, H, W]` binary {0, 1}, or soft 0..1 (feathered): soft values blend the source
    toward gray and scale the 255 encoding, so a hard mask gives exactly gray 128 / 255.
    """
    import numpy as np

    _check_frames(frames)
    if masks.shape != frames.shape[:3]:
        raise AnnotatorError(f"mask shape {masks.shape} does not match the frames {frames.shape[:3]}")
    if ((masks == 0) | (masks == 1)).all():  # hard: integer work, no float copy of the video
        hard = masks.astype(bool)
        return np.where(hard[..., None], np.uint8(GRAY), frames), hard.astype(np.uint8) * 255
    alpha = masks.astype(np.float32)[..., None]
    painted = frames.astype(np.float32) * (1.0 - alpha) + GRAY * alpha
    out_frames = np.rint(painted).astype(np.uint8)
    out_masks = np.rint(alpha[..., 0] * 255.0).astype(np.uint8)
    return out_frames, out_masks


def expand_frame_reference(
    images: "np.ndarray | list[np.ndarray] | tuple[np.ndarray, ...]", num_frames: int, mode: str
) -> tuple["np.ndarray", "np.ndarray"]:
    """The given image(s) plus gray frames, with mask 255 on the gray frames and 0 on given ones.

    `mode` "first" puts the image first, "last" puts it last; "firstlast" takes two images and
    puts them at both ends. `images` is one `[H, W, 3]` image, or a sequence / `[N, H, W, 3]`.
    """
    import numpy as np

    if mode not in FRAME_REF_MODES:
        raise AnnotatorError(f"unknown frame-reference mode {mode!r}; allowed: {', '.join(FRAME_REF_MODES)}")
    stack = np.asarray(images)
    stack = stack[None] if stack.ndim == 3 else stack
    _check_frames(stack)
    needed = 2 if mode == "firstlast" else 1
    if len(stack) != needed:
        raise AnnotatorError(f"frame-reference mode {mode!r} needs {needed} image(s), got {len(stack)}")
    if num_frames < needed + 1:
        raise AnnotatorError(f"frame-reference mode {mode!r} needs at least {needed + 1} frames, got {num_frames}")
    _, h, w, _ = stack.shape
    frames = np.full((num_frames, h, w, 3), FRAME_REF_GRAY, np.uint8)
    masks = np.full((num_frames, h, w), 255, np.uint8)
    given = {"first": [0], "last": [num_frames - 1], "firstlast": [0, num_frames - 1]}[mode]
    for image, index in zip(stack, given):
        frames[index] = image
        masks[index] = 0
    return frames, masks


# -- resizing ---------------------------------------------------------------------------------
def fit_size(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """(new_w, new_h, left, top): the largest aspect-preserving size inside width×height, centred.

    The scale is min(width/src_w, height/src_h); the side that fits exactly is the target side
    (no rounding drift), the other is rounded. Odd leftovers put the extra pixel right / bottom.
    """
    if width * src_h <= height * src_w:  # width is the binding side
        new_w, new_h = width, max(1, min(height, round(src_h * width / src_w)))
    else:
        new_w, new_h = max(1, min(width, round(src_w * height / src_h))), height
    return new_w, new_h, (width - new_w) // 2, (height - new_h) // 2


def resize_image(image: "np.ndarray", width: int, height: int) -> "np.ndarray":
    """Area filter when shrinking (no aliasing), bilinear when enlarging; identity when equal."""
    import cv2

    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image.copy()
    shrinking = width * height < w * h
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def letterbox(image: "np.ndarray", width: int, height: int, fill: int = WHITE) -> "np.ndarray":
    """Scale `image` to fit width×height keeping its aspect and centre it on a `fill` canvas."""
    import numpy as np

    _check_size(width, height)
    h, w = image.shape[:2]
    new_w, new_h, left, top = fit_size(w, h, width, height)
    canvas = np.full((height, width) + image.shape[2:], fill, np.uint8)
    canvas[top:top + new_h, left:left + new_w] = resize_image(image, new_w, new_h)
    return canvas


def cover(image: "np.ndarray", width: int, height: int) -> "np.ndarray":
    """Scale `image` to cover width×height keeping its aspect, then centre-crop.

    Frame references use this rather than `letterbox`: a border on a kept frame would be kept too.
    """
    _check_size(width, height)
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    scaled = resize_image(image, new_w, new_h)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return scaled[top:top + height, left:left + width].copy()


def resize_mask(mask: "np.ndarray", width: int, height: int) -> "np.ndarray":
    """Nearest-neighbour resize of a `[H, W]` or `[T, H, W]` mask (values are never blended)."""
    import cv2
    import numpy as np

    _check_size(width, height)
    if mask.ndim == 3:
        return np.stack([resize_mask(m, width, height) for m in mask]) if len(mask) else mask
    if mask.shape == (height, width):
        return mask.copy()
    source = mask.astype(np.uint8) if mask.dtype == bool else mask  # cv2 has no bool images
    return cv2.resize(source, (width, height), interpolation=cv2.INTER_NEAREST_EXACT).astype(mask.dtype)


def fit_frames(
    frames: "np.ndarray", width: int | None = None, height: int | None = None,
    num_frames: int | None = None, fill: int = 0, nearest: bool = False,
) -> "np.ndarray":
    """Letterbox every frame onto a `fill` canvas of width×height and trim/pad to `num_frames`.

    Used for control inputs (black borders, `fill=0`, read as "no signal" by pose/edge/depth
    control) and, with `nearest=True`, for masks that must follow their frames. Too many frames:
    the first `num_frames` are kept. Too few: the last frame is repeated (a held pose is a valid
    control signal, whereas gray or black frames would be read as content). None keeps that axis.
    """
    import numpy as np

    if len(frames) == 0:
        raise AnnotatorError("fit_frames got an empty video")
    _, h, w = frames.shape[:3]
    width, height = width or w, height or h
    _check_size(width, height)
    if (width, height) != (w, h):
        if nearest:
            new_w, new_h, left, top = fit_size(w, h, width, height)
            out = np.full((len(frames), height, width) + frames.shape[3:], fill, frames.dtype)
            out[:, top:top + new_h, left:left + new_w] = resize_mask(frames, new_w, new_h)
            frames = out
        else:
            frames = np.stack([letterbox(f, width, height, fill) for f in frames])
    if num_frames is not None:
        if num_frames < 1:
            raise AnnotatorError(f"num_frames must be at least 1, got {num_frames}")
        if len(frames) >= num_frames:
            frames = frames[:num_frames]
        else:
            frames = np.concatenate([frames, np.repeat(frames[-1:], num_frames - len(frames), axis=0)])
    return frames


# -- mask morphology --------------------------------------------------------------------------
def _disk(pixels: int):
    """Euclidean disk: offsets with dy² + dx² <= r² (cv2's MORPH_ELLIPSE is fatter than that)."""
    import numpy as np

    dy, dx = np.ogrid[-pixels:pixels + 1, -pixels:pixels + 1]
    return (dy * dy + dx * dx <= pixels * pixels).astype(np.uint8)


def dilate(mask: "np.ndarray", pixels: int) -> "np.ndarray":
    """Grow a binary mask ([H, W] or [T, H, W]) to every pixel within Euclidean distance `pixels`
    of a set pixel; negative erodes."""
    import cv2
    import numpy as np

    if pixels < 0:
        return erode(mask, -pixels)
    if pixels == 0:
        return mask.copy()
    if mask.ndim == 3:
        return np.stack([dilate(m, pixels) for m in mask])
    return cv2.dilate(mask.astype(np.uint8), _disk(pixels)).astype(mask.dtype)


def erode(mask: "np.ndarray", pixels: int) -> "np.ndarray":
    """Shrink a binary mask by a disk of radius `pixels` (pixels outside the image count as set,
    so an object touching the border is not eaten from the border side)."""
    import cv2
    import numpy as np

    if pixels < 0:
        return dilate(mask, -pixels)
    if pixels == 0:
        return mask.copy()
    if mask.ndim == 3:
        return np.stack([erode(m, pixels) for m in mask])
    return cv2.erode(mask.astype(np.uint8), _disk(pixels), borderType=cv2.BORDER_REPLICATE).astype(mask.dtype)


def feather(mask: "np.ndarray", radius: int) -> "np.ndarray":
    """Soften a binary mask's edge: float32 0..1, a box blur of width 2·radius+1 applied twice.

    Pixels farther than 2·radius from the edge keep their exact value (0 or 1).
    """
    import cv2
    import numpy as np

    soft = mask.astype(np.float32)
    if radius <= 0:
        return soft
    if soft.ndim == 3:
        return np.stack([feather(m, radius) for m in mask])
    size = (2 * radius + 1, 2 * radius + 1)
    for _ in range(2):  # two box passes ~ a tent filter, cheaper than a Gaussian with the same support
        soft = cv2.blur(soft, size, borderType=cv2.BORDER_REPLICATE)
    return np.clip(soft, 0.0, 1.0)


def invert(mask: "np.ndarray") -> "np.ndarray":
    """1 − mask, for binary {0, 1} or soft 0..1 masks (not the 255 encoding: invert before it)."""
    return (1 - mask).astype(mask.dtype)


# -- runtime tensors --------------------------------------------------------------------------
def to_vace_tensors(frames: "np.ndarray", masks: "np.ndarray | None" = None):
    """numpy frames `[T,H,W,3]` uint8 and masks `[T,H,W]` (255/0 or 0..1) → the runtime's
    `[3,T,H,W]` float32 in [-1, 1] and `[1,T,H,W]` float32 in [0, 1] (all ones when no mask)."""
    import numpy as np
    import torch

    _check_frames(frames)
    video = torch.from_numpy(np.ascontiguousarray(frames)).float().div(127.5).sub(1.0).permute(3, 0, 1, 2)
    if masks is None:
        return video.contiguous(), torch.ones((1,) + frames.shape[:3])
    if masks.shape != frames.shape[:3]:
        raise AnnotatorError(f"mask shape {masks.shape} does not match the frames {frames.shape[:3]}")
    scale = 255.0 if masks.dtype == np.uint8 else 1.0
    mask = torch.from_numpy(np.ascontiguousarray(masks)).float().div(scale).clamp(0, 1)[None]
    return video.contiguous(), mask


# -- checks -----------------------------------------------------------------------------------
def _check_frames(frames: "np.ndarray") -> None:
    import numpy as np

    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        shape = getattr(frames, "shape", None)
        dtype = getattr(frames, "dtype", type(frames).__name__)
        raise AnnotatorError(f"frames must be a uint8 array [T, H, W, 3]; got {dtype} with shape {shape}")
    if frames.shape[0] == 0 or frames.shape[1] == 0 or frames.shape[2] == 0:
        raise AnnotatorError(f"frames are empty (shape {frames.shape})")


def _check_size(width: int, height: int) -> None:
    if int(width) < 1 or int(height) < 1:
        raise AnnotatorError(f"target size must be positive, got {width}x{height}")
