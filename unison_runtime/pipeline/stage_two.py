"""From a Route and the request's media pixels to stage two's inputs (frames, masks, references).

Media arrive as numpy frames `[T, H, W, 3]` uint8 (an image is T = 1), one per media item in the
request's order, whether they came from files (`load_media`) or from ComfyUI tensors. The route
says which item plays which part and which annotator prepares it; the annotators do the pixel work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import RequestError
from ..router import MediaInfo, Route

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from ..request import Request

# Videos longer than this are sampled down before anything else touches them (241 = 10 s at 24 fps).
MAX_SOURCE_FRAMES = 241


@dataclass
class StageTwoInputs:
    """What the generator receives, besides the text conditioning.

    `frames` `[T, H, W, 3]` uint8 at the target size (None: no source, VACE sees zeros), `masks`
    `[T, H, W]` uint8 0..255 or float 0..1 (None: all ones), `references` `[H, W, 3]` uint8 images
    at their own size.
    """

    width: int
    height: int
    num_frames: int
    frames: "np.ndarray | None" = None
    masks: "np.ndarray | None" = None
    references: list = field(default_factory=list)
    annotator: str | None = None
    info: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "annotator": self.annotator,
            "size": [self.width, self.height],
            "num_frames": self.num_frames,
            "source_shape": list(self.frames.shape) if self.frames is not None else None,
            "mask_shape": list(self.masks.shape) if self.masks is not None else None,
            "masked_fraction": round(float((self.masks > 0).mean()), 4) if self.masks is not None else None,
            "references": len(self.references),
            "info": self.info,
        }

    def to_tensors(self):
        """(source [3,T,H,W] in [-1,1] or None, masks [1,T,H,W] in [0,1] or None, references
        as [3,h,w] tensors in [-1,1] at their own size)."""
        from ..annotators.geometry import to_vace_tensors
        from ..media import frames_from_uint8

        source = masks = None
        if self.frames is not None:
            source, masks = to_vace_tensors(self.frames, self.masks)
        references = [frames_from_uint8(image[None])[:, 0] for image in self.references]
        return source, masks, references


def load_media(request: "Request") -> list["np.ndarray"]:
    """Every media item of the request as `[T, H, W, 3]` uint8 frames, in request order."""
    from ..media import load_image, load_video, pil_to_array

    arrays = []
    for item in request.media:
        if item.kind == "image":
            arrays.append(pil_to_array(load_image(item.path))[None])
        else:
            arrays.append(load_video(item.path, max_frames=MAX_SOURCE_FRAMES))
    return arrays


def load_mask_frames(path) -> "np.ndarray":
    """A mask image as `[1, H, W, 3]` uint8 frames, white = regenerate. Read with
    `media.load_mask`, so a PNG whose transparent pixels mark the region works too."""
    import numpy as np

    from ..media import load_mask

    mask = load_mask(path)
    return np.repeat((mask * 255).astype(np.uint8)[None, ..., None], 3, axis=-1)


def describe_media(arrays: Sequence["np.ndarray"], kinds: Sequence[str],
                   names: Sequence[str] = (), sizes_known: bool = True) -> list[MediaInfo]:
    """What the router needs to know of each media item (kinds only when `sizes_known` is off:
    understanding requests route without decoding pixels)."""
    names = list(names) or [""] * len(kinds)
    if not sizes_known:
        return [MediaInfo(kind=kind, width=0, height=0, name=name) for kind, name in zip(kinds, names)]
    if len(arrays) != len(kinds):
        raise RequestError(f"{len(arrays)} media arrays for {len(kinds)} media kinds")
    return [MediaInfo(kind=kind, width=int(a.shape[2]), height=int(a.shape[1]),
                      num_frames=int(a.shape[0]), name=name)
            for a, kind, name in zip(arrays, kinds, names)]


def prepare_stage_two(route: Route, media: Sequence["np.ndarray"], annotator_models: Any = None,
                      salient_threshold: float | None = None) -> StageTwoInputs:
    """Run the route's annotator on the media it names; returns the generator's inputs."""
    from ..annotators import run_annotator

    size = dict(width=route.width, height=route.height)
    n = route.num_frames
    mode = route.annotator
    result = None
    if mode is None:
        return StageTwoInputs(route.width, route.height, n)
    if mode == "mask":
        # Painted at the source's own size, then source and mask are fitted together; a mask
        # video of another length is first spread over the source's frames.
        source, mask = media[route.source_index], _as_mask(media[route.mask_index])
        if 1 < len(mask) != len(source):
            from ..annotators.sources import resample_frames

            mask = resample_frames(mask, len(source))
        result = run_annotator("mask", frames=source, mask=mask, num_frames=n, **size)
    elif mode == "salient":
        result = run_annotator("salient", frames=media[route.source_index], models=annotator_models,
                               threshold=salient_threshold, num_frames=n, **size)
    elif mode == "control":
        result = run_annotator("control", frames=media[route.control_index], num_frames=n, **size)
    elif mode in ("firstframe", "lastframe", "firstlastframe"):
        images = [media[i][0] for i in route.frame_indices]
        result = run_annotator(mode, frames=_stack_resized(images, route), num_frames=n, **size)
    elif mode == "reference":
        # At their own size: the generator places them on white as the reference does
        # (`generator.sampling.prepare_reference`), with no resampling before that.
        references = [media[i][0] for i in route.reference_indices]
        return StageTwoInputs(route.width, route.height, n, references=references, annotator=mode,
                              info=f"{len(references)} reference image(s), placed on white at the target size")
    else:  # pragma: no cover - the router only names the modes above
        raise RequestError(f"the route names an unknown annotator {mode!r}")
    info = "; ".join(result.info.steps + ([result.info.message] if result.info.message else []))
    return StageTwoInputs(route.width, route.height, n, frames=result.frames, masks=result.masks,
                          annotator=mode, info=info)


def _stack_resized(images: list["np.ndarray"], route: Route) -> "np.ndarray":
    import numpy as np

    from ..annotators.sources import resize_crop

    # A given first/last frame is resized and centre-cropped as the reference prepares it.
    return np.concatenate([resize_crop(image[None], route.width, route.height) for image in images])


def _as_mask(frames: "np.ndarray") -> "np.ndarray":
    """A mask image/video given as RGB frames → `[T, H, W]` uint8 {0, 1}: VACE's test, grey > 0."""
    from ..annotators.masks import grey_region

    return grey_region(frames)


def generate_frames(generator, stage: StageTwoInputs, prompt: str, projector_tokens=None,
                    settings=None, negative_prompt: str = "", callback=None, check_cancel=None):
    """Stage two for prepared inputs: conditioning (DESIGN §5) then sampling.

    `prompt` is the request text with its pad tokens; `projector_tokens` `[1, 4, W]` or None (T5
    only). `callback(step, total, latents)` runs after every step (progress, preview, cancel);
    `check_cancel()` between stages and before every step.
    Returns frames `[3, T, H, W]` float32 in [-1, 1].
    """
    from ..generator.conditioning import encode_context, negative_context
    from ..generator.inputs import GenerationInputs, SamplerSettings
    from ..generator.sampling import generate

    source, masks, references = stage.to_tensors()
    inputs = GenerationInputs(
        context=encode_context(generator, prompt, projector_tokens),
        negative_context=negative_context(generator, negative_prompt),
        width=stage.width, height=stage.height, num_frames=stage.num_frames,
        source=source, masks=masks, reference_images=references or None,
    )
    video = generate(generator, inputs, settings or SamplerSettings(), callback=callback,
                     check_cancel=check_cancel)
    return video.clamp(-1.0, 1.0)
