"""Type conversion between the nodes' values and the runtime's stage-two functions.

The decisions live in the runtime (`router.route`, `pipeline.stage_two.prepare_stage_two`); this
module only turns ComfyUI tensors into the runtime's numpy layout (`[T, H, W, 3]` uint8) and back,
and applies media overrides given to the router or the sampler.
"""

from __future__ import annotations

from dataclasses import replace

from .values import PlanBundle

ANNOTATOR_TASKS_NEEDING_MODELS = ("salient",)


def media_arrays(bundle: PlanBundle) -> list:
    """Every media item of the request as `[T, H, W, 3]` uint8, connected tensors used as given."""
    from unison_runtime.pipeline.stage_two import MAX_SOURCE_FRAMES
    from unison_runtime.media import load_image, load_video, pil_to_array

    arrays = []
    for ref in bundle.media:
        if ref.tensor is not None:
            arrays.append(image_to_uint8(_mask_as_image(ref.tensor) if ref.is_mask else ref.tensor))
        elif ref.kind == "video":
            arrays.append(load_video(ref.path, max_frames=MAX_SOURCE_FRAMES))
        else:
            arrays.append(pil_to_array(load_image(ref.path))[None])
    return arrays


def route_bundle(bundle: PlanBundle, overrides: dict) -> PlanBundle:
    """The bundle with its route decided from the plan (overrides applied) and its media."""
    from unison_runtime.pipeline.stage_two import describe_media
    from unison_runtime.router import route

    if not isinstance(bundle, PlanBundle):
        raise ValueError(f"the plan input must come from UnisonPlanner, got {type(bundle).__name__}")
    arrays = bundle.arrays if bundle.arrays is not None else media_arrays(bundle)
    infos = describe_media(arrays, [m.kind for m in bundle.media], [m.name for m in bundle.media])
    routed = bundle.with_route(route(bundle.plan, infos, overrides))
    return replace(routed, arrays=arrays)


def prepare(bundle: PlanBundle, annotators=None, source=None, mask=None, references=None) -> PlanBundle:
    """The bundle with stage two's inputs prepared by the route's annotator."""
    from unison_runtime.pipeline.stage_two import prepare_stage_two

    models = None
    if bundle.route.annotator in ANNOTATOR_TASKS_NEEDING_MODELS:
        if annotators is None:
            from unison_runtime.errors import ModelLoadError

            raise ModelLoadError(f"{bundle.route.task} without a mask finds the salient object with U²-Net: "
                                 "connect UnisonAnnotatorLoader (u2net) to the router, or give a mask")
        models = annotators.load()
    arrays = bundle.arrays if bundle.arrays is not None else media_arrays(bundle)
    stage = prepare_stage_two(bundle.route, arrays, models)
    return replace(bundle, stage_two=apply_overrides(stage, source=source, mask=mask, references=references))


def apply_overrides(stage, source=None, mask=None, references=None):
    """StageTwoInputs with ComfyUI tensors in place of the prepared frames/masks/references."""
    changes = {}
    if source is not None:
        changes["frames"] = image_to_uint8(source)
    if mask is not None:
        changes["masks"] = mask_to_float(mask)
    if references is not None:
        refs = image_to_uint8(references)
        changes["references"] = [refs[i] for i in range(refs.shape[0])]
    return replace(stage, **changes) if changes else stage


def comfy_outputs(stage):
    """(IMAGE frames, MASK masks, IMAGE references) for the router's outputs.

    Without a source VACE sees zeros (mid-gray) and an all-ones mask: one such frame stands for
    it, so previews stay cheap. Without references, one white image of the target size.
    """
    import numpy as np
    import torch

    if stage.frames is not None:
        frames = torch.from_numpy(stage.frames.astype(np.float32) / 255.0)
        masks = stage.masks
        if masks is None:
            masks = np.ones(stage.frames.shape[:3], np.float32)
        masks = torch.from_numpy(_unit(masks))
    else:
        frames = torch.full((1, stage.height, stage.width, 3), 0.5)
        masks = torch.ones(1, stage.height, stage.width)
    if stage.references:
        refs = _stack([torch.from_numpy(r.astype(np.float32) / 255.0) for r in stage.references])
    else:
        refs = torch.ones(1, stage.height, stage.width, 3)
    return frames, masks, refs


def _unit(masks):
    import numpy as np

    masks = np.asarray(masks)
    if masks.dtype == np.uint8:
        return masks.astype(np.float32) / (255.0 if masks.max() > 1 else 1.0)  # keeps feathered edges
    return masks.astype(np.float32)


def _stack(images):
    import torch

    height = max(i.shape[0] for i in images)
    width = max(i.shape[1] for i in images)
    out = torch.ones(len(images), height, width, 3)
    for n, image in enumerate(images):  # differently sized references: top-left on white
        out[n, : image.shape[0], : image.shape[1]] = image
    return out


def image_to_uint8(image):
    """ComfyUI IMAGE `[B, H, W, C]` 0..1 → `[B, H, W, 3]` uint8 (alpha dropped, gray expanded)."""
    import numpy as np

    array = image.detach().float().cpu().clamp(0, 1).numpy()
    if array.ndim == 3:
        array = array[None]
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray((array[..., :3] * 255.0).round().astype(np.uint8))


def _mask_as_image(mask):
    m = mask if mask.ndim == 3 else mask[None]
    return m[..., None].expand(-1, -1, -1, 3)


def mask_to_float(mask):
    import numpy as np

    m = mask.detach().float().cpu().clamp(0, 1).numpy()
    return np.ascontiguousarray(m if m.ndim == 3 else m[None])


def annotator_outputs(result):
    """(IMAGE, MASK) from an `AnnotatorResult` (no mask, as for references, reads as all ones)."""
    import numpy as np
    import torch

    frames = torch.from_numpy(result.frames.astype(np.float32) / 255.0)
    if result.masks is None:
        masks = torch.ones(frames.shape[:3])
    else:
        masks = torch.from_numpy(_unit(result.masks))
    return frames, masks
