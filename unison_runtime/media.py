"""Media I/O and layout conversion: images, masks and videos in and out of the runtime.

Runtime conventions (docs/ARCHITECTURE.md): video tensors `[C, T, H, W]` float in [-1, 1];
masks `[1, T, H, W]` float in {0, 1} (1 = regenerate); numpy frames `[T, H, W, 3]` uint8.
ComfyUI layouts (IMAGE `[B, H, W, C]` 0..1, MASK `[B, H, W]` 0..1) appear only in the
`comfy_*` helpers here. Decoding and encoding go through PyAV (no torchvision).

Decisions:
- `load_mask`: an image with a transparency channel that is not fully opaque gives its mask from
  the alpha channel, transparent (alpha <= 127) = 1, as ComfyUI's LoadImage does for erased
  areas; otherwise the grey level is thresholded, > 127 = 1 (robust to JPEG noise).
- `load_video(sample_fps=...)` never duplicates frames: a rate at or above the source's keeps
  every frame. `max_frames` then picks evenly spaced frames, first and last included.
- `save_png` writes exactly one image; several frames are an error (use `save_mp4`).
- `save_mp4` pads odd widths/heights by repeating the last row/column (yuv420p needs even sizes)
  so a long generation never fails at the last step.
- Both writers publish through `outputs.publish`: a temp file in the same folder, fsynced, then
  linked under its name, so a reader never sees a half-written file. An existing file or symlink
  (a dangling one included) is never replaced unless `overwrite=True`; `next_free=True` takes the
  first free `stem_N` name instead of refusing.

torch, numpy, PIL and av are imported inside the functions that use them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import MediaError
from .facts import FPS, WIDE_GREY_MODES
from .outputs import publish

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".webm", ".gif")

# Float frames may overshoot their range slightly (VAE decode, resampling); beyond this they are
# almost certainly in another convention (0..255, or 0..1 passed as -1..1) and rejected.
RANGE_TOLERANCE = 0.05
H264_CRF = 18  # visually lossless; keeps read-back pixels close to what was written
# A video frame larger than this is refused before decoding (PIL guards images the same way):
# 8K UHD (7680x4320) fits; an 8192x8192 "pixel bomb" does not. Each such frame costs ~100 MB.
MAX_VIDEO_FRAME_PIXELS = 7680 * 4320
# Per request, the pixels of all distinct media files together, as decoded (video: the frames
# kept, at the decode size), are refused above this before anything is decoded: 1e9 pixels are
# 3 GB as 8-bit RGB — e.g. two 10 s 1080p videos — far beyond what stage two can use at once.
MEDIA_PIXEL_BUDGET = 1_000_000_000


# -- reading ---------------------------------------------------------------------------------
def _existing_file(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise MediaError(f"file not found: {p}")
    if not p.is_file():
        raise MediaError(f"not a file: {p}")
    return p


def _open_image(path: str | os.PathLike):
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = _existing_file(path)
    try:
        image = Image.open(p)
        image.load()
    except Image.DecompressionBombError as err:  # a huge image would exhaust memory
        raise MediaError(f"{p} is too large to open safely ({err}); at most "
                         f"{Image.MAX_IMAGE_PIXELS:,} pixels are allowed") from err
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise MediaError(
            f"{p} is not a readable image ({err}); supported: {', '.join(IMAGE_EXTENSIONS)}"
        ) from err
    # Phones store rotation in EXIF; the user expects the picture as displayed.
    return ImageOps.exif_transpose(_to_8_bit(image))


def _to_8_bit(image):
    """A 16-bit greyscale image scaled to 8 bits (0..65535 → 0..255); Pillow's own conversion to
    "L" clips instead, turning a dark 16-bit ramp almost all white. Other modes pass through
    (Pillow already reads 16-bit RGB PNGs as 8-bit RGB, scaled)."""
    import numpy as np
    from PIL import Image

    if image.mode not in WIDE_GREY_MODES:
        return image
    wide = np.asarray(image).astype(np.float64)
    return Image.fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8), "L")


def load_image(path: str | os.PathLike):
    """Read an image file as an RGB `PIL.Image` with its EXIF orientation applied."""
    return _open_image(path).convert("RGB")


def load_mask(path: str | os.PathLike):
    """Read a mask image as `np.ndarray[H, W]` float32 in 0..1 (1 = regenerate), soft levels
    kept; the channel is chosen as VACE and ComfyUI read masks (`annotators.masks.mask_levels`:
    grey; alpha only for a transparent-painted PNG; 16-bit scaled). Which levels are the region
    is decided in one place, the annotators (VACE: above 0)."""
    from .annotators.masks import mask_levels

    return mask_levels(_open_image(path))


def image_header(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) as displayed (EXIF orientation applied), from the header only."""
    from PIL import Image, UnidentifiedImageError

    p = _existing_file(path)
    try:
        with Image.open(p) as image:
            width, height = image.size
            orientation = image.getexif().get(0x0112, 1)  # 5..8: rotated by 90 degrees
    except Image.DecompressionBombError as err:
        raise MediaError(f"{p} is too large to open safely ({err})") from err
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise MediaError(f"{p} is not a readable image ({err}); supported: {', '.join(IMAGE_EXTENSIONS)}") from err
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _open_video(path: str | os.PathLike):
    import av

    p = _existing_file(path)
    try:
        container = av.open(str(p))
    except av.FFmpegError as err:
        raise MediaError(
            f"{p} is not a readable video ({err}); supported: {', '.join(VIDEO_EXTENSIONS)}"
        ) from err
    if not container.streams.video:
        container.close()
        raise MediaError(f"{p} has no video stream; supported: {', '.join(VIDEO_EXTENSIONS)}")
    return container


def _stream_fps(stream, path) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or rate <= 0:
        raise MediaError(f"{path} does not state a frame rate")
    return float(rate)


def video_fps(path: str | os.PathLike) -> float:
    """The frame rate a video file declares (frames per second)."""
    with _open_video(path) as container:
        return _stream_fps(container.streams.video[0], path)


def load_video(path: str | os.PathLike, max_frames: int | None = None, sample_fps: float | None = None,
               max_side: int | None = None):
    """Decode a video (gif included) as `np.ndarray[T, H, W, 3]` uint8 RGB.

    `sample_fps` keeps frames nearest to that rate (never more than the source has);
    `max_frames` then keeps that many evenly spaced frames, first and last included. Only kept
    frames are converted to RGB, so a long video costs decoding time, not memory. `max_side`
    scales kept frames down (aspect kept) so neither side exceeds it. Every frame is scaled to the
    size of the first, should the stream change size midway. A stream whose frames exceed
    `MAX_VIDEO_FRAME_PIXELS` is refused before any frame is decoded.
    """
    import numpy as np

    _check_positive("max_frames", max_frames, integer=True)
    _check_positive("sample_fps", sample_fps)
    _check_positive("max_side", max_side, integer=True)
    with _open_video(path) as container:
        stream = container.streams.video[0]
        _check_frame_pixels(stream.codec_context.width, stream.codec_context.height, path)
        size = _decode_size(stream.codec_context.width, stream.codec_context.height, max_side)
        step = 1.0 if sample_fps is None else max(1.0, _stream_fps(stream, path) / sample_fps)
        declared = stream.frames or _count_packets(container, stream)
    frames, total = _decode_indices(path, sample_indices(declared, step, max_frames), size, max_side)
    if total != declared:  # the container miscounted (edit lists, damaged index): choose again
        frames, _ = _decode_indices(path, sample_indices(total, step, max_frames), size, max_side)
    if not frames:
        raise MediaError(f"{path} contains no video frames")
    return np.stack(frames)


def video_header(path: str | os.PathLike) -> tuple[int, int, int]:
    """(width, height, frame count) from the container, without decoding a frame (a container
    that states no count is demuxed to count its packets)."""
    with _open_video(path) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        return width, height, stream.frames or _count_packets(container, stream)


def _check_frame_pixels(width: int, height: int, path) -> None:
    if width * height > MAX_VIDEO_FRAME_PIXELS:
        raise MediaError(f"{path} has {width}x{height} frames, too large to decode safely; at most "
                         f"{MAX_VIDEO_FRAME_PIXELS:,} pixels a frame (e.g. 7680x4320) are allowed")


def _decode_size(width: int, height: int, max_side: int | None) -> dict | None:
    """Keyword arguments for `to_ndarray` that scale a frame so neither side exceeds `max_side`."""
    if not max_side or max(width, height) <= max_side or not (width and height):
        return None
    scale = max_side / max(width, height)
    return {"width": max(1, round(width * scale)), "height": max(1, round(height * scale))}


def _count_packets(container, stream) -> int:
    """Frame count of a container that does not state one (webm, mkv): demux without decoding."""
    return sum(1 for packet in container.demux(stream) if packet.size)


def sample_indices(total: int, step: float, max_frames: int | None) -> set[int]:
    """Indices nearest to multiples of `step`, then at most `max_frames` of them evenly spaced."""
    import numpy as np

    chosen: list[int] = []
    while (index := round(len(chosen) * step)) < total:
        chosen.append(index)
    if max_frames is not None and len(chosen) > max_frames:
        picks = np.linspace(0, len(chosen) - 1, max_frames).round().astype(int)
        chosen = [chosen[i] for i in picks]
    return set(chosen)


def _decode_indices(path, wanted: set[int], size: dict | None = None,
                    max_side: int | None = None) -> tuple[list, int]:
    """(RGB arrays of the wanted frame indices, number of frames decoded)."""
    import av

    frames, index = [], -1
    with _open_video(path) as container:
        try:
            for index, frame in enumerate(container.decode(container.streams.video[0])):
                _check_frame_pixels(frame.width, frame.height, path)  # a stream may grow midway
                size = size or _decode_size(frame.width, frame.height, max_side) or \
                    {"width": frame.width, "height": frame.height}
                if index in wanted:
                    frames.append(frame.to_ndarray(format="rgb24", **size))
        except av.FFmpegError as err:
            raise MediaError(f"{path} could not be decoded ({err})") from err
    return frames, index + 1


def _check_positive(name: str, value, integer: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or (integer and not isinstance(value, int)) or not value > 0:
        kind = "a positive integer" if integer else "a positive number"
        raise MediaError(f"{name} must be {kind} or None, got {value!r}")


# -- writing ---------------------------------------------------------------------------------
def save_png(frames: Any, path: str | os.PathLike, overwrite: bool = False, next_free: bool = False) -> Path:
    """Write one image as PNG. `frames` is anything `to_uint8_frames` accepts, holding one frame.

    Returns the name written: `path`, or with `next_free` the first free `stem_N.png`.
    """
    from PIL import Image

    target = _writable_target(path, ".png")
    array = to_uint8_frames(frames)
    if array.shape[0] != 1:
        raise MediaError(
            f"save_png writes one image but got {array.shape[0]} frames; "
            "save them one at a time or use save_mp4"
        )
    return publish(target, lambda tmp: Image.fromarray(array[0]).save(tmp, format="PNG"),
                   _exists_mode(overwrite, next_free))


def save_mp4(frames: Any, path: str | os.PathLike, fps: float = FPS, overwrite: bool = False,
             next_free: bool = False) -> Path:
    """Write frames as an H.264 (yuv420p) MP4; odd sizes are padded to even by edge repetition."""
    import math
    import numbers

    target = _writable_target(path, ".mp4")
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not math.isfinite(fps) or fps <= 0:
        raise MediaError(f"fps must be a positive number, got {fps!r}")
    array = _pad_to_even(to_uint8_frames(frames))
    return publish(target, lambda tmp: _encode_h264(array, tmp, float(fps)), _exists_mode(overwrite, next_free))


def _encode_h264(array, tmp: Path, fps: float) -> None:
    from fractions import Fraction

    import av

    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = array.shape[2], array.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(H264_CRF)}
        for rgb in array:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())  # flush the encoder's delayed frames


def _pad_to_even(array):
    import numpy as np

    pad_h, pad_w = array.shape[1] % 2, array.shape[2] % 2
    if not (pad_h or pad_w):
        return array
    return np.pad(array, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def _writable_target(path: str | os.PathLike, suffix: str) -> Path:
    target = Path(path).expanduser()
    if target.suffix.lower() != suffix:
        raise MediaError(f"{target}: expected a {suffix} file name")
    if not target.parent.is_dir():
        raise MediaError(f"folder does not exist: {target.parent}")
    return target


def _exists_mode(overwrite: bool, next_free: bool) -> str:
    return "replace" if overwrite else "number" if next_free else "error"


# -- layout conversion -----------------------------------------------------------------------
def pil_to_array(image) -> Any:
    """A PIL image as `np.ndarray[H, W, 3]` uint8 RGB."""
    import numpy as np
    from PIL import Image

    if not isinstance(image, Image.Image):
        raise MediaError(f"expected a PIL image, got {type(image).__name__}")
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def to_uint8_frames(frames: Any):
    """Frames as `np.ndarray[T, H, W, 3]` uint8.

    Accepts a runtime tensor `[3, T, H, W]` float in [-1, 1], a numpy uint8 array `[T, H, W, 3]`
    or `[H, W, 3]`, a PIL image, or a list of PIL images / `[H, W, 3]` uint8 arrays.
    """
    import numpy as np

    if _is_tensor(frames):
        return _tensor_to_uint8(frames)
    if isinstance(frames, (list, tuple)):
        if not frames:
            raise MediaError("no frames given")
        return np.concatenate([to_uint8_frames(f) for f in frames])
    if _is_pil(frames):
        return pil_to_array(frames)[None]
    if isinstance(frames, np.ndarray):
        return _array_to_uint8(frames)
    raise MediaError(
        f"cannot read frames from {type(frames).__name__}; allowed: a [3,T,H,W] tensor in [-1,1], "
        "a uint8 array [T,H,W,3] or [H,W,3], a PIL image, or a list of those"
    )


def _array_to_uint8(array):
    import numpy as np

    if array.dtype != np.uint8:
        raise MediaError(f"numpy frames must be uint8, got {array.dtype}")
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or 0 in array.shape:
        raise MediaError(f"numpy frames must be [T,H,W,3] or [H,W,3] and non-empty, got {list(array.shape)}")
    return np.ascontiguousarray(array)


def _tensor_to_uint8(tensor):
    _check_layout(tensor, "frames", ndim=4, channels_dim=0, channels=(3,), layout="[3,T,H,W]")
    values = _checked_float(tensor, "frames", -1.0, 1.0)
    scaled = ((values + 1.0) * 127.5).round().clamp(0, 255).to(dtype=_torch().uint8)
    return scaled.permute(1, 2, 3, 0).contiguous().cpu().numpy()


def frames_from_uint8(array):
    """`np.ndarray[T, H, W, 3]` uint8 (or `[H, W, 3]`) → tensor `[3, T, H, W]` float32 in [-1, 1]."""
    import numpy as np

    if not isinstance(array, np.ndarray):
        raise MediaError(f"expected a numpy uint8 array, got {type(array).__name__}")
    array = _array_to_uint8(array)
    tensor = _torch().from_numpy(array).permute(3, 0, 1, 2).to(_torch().float32)
    return tensor / 127.5 - 1.0


def comfy_to_frames(image):
    """ComfyUI IMAGE `[B, H, W, 3]` float 0..1 → runtime frames `[3, B, H, W]` float32 in [-1, 1]."""
    _check_layout(image, "ComfyUI IMAGE", ndim=4, channels_dim=3, channels=(3,), layout="[B,H,W,3]")
    values = _checked_float(image, "ComfyUI IMAGE", 0.0, 1.0)
    return (values * 2.0 - 1.0).permute(3, 0, 1, 2).contiguous()


def frames_to_comfy(frames):
    """Runtime frames `[3, T, H, W]` in [-1, 1] → ComfyUI IMAGE `[T, H, W, 3]` float32 0..1."""
    _check_layout(frames, "frames", ndim=4, channels_dim=0, channels=(3,), layout="[3,T,H,W]")
    values = _checked_float(frames, "frames", -1.0, 1.0)
    return ((values + 1.0) / 2.0).permute(1, 2, 3, 0).contiguous()


# -- validation helpers ----------------------------------------------------------------------
def _torch():
    import torch

    return torch


def _is_tensor(value) -> bool:
    import sys

    torch = sys.modules.get("torch")  # a tensor can only exist if torch was imported
    return torch is not None and isinstance(value, torch.Tensor)


def _is_pil(value) -> bool:
    import sys

    image_module = sys.modules.get("PIL.Image")
    return image_module is not None and isinstance(value, image_module.Image)


def _check_layout(value, what: str, ndim: int, layout: str, channels_dim: int | None = None,
                  channels: tuple[int, ...] = ()) -> None:
    if not _is_tensor(value):
        raise MediaError(f"{what} must be a torch tensor {layout}, got {type(value).__name__}")
    if value.ndim != ndim or 0 in value.shape:
        raise MediaError(f"{what} must be a non-empty {layout} tensor, got shape {list(value.shape)}")
    if channels_dim is not None and value.shape[channels_dim] not in channels:
        raise MediaError(
            f"{what} must be {layout} with {' or '.join(map(str, channels))} channels, "
            f"got shape {list(value.shape)}"
        )


def _checked_float(tensor, what: str, low: float, high: float):
    """`tensor` as float32, clipped to [low, high]; NaN or values far outside are errors."""
    torch = _torch()
    if not tensor.is_floating_point():
        raise MediaError(f"{what} must be a float tensor in [{low:g}, {high:g}], got {tensor.dtype}")
    values = tensor.detach().to(torch.float32)
    if torch.isnan(values).any():
        raise MediaError(f"{what} contains NaN")
    lo, hi = values.min().item(), values.max().item()
    if lo < low - RANGE_TOLERANCE or hi > high + RANGE_TOLERANCE:
        raise MediaError(f"{what} must hold values in [{low:g}, {high:g}], got [{lo:g}, {hi:g}]")
    return values.clamp(low, high)
