"""Connected media → a normal `###path###` request, so one runtime code path serves typed
requests and wired-in tensors alike.

`{image1}`..`{image4}`, `{video1}`, `{mask1}` in the request stand for the connected inputs; each
is written once (content-addressed) under ComfyUI's temp folder and replaced by `###path###`.
Connected inputs the text does not mention are appended in that order. `###name###` written by
the user refers to a file in ComfyUI's input folder (the runtime confines it there).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from . import comfy_glue as glue
from .values import MediaRef

SLOTS = ("image1", "image2", "image3", "image4", "video1", "mask1")
PLACEHOLDER_RE = re.compile(r"\{(image[1-4]|video1|mask1)\}")
MARKER_RE = re.compile(r"###(.+?)###")


def _digest(tensor) -> str:
    data = tensor.detach().float().cpu().contiguous().numpy().tobytes()
    return hashlib.sha1(data + str(tuple(tensor.shape)).encode()).hexdigest()[:16]


def _write(slot: str, tensor, fps: float | None = None) -> tuple[Path, str, bool]:
    """Write one connected tensor as a file the runtime can read; returns (path, kind, is_mask).
    A video is written at `fps` (a core VIDEO's own rate), else at the planner's 24 fps."""
    from unison_runtime import media

    folder = glue.temp_dir()
    digest = _digest(tensor)
    if slot.startswith("mask"):
        mask = tensor if tensor.ndim == 3 else tensor[None]
        frame = mask[:1, :, :, None].expand(-1, -1, -1, 3)  # grey mask image, white = regenerate
        path = folder / f"mask_{digest}.png"
        if not path.exists():
            media.save_png(media.comfy_to_frames(frame.clamp(0, 1)), path, overwrite=True)
        return path, "image", True
    if slot.startswith("video") and tensor.shape[0] > 1:
        path = folder / (f"video_{digest}.mp4" if fps is None else f"video_{digest}_{fps:g}fps.mp4")
        if not path.exists():
            from unison_runtime.plan import FPS

            media.save_mp4(media.comfy_to_frames(tensor), path, fps=fps or FPS, overwrite=True)
        return path, "video", False
    path = folder / f"{slot.rstrip('0123456789')}_{digest}.png"
    if not path.exists():
        media.save_png(media.comfy_to_frames(tensor[:1]), path, overwrite=True)
    return path, "image", False


def build_request_text(text: str, connected: dict, video_fps: float | None = None) -> tuple[str, dict[str, MediaRef]]:
    """The request with placeholders replaced by `###path###`, and the connected media by path
    (`video_fps`: the frame rate of video1 when it came from a core VIDEO)."""
    connected = {k: v for k, v in connected.items() if v is not None}
    mentioned = set(PLACEHOLDER_RE.findall(text))
    missing = sorted(mentioned - set(connected))
    if missing:
        raise ValueError(f"the request mentions {', '.join('{' + m + '}' for m in missing)} but nothing is "
                         f"connected to {', '.join(missing)}; connect it or remove the placeholder")
    refs: dict[str, MediaRef] = {}
    for slot in SLOTS:
        if slot in connected:
            path, kind, is_mask = _write(slot, connected[slot], video_fps if slot == "video1" else None)
            refs[slot] = MediaRef(path=str(path), kind=kind, name=slot, tensor=connected[slot], is_mask=is_mask)

    def marker(slot: str) -> str:
        return f"###{refs[slot].path}###"

    out = PLACEHOLDER_RE.sub(lambda m: marker(m.group(1)), text)
    extra = [marker(slot) for slot in SLOTS if slot in refs and slot not in mentioned]
    if extra:
        out = out.rstrip() + " " + " ".join(extra)
    return out, refs


def media_refs(request, connected_by_path: dict[str, MediaRef]) -> list[MediaRef]:
    """One MediaRef per media item of the parsed request, in request order."""
    by_path = {str(Path(r.path).resolve()): r for r in connected_by_path.values()}
    refs = []
    for item in request.media:
        path = str(Path(item.path).resolve())
        ref = by_path.get(path)
        if ref is None:
            ref = MediaRef(path=path, kind=item.kind, name=Path(path).name,
                           is_mask="mask" in Path(path).name.lower())
        refs.append(ref)
    return refs


def allowed_roots() -> list[Path]:
    """Where `###file###` may point: ComfyUI's input folder, and our own temp folder."""
    return [glue.input_dir(), glue.temp_dir()]
