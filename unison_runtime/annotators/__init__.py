"""VACE preprocessing: turn a user's media into VACE inputs (source frames, masks, references).

`run_annotator(mode, ...)` is the one entry point; it validates everything first, then runs a
short sequence of steps from `geometry` (exact numpy), `masks` (input checks), `segmentation`
(GroundingDINO + SAM2) and `salient` (U²-Net). Importing this package imports no heavy library.

Outputs follow VACE's file conventions: frames `[T, H, W, 3]` uint8, masks `[T, H, W]` uint8 with
255 = regenerate (soft values only when `feather` > 0). `AnnotatorResult.to_vace_tensors()` gives
the runtime's `[3, T, H, W]` in [-1, 1] and `[1, T, H, W]` in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import AnnotatorError
from ..facts import ANNOTATOR_MODES  # noqa: F401  (one list for nodes, CLI and runtime)
from ..facts import ANNOTATOR_SETTINGS_OF_MODE, MASK_MODES
from .kinds import AnnotatorPaths, annotator_kind, needed_by, where_to_put

if TYPE_CHECKING:
    import numpy as np

FRAME_REF_MODES = {"firstframe": "first", "lastframe": "last", "firstlastframe": "firstlast"}
DEFAULT_THRESHOLDS = {"salient": 0.0, "label": 0.25, "caption": 0.25}  # salient: VACE's "level > 0"


@dataclass(frozen=True)
class AnnotatorModels(AnnotatorPaths):
    """Where the annotator models are (`AnnotatorPaths`: None where absent) and how to load them.
    Loading goes through the model manager, so asking twice returns the cached model."""

    device: str = "auto"
    dtype: str = "float32"
    offload_policy: str = "keep"

    @classmethod
    def discover(cls, root: str | Path, **settings: Any) -> "AnnotatorModels":
        """Find the models under a models root (this pack's layout or ComfyUI packs' folder names)."""
        from .segmentation import find_annotator_models

        return cls(**find_annotator_models(root).as_dict(), **settings)

    def load(self, name: str):
        """The loaded model `name` (a field of `AnnotatorPaths`)."""
        kind = annotator_kind(name)
        path = getattr(self, name)
        if path is None:
            raise AnnotatorError(f"{kind.label} is not available; see AnnotatorModels.discover")
        return kind.load(path, device=self.device, dtype=self.dtype, offload_policy=self.offload_policy)


@dataclass
class AnnotatorInfo:
    """What ran: the mode, the steps in order, whether a mask source found anything (and why
    not), and the boxes it used (pixels on the first frame)."""

    mode: str
    steps: list[str] = field(default_factory=list)
    found: bool = True
    message: str = ""
    boxes: list[list[float]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # settings given that this mode does not read


@dataclass
class AnnotatorResult:
    """frames `[T, H, W, 3]` uint8; masks `[T, H, W]` uint8 (255 = regenerate) or None for
    reference images, which carry no mask."""

    frames: "np.ndarray"
    masks: "np.ndarray | None"
    info: AnnotatorInfo

    def to_vace_tensors(self):
        """(`[3, T, H, W]` float in [-1, 1], `[1, T, H, W]` float in [0, 1]); all-ones mask when None."""
        from .geometry import to_vace_tensors

        return to_vace_tensors(self.frames, self.masks)


_UNSET = {"text": None, "boxes": None, "num_frames": None, "dilate": 0, "feather": 0, "invert": False}


def ignored_settings(mode: str, given: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(`given` with each setting `mode` does not read back at its unset value, one note per value
    left out), by `facts.ANNOTATOR_SETTINGS_OF_MODE` (e.g. a saved graph's boxes on a salient mask)."""
    reads = ANNOTATOR_SETTINGS_OF_MODE.get(mode, ())
    kept, notes = dict(given), []
    for name, value in given.items():
        if name not in reads and value not in (None, "", [], 0, False):
            kept[name] = _UNSET[name]
            notes.append(f"{name}={value!r} ignored: the {mode} mode does not use it")
    return kept, notes


def run_annotator(
    mode: str, *, frames=None, mask=None, text: str | Sequence[str] | None = None, boxes=None,
    width: int | None = None, height: int | None = None, num_frames: int | None = None,
    models: AnnotatorModels | str | Path | None = None, dilate: int = 0, feather: int = 0,
    invert: bool = False, threshold: float | None = None, text_threshold: float = 0.2,
    cutout: bool = False, max_boxes: int = 1,
) -> AnnotatorResult:
    """Prepare VACE inputs for `mode` (one of `ANNOTATOR_MODES`).

    - mask / bbox / label / caption / salient: a region to regenerate. `mask` is given; `bbox` runs
      SAM2 from `boxes` ([[x0, y0, x1, y1]] pixels on the first frame); `label` / `caption` find
      `text` with GroundingDINO then SAM2; `salient` thresholds U²-Net. The mask is then dilated
      (`dilate` < 0 erodes), inverted, feathered, in that order, and the frames are painted gray
      under it. `threshold`: box score (label/caption, default 0.25; `text_threshold` 0.2; the best box
      after NMS, or the union of up to `max_boxes`) or saliency level (0..1, default 0:
      VACE's "above 0", on the first frame, for every frame).
      When nothing is found the result has `info.found` False, a message, and an all-zero mask.
    - firstframe / lastframe / firstlastframe: `frames` holds 1 (or 2) images, expanded to
      `num_frames` (required) with gray frames to generate.
    - reference: the image(s) as they are, or letterboxed on white at width×height; `cutout`
      keeps only the salient object (U²-Net) on white. (Stage two passes references at their own
      size: `generator.sampling.prepare_reference` puts them on white as the reference does.)
    - control: the control video resampled over its whole clip to `num_frames`, resized to cover
      width×height and centre-cropped; mask all 255.
    width / height / num_frames, when given, also fit mask-mode outputs the same way, after the
    region is painted at the source's own size (`sources.fit_video`: as the reference prepares
    a source; the resized mask keeps its soft edge).
    """
    import numpy as np

    from . import geometry, sources
    from .masks import as_frames

    # 1. Check inputs
    if mode not in ANNOTATOR_MODES:
        raise AnnotatorError(f"unknown annotator mode {mode!r}; allowed: {', '.join(ANNOTATOR_MODES)}")
    frames = as_frames(frames)
    settings, notes = ignored_settings(mode, {"text": text, "boxes": boxes, "num_frames": num_frames,
                                              "dilate": dilate, "feather": feather, "invert": invert})
    text, boxes, num_frames = settings["text"], settings["boxes"], settings["num_frames"]
    dilate, feather, invert = settings["dilate"], settings["feather"], settings["invert"]
    _check_inputs(mode, frames, mask, text, boxes, num_frames, feather)
    models = _resolve_models(mode, models, cutout)
    info = AnnotatorInfo(mode, notes=notes)

    # 2. Modes without a region
    if mode in FRAME_REF_MODES:
        images = frames if width is None and height is None else sources.resize_crop(
            frames, width or frames.shape[2], height or frames.shape[1])
        out_frames, out_masks = geometry.expand_frame_reference(images, num_frames, FRAME_REF_MODES[mode])
        info.steps.append(f"{FRAME_REF_MODES[mode]}-frame reference expanded to {num_frames} frames")
        return AnnotatorResult(out_frames, out_masks, info)
    if mode == "reference":
        return _reference(frames, width, height, cutout, threshold, models, info)
    if mode == "control":
        out_frames = sources.fit_video(frames, width or frames.shape[2], height or frames.shape[1], num_frames)
        info.steps.append(f"control frames resized and centre-cropped to {out_frames.shape[2]}x"
                          f"{out_frames.shape[1]}, {len(out_frames)} frames over the clip")
        return AnnotatorResult(out_frames, np.full(out_frames.shape[:3], 255, np.uint8), info)

    # 3. Find the region, 4. shape it, 5. paint at the source's size, then fit as the reference
    region = _region(mode, frames, mask, text, boxes, models, threshold, text_threshold, info, max_boxes)
    region = geometry.dilate(region, dilate) if dilate else region
    region = geometry.invert(region) if invert else region
    soft = geometry.feather(region, feather) if feather else region  # soft (float) only when asked
    info.steps += [s for s, on in ((f"dilated by {dilate}", dilate > 0), (f"eroded by {-dilate}", dilate < 0),
                                   ("inverted", invert), (f"feathered by {feather}", feather > 0)) if on]
    if num_frames is not None and num_frames != len(frames):  # choose the frames first: less to paint
        ids = sources.resample_frame_ids(len(frames), num_frames)
        frames, soft = frames[ids], soft[ids]
    out_frames, out_masks = geometry.apply_edit_mask(frames, soft)
    info.steps.append("masked pixels painted gray")
    if width or height or num_frames:
        w, h = width or frames.shape[2], height or frames.shape[1]
        out_frames, out_masks = sources.resize_crop(out_frames, w, h), sources.resize_crop(out_masks, w, h)
        info.steps.append(f"resized and centre-cropped to {w}x{h}, {len(out_frames)} frames over the clip")
    return AnnotatorResult(out_frames, out_masks, info)


def _check_inputs(mode, frames, mask, text, boxes, num_frames, feather) -> None:
    if mode == "mask" and mask is None:
        raise AnnotatorError("mode 'mask' needs a mask ([H, W] or [T, H, W]; 1 or 255 = regenerate)")
    if mode == "bbox" and boxes is None:
        raise AnnotatorError("mode 'bbox' needs boxes: [[x0, y0, x1, y1], ...] in pixels of the first frame")
    if mode in ("label", "caption") and not text:
        raise AnnotatorError(f"mode {mode!r} needs text naming what to find, e.g. 'a dog' or ['dog', 'ball']")
    if mode in FRAME_REF_MODES:
        needed = 2 if mode == "firstlastframe" else 1
        if len(frames) != needed:
            raise AnnotatorError(f"mode {mode!r} needs {needed} image(s) in frames, got {len(frames)}")
        if num_frames is None:
            raise AnnotatorError(f"mode {mode!r} needs num_frames (the length of the video to generate)")
    if feather < 0:
        raise AnnotatorError(f"feather must be >= 0, got {feather}")


def _resolve_models(mode: str, models, cutout: bool) -> AnnotatorModels | None:
    needed = needed_by("salient" if mode == "reference" and cutout else mode)  # a cut-out is salient
    if not needed:
        return models if isinstance(models, AnnotatorModels) else None
    if isinstance(models, (str, Path)):
        models = AnnotatorModels.discover(models)
    missing = [k.label for k in needed if models is None or getattr(models, k.name) is None]
    if missing:
        what = f"mode {mode!r}" + (" with cutout" if mode == "reference" else "")
        raise AnnotatorError(f"{what} needs {' and '.join(k.label for k in needed)}; missing: "
                             f"{', '.join(missing)}. {where_to_put()}")
    return models


def _region(mode, frames, mask, text, boxes, models, threshold, text_threshold, info, max_boxes=1) -> "np.ndarray":
    """The {0, 1} `[T, H, W]` region to regenerate; records what ran (and what was not found)."""
    from .masks import as_mask_video

    t, h, w, _ = frames.shape
    if mode == "mask":
        info.steps.append("given mask")
        return as_mask_video(mask, t, h, w)
    threshold = DEFAULT_THRESHOLDS.get(mode) if threshold is None else threshold
    if mode == "bbox":
        from .segmentation import mask_from_bbox

        result = mask_from_bbox(frames, boxes, models.load("sam2"))
        info.steps.append("SAM2 from box(es)")
    elif mode in ("label", "caption"):
        from .segmentation import mask_from_text

        result = mask_from_text(frames, text, models.load("grounding_dino"), models.load("sam2"),
                                box_threshold=threshold, text_threshold=text_threshold, mode=mode,
                                max_boxes=max_boxes)
        info.steps.append("GroundingDINO boxes on the first frame, SAM2 masks")
    else:
        from .salient import salient_mask

        result = salient_mask(frames, models.load("u2net"), threshold=threshold)
        info.steps.append(f"U²-Net saliency > {threshold:g} on the first frame, for every frame")
    info.found, info.message, info.boxes, info.labels = result.found, result.message, result.boxes, result.labels
    return result.masks


def _reference(frames, width, height, cutout, threshold, models, info) -> AnnotatorResult:
    import numpy as np

    from . import geometry

    if cutout:
        from .salient import salient_mask

        threshold = DEFAULT_THRESHOLDS["salient"] if threshold is None else threshold
        result = salient_mask(frames, models.load("u2net"), threshold=threshold)
        keep = result.masks[..., None].astype(bool)
        frames = np.where(keep, frames, np.uint8(geometry.WHITE))
        info.found, info.message = result.found, result.message
        info.steps.append(f"salient cut-out on white (threshold {threshold:g})")
    if width or height:
        w, h = width or frames.shape[2], height or frames.shape[1]
        frames = np.stack([geometry.letterbox(f, w, h, fill=geometry.WHITE) for f in frames])
        info.steps.append(f"letterboxed on white to {w}x{h}")
    if not info.steps:
        info.steps.append("passed through")
    return AnnotatorResult(frames, None, info)
