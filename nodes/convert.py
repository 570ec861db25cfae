"""Type conversion between ComfyUI's tensors and the runtime's values, nothing else.

ComfyUI: IMAGE `[B, H, W, C]` float 0..1, MASK `[B, H, W]` float 0..1. Runtime: frames
`[T, H, W, 3]` uint8, masks `[T, H, W]` float 0..1 (soft values kept), videos `[3, T, H, W]` in
[-1, 1]. Every decision (roles, sizes, which mask) is the runtime's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from unison_runtime.api import AnnotatorResult, GivenMedia, StageTwoInputs

# The nodes' media sockets and the role each one states.
MEDIA_SLOTS = {"image1": "image", "image2": "image", "image3": "image", "image4": "image",
               "video1": "video", "mask1": "mask"}


def given_media(connected: dict, text: str = "", video_fps: float | None = None) -> dict[str, "GivenMedia"]:
    """Connected sockets (slot -> IMAGE/MASK tensor or None) as the runtime's given media; a
    `{slot}` the text mentions with nothing connected to it is an error naming the socket.
    `video_fps`: the real rate of video1 (a core VIDEO's), else the planner's 24 fps."""
    from unison_runtime.api import GivenMedia

    missing = [slot for slot in MEDIA_SLOTS if connected.get(slot) is None and "{" + slot + "}" in (text or "")]
    if missing:
        raise ValueError(f"the request mentions {', '.join('{' + m + '}' for m in missing)} but nothing is "
                         f"connected to {', '.join(missing)}; connect it or remove the placeholder")
    given = {}
    for slot, role in MEDIA_SLOTS.items():
        tensor = connected.get(slot)
        if tensor is None:
            continue
        if role == "mask":
            given[slot] = GivenMedia("mask", mask_to_float(tensor))
        else:
            frames = image_to_uint8(tensor)
            # A one-frame "video" is a still: the planner sees it as an image.
            is_video = role == "video" and len(frames) > 1
            given[slot] = GivenMedia("video" if is_video else "image", frames, video_fps if is_video else None)
    return given


def image_to_uint8(image: "torch.Tensor") -> "np.ndarray":
    """ComfyUI IMAGE `[B, H, W, C]` 0..1 → `[B, H, W, 3]` uint8 (alpha dropped, grey expanded)."""
    import numpy as np

    array = image.detach().float().cpu().clamp(0, 1).numpy()
    if array.ndim == 3:
        array = array[None]
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray((array[..., :3] * 255.0).round().astype(np.uint8))


def mask_to_float(mask: "torch.Tensor") -> "np.ndarray":
    """ComfyUI MASK `[B, H, W]` (or `[H, W]`) → `[B, H, W]` float32 0..1, soft values kept."""
    import numpy as np

    array = mask.detach().float().cpu().clamp(0, 1).numpy()
    return np.ascontiguousarray(array if array.ndim == 3 else array[None])


def uint8_to_image(frames: "np.ndarray") -> "torch.Tensor":
    import numpy as np
    import torch

    return torch.from_numpy(frames.astype(np.float32) / 255.0)


def masks_to_mask(masks: "np.ndarray") -> "torch.Tensor":
    """Runtime masks (uint8 255 = regenerate, or float 0..1) → ComfyUI MASK."""
    import numpy as np
    import torch

    masks = np.asarray(masks)
    if masks.dtype == np.uint8:
        return torch.from_numpy(masks.astype(np.float32) / (255.0 if masks.max() > 1 else 1.0))
    return torch.from_numpy(masks.astype(np.float32))


def video_to_image(video: "torch.Tensor") -> "torch.Tensor":
    """Runtime video `[3, T, H, W]` in [-1, 1] → ComfyUI IMAGE `[T, H, W, 3]`."""
    from unison_runtime.api import frames_to_comfy

    return frames_to_comfy(video.float().cpu())


def router_outputs(inputs: "StageTwoInputs") -> tuple:
    """(IMAGE frames, MASK masks, IMAGE references) for the router's preview outputs.

    Without a source VACE sees zeros (mid-grey) and an all-ones mask: one such frame stands for
    it, so previews stay cheap. Without references, one white image of the target size.
    """
    import numpy as np
    import torch

    if inputs.frames is not None:
        frames = uint8_to_image(inputs.frames)
        masks = inputs.masks if inputs.masks is not None else np.ones(inputs.frames.shape[:3], np.float32)
        masks = masks_to_mask(masks)
    else:
        frames = torch.full((1, inputs.height, inputs.width, 3), 0.5)
        masks = torch.ones(1, inputs.height, inputs.width)
    if inputs.references:
        from unison_runtime.api import placed_references

        refs = placed_references(inputs)
    else:
        refs = torch.ones(1, inputs.height, inputs.width, 3)
    return frames, masks, refs


def override_inputs(inputs: "StageTwoInputs", frames=None, masks=None, references=None) -> "StageTwoInputs":
    """The prepared inputs with the connected override tensors in their place."""
    refs = None
    if references is not None:
        stacked = image_to_uint8(references)
        refs = [stacked[i] for i in range(stacked.shape[0])]
    return inputs.with_inputs(frames=None if frames is None else image_to_uint8(frames),
                              masks=None if masks is None else mask_to_float(masks), references=refs)


def annotator_outputs(result: "AnnotatorResult") -> tuple:
    """(IMAGE, MASK) from an `AnnotatorResult` (no mask, as for references, reads as all ones)."""
    import torch

    frames = uint8_to_image(result.frames)
    masks = torch.ones(frames.shape[:3]) if result.masks is None else masks_to_mask(result.masks)
    return frames, masks
