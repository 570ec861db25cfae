"""From a Route and the request's media pixels to stage two's inputs (frames, masks, references).

`describe_media` tells the router each item's kind, role and size without decoding anything;
`load_route_media` then decodes only what the route uses (files once each, or pixels a node gave)
as numpy frames `[T, H, W, 3]` uint8 (an image is T = 1) and the mask as `[T, H, W]` float 0..1.
The route says which item plays which part and which annotator prepares it; the annotators do the
pixel work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import RequestError
from ..facts import MAX_FRAMES, MAX_SIDE
from ..router import MediaInfo, Route

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from ..request import Request

# Videos longer than this are sampled down before anything else touches them (10 s at 24 fps).
MAX_SOURCE_FRAMES = MAX_FRAMES


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

    def with_inputs(self, frames=None, masks=None, references=None) -> "StageTwoInputs":
        """These inputs with the given ones in their place (a node's override sockets)."""
        from dataclasses import replace

        changes = {k: v for k, v in (("frames", frames), ("masks", masks), ("references", references))
                   if v is not None}
        return replace(self, **changes) if changes else self

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


def describe_media(request: "Request") -> list[MediaInfo]:
    """What the router needs to know of each media item: kind, role and size, read from file
    headers (nothing is decoded) or from the shape of given pixels."""
    from ..media import image_header, video_header

    infos = []
    for item in request.media:
        if item.given is not None:
            t, h, w = item.given.pixels.shape[:3]
        elif item.kind == "image":
            (w, h), t = image_header(item.path), 1
        else:
            w, h, t = video_header(item.path)
        infos.append(MediaInfo(kind=item.kind, width=int(w), height=int(h), num_frames=int(t),
                               name=item.name, role=item.role))
    return infos


def load_route_media(route: Route, request: "Request") -> dict[int, "np.ndarray"]:
    """The media items the route uses, decoded once each: frames `[T, H, W, 3]` uint8, and the
    route's mask as `[T, H, W]` float32 in 0..1 (soft values kept for the annotator).

    The files' pixels are checked against the media budget from their headers first, and videos
    are decoded at most `MAX_SIDE` a side (the router never uses more)."""
    from ..media import load_image, load_mask, load_video, pil_to_array
    from ..media_budget import check_media_budget

    used = {i for i in (route.source_index, route.control_index) if i is not None}
    used |= set(route.reference_indices) | set(route.frame_indices)
    check_media_budget([request.media[i] for i in (*used, route.mask_index) if i is not None],
                       max_frames=MAX_SOURCE_FRAMES, max_side=MAX_SIDE)
    decoded: dict[tuple, "np.ndarray"] = {}  # one decode per distinct file and use

    def read(index: int, as_mask: bool) -> "np.ndarray":
        item = request.media[index]
        if item.given is not None:
            return _given_mask(item.given) if as_mask else item.given.frames()
        key = (item.path, as_mask)
        if key not in decoded:
            if item.kind == "video":
                frames = load_video(item.path, max_frames=MAX_SOURCE_FRAMES, max_side=MAX_SIDE)
                decoded[key] = _grey(frames) if as_mask else frames
            else:
                decoded[key] = load_mask(item.path)[None] if as_mask else pil_to_array(load_image(item.path))[None]
        return decoded[key]

    media = {index: read(index, as_mask=False) for index in sorted(used)}
    if route.mask_index is not None:
        media[route.mask_index] = read(route.mask_index, as_mask=True)
    return media


def _given_mask(given) -> "np.ndarray":
    import numpy as np

    return given.pixels.astype(np.float32) if given.role == "mask" else _grey(given.pixels)


def _grey(frames: "np.ndarray") -> "np.ndarray":
    """RGB frames used as a mask → `[T, H, W]` float32 0..1 grey levels as VACE reads them (PIL's
    luma; bright = regenerate)."""
    import numpy as np

    from ..annotators.masks import grey_levels

    return grey_levels(frames).astype(np.float32) / 255.0


def prepare_stage_two(route: Route, media: Mapping[int, "np.ndarray"], annotator_models: Any = None,
                      salient_threshold: float | None = None) -> StageTwoInputs:
    """Run the route's annotator on the media it names (`load_route_media`); returns the
    generator's inputs. The mask reaches the annotator soft; it binarises (VACE's rule).
    (`media` may also be a list in request order, and a mask RGB frames: read as grey levels.)"""
    from ..annotators import run_annotator

    media = media if isinstance(media, Mapping) else dict(enumerate(media))
    size = dict(width=route.width, height=route.height)
    n = route.num_frames
    mode = route.annotator
    result = None
    if mode is None:
        return StageTwoInputs(route.width, route.height, n)
    if mode == "mask":
        # Painted at the source's own size, then source and mask are fitted together; a mask
        # video of another length is first spread over the source's frames.
        source, mask = media[route.source_index], media[route.mask_index]
        mask = _grey(mask) if mask.ndim == 4 else mask
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


def generate_frames(generator, stage: StageTwoInputs, prompt: str, projector_tokens=None,
                    settings=None, callback=None, check_cancel=None):
    """Stage two for prepared inputs: conditioning (DESIGN §5) then sampling.

    `prompt` is the request text with its pad tokens; `projector_tokens` `[1, 4, W]` or None (T5
    only); `settings` a `SamplerSettings` (its negative prompt included; default: DESIGN §5's). `callback(step, total, latents)` runs after every step (progress, preview, cancel);
    `check_cancel()` between stages and before every step.
    Returns frames `[3, T, H, W]` float32 in [-1, 1].
    """
    from ..generator.conditioning import encode_contexts
    from ..generator.inputs import GenerationInputs, SamplerSettings
    from ..generator.sampling import generate

    settings = settings or SamplerSettings()
    source, masks, references = stage.to_tensors()
    # One T5 block for both prompts (the usual default negative's tokens are kept by the models).
    context, negative = encode_contexts(generator, prompt, projector_tokens, settings.negative_prompt)
    inputs = GenerationInputs(
        context=context, negative_context=negative,
        width=stage.width, height=stage.height, num_frames=stage.num_frames,
        source=source, masks=masks, reference_images=references or None,
    )
    video = generate(generator, inputs, settings, callback=callback,
                     check_cancel=check_cancel)
    return video.clamp(-1.0, 1.0)
