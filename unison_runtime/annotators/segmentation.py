"""GroundingDINO (text → boxes) and SAM2 (boxes → masks, tracked through video) on transformers.

Both load from Hugging Face folders (config.json + weights + processor files), the format of
`IDEA-Research/grounding-dino-*` and `facebook/sam2*-hiera-*`, or from the original releases'
checkpoint files (`groundingdino_swint_ogc.pth` + its `.cfg.py`, `sam2.1_hiera_*.pt/.safetensors`),
converted in memory by `original_checkpoints`.

SAM2 tracking: a folder whose config is `sam2_video` (the current hub releases) loads
`Sam2VideoModel` and videos go through its memory-based predictor, all objects in one session.
A plain `sam2` (image-only) folder loads `Sam2Model` and each frame is segmented on its own, the
box of every object re-derived from that object's mask on the previous frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import ModelLoadError
from ..layout import model_type
from ..models import get_manager, torch_dtype
from .kinds import ANNOTATOR_KINDS, AnnotatorKind, AnnotatorPaths, annotator_kind
from .loaded import Detector, Segmenter  # noqa: F401  (the loaded models)
from .masks import MaskResult, as_frames, bounding_box, check_boxes, labels_prompt

if TYPE_CHECKING:
    import numpy as np

# VACE's GroundingDINO settings: thresholds, NMS at IoU 0.5, and only the top box is segmented.
BOX_THRESHOLD = 0.25
TEXT_THRESHOLD = 0.2
NMS_IOU = 0.5
MAX_BOXES = 10  # the most boxes the `max_boxes` option takes (each box is one tracked object)


# -- locating ---------------------------------------------------------------------------------
def find_annotator_models(root: str | Path, max_depth: int = 3) -> AnnotatorPaths:
    """Search a models root for each annotator model (`kinds.ANNOTATOR_KINDS`) under the names
    ComfyUI packs use.

    Looks at this pack's layout first (`annotators/grounding-dino`, `annotators/sam2`,
    `annotators/u2net/u2net.pt`), then any folder up to `max_depth` deep named like the model
    (`grounding-dino*` / `GroundingDINO*` / `sam2*`, e.g. `sam2.1_hiera_tiny`) holding a Hugging
    Face config of its model type, and any weights file of its name (`u2net.pt` / `u2net.pth`);
    last, other packs' original files (`layout.EXTRA_FOLDERS`) where nothing else was found.
    """
    from .. import layout

    root = Path(root).expanduser()
    found: dict[str, Path] = {}
    for kind in ANNOTATOR_KINDS:
        if _fits(kind, root / kind.layout_path):
            found[kind.name] = root / kind.layout_path
    frontier = [root]
    for _ in range(max_depth):
        next_level = []
        for folder in frontier:
            try:
                children = sorted(folder.iterdir())
            except OSError:
                continue
            next_level += [child for child in children if child.is_dir()]
            for child in children:
                for kind in ANNOTATOR_KINDS:
                    if kind.name not in found and _found_by_name(kind, child):
                        found[kind.name] = child
        frontier = next_level
    packs = layout.find_in_packs(layout.default_extra_roots(root))
    return AnnotatorPaths(**{**{k.name: packs.get(k.name) for k in ANNOTATOR_KINDS}, **found})


def _fits(kind: AnnotatorKind, path: Path) -> bool:
    """Whether `path` holds `kind`: its weights file, or a Hugging Face folder of its model type."""
    return path.is_file() if kind.is_file else model_type(path) in kind.model_types


def _found_by_name(kind: AnnotatorKind, child: Path) -> bool:
    if kind.is_file:
        return child.is_file() and child.name.lower() in kind.file_names
    return child.is_dir() and kind.matches_folder(child.name) and model_type(child) in kind.model_types


def _check_hf_folder(folder: Path, kind: AnnotatorKind, example: str) -> Path:
    allowed, what = kind.model_types, kind.label
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ModelLoadError(f"{what} folder not found: {folder}")
    found = model_type(folder)
    if found not in allowed:
        hint = "" if (folder / "config.json").exists() else (
            f" (no config.json: give the Hugging Face folder, e.g. {example}, or the original checkpoint file)")
        raise ModelLoadError(f"{folder} is not a {what} model (model_type {found!r}; allowed {allowed}){hint}")
    return folder


# -- loading ----------------------------------------------------------------------------------
def load_grounding_dino(folder: str | Path, *, device: str = "auto", dtype: str = "float32",
                        offload_policy: str = "keep") -> Detector:
    """GroundingDINO from a Hugging Face folder (or an original `.pth`), through the model manager
    (kind "grounding_dino").

    float32 by default: its deformable attention and box heads are sensitive to half precision
    and the model is small next to the generator."""
    if Path(folder).is_file():
        from .original_checkpoints import load_original_grounding_dino

        return load_original_grounding_dino(folder, device=device, dtype=dtype, offload_policy=offload_policy)
    folder = _check_hf_folder(Path(folder), annotator_kind("grounding_dino"), "IDEA-Research/grounding-dino-tiny")

    def loader(device_name: str, dtype_name: str) -> Detector:
        from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor

        model = GroundingDinoForObjectDetection.from_pretrained(
            folder, local_files_only=True, dtype=torch_dtype(dtype_name))
        processor = GroundingDinoProcessor.from_pretrained(folder, local_files_only=True)
        return Detector(model.eval().to(device_name), processor)

    return get_manager().get("grounding_dino", str(folder.resolve()), loader, dtype=dtype, device=device,
                             offload_policy=offload_policy)


def load_sam2(folder: str | Path, *, device: str = "auto", dtype: str = "float32",
              offload_policy: str = "keep") -> Segmenter:
    """SAM2 from a Hugging Face folder (or an original `.pt` / `.safetensors`), through the model
    manager (kind "sam2")."""
    if Path(folder).is_file():
        from .original_checkpoints import load_original_sam2

        return load_original_sam2(folder, device=device, dtype=dtype, offload_policy=offload_policy)
    folder = _check_hf_folder(Path(folder), annotator_kind("sam2"), "facebook/sam2.1-hiera-tiny")
    video = model_type(folder) == "sam2_video"

    def loader(device_name: str, dtype_name: str) -> Segmenter:
        import transformers

        model_cls = transformers.Sam2VideoModel if video else transformers.Sam2Model
        proc_cls = transformers.Sam2VideoProcessor if video else transformers.Sam2Processor
        model = model_cls.from_pretrained(folder, local_files_only=True, dtype=torch_dtype(dtype_name))
        processor = proc_cls.from_pretrained(folder, local_files_only=True)
        return Segmenter(model.eval().to(device_name), processor, video)

    return get_manager().get("sam2", str(folder.resolve()), loader, dtype=dtype, device=device,
                             offload_policy=offload_policy, options={"video": video})


# -- boxes → masks ----------------------------------------------------------------------------
def mask_from_bbox(frames: "np.ndarray", boxes, sam2: Segmenter) -> MaskResult:
    """SAM2 masks for one or more `[x0, y0, x1, y1]` pixel boxes on the first frame, tracked
    through the video; the union of all objects. `found` is False when SAM2 returns nothing."""
    frames = as_frames(frames)
    t, h, w, _ = frames.shape
    boxes = check_boxes(boxes, w, h)
    with get_manager().use(sam2):
        per_object = _track_video(frames, boxes, sam2) if sam2.video else _track_frames(frames, boxes, sam2)
    masks = per_object.any(axis=1).astype("uint8")
    if not masks.any():
        return MaskResult(masks, boxes, found=False, message="SAM2 returned an empty mask for the given box(es)")
    return MaskResult(masks, boxes)


def _track_video(frames: "np.ndarray", boxes: list[list[float]], sam2: Segmenter) -> "np.ndarray":
    """[T, N, H, W] bool through the video predictor: prompt frame 0, propagate forward."""
    import numpy as np
    import torch

    t, h, w, _ = frames.shape
    param = next(sam2.model.parameters())
    out = np.zeros((t, len(boxes), h, w), bool)
    with torch.inference_mode():
        session = sam2.processor.init_video_session(
            video=list(frames), inference_device=param.device, dtype=param.dtype)
        sam2.processor.add_inputs_to_inference_session(
            session, frame_idx=0, obj_ids=list(range(1, len(boxes) + 1)), input_boxes=[boxes])
        sam2.model(inference_session=session, frame_idx=0)
        for output in sam2.model.propagate_in_video_iterator(session):
            masks = sam2.processor.post_process_masks(
                [output.pred_masks.float().cpu()], original_sizes=[[h, w]], binarize=True)[0]
            out[output.frame_idx] = masks[:, 0].numpy()
    return out


def _track_frames(frames: "np.ndarray", boxes: list[list[float]], sam2: Segmenter) -> "np.ndarray":
    """[T, N, H, W] bool with the image model: each frame prompted with the boxes of the previous
    frame's masks (an object whose mask vanished keeps its last box)."""
    import numpy as np
    import torch

    t, h, w, _ = frames.shape
    param = next(sam2.model.parameters())
    out = np.zeros((t, len(boxes), h, w), bool)
    current = [list(b) for b in boxes]
    with torch.inference_mode():
        for index, frame in enumerate(frames):
            inputs = sam2.processor(images=frame, input_boxes=[current], return_tensors="pt")
            pixels = inputs["pixel_values"].to(device=param.device, dtype=param.dtype)
            boxes_in = inputs["input_boxes"].to(device=param.device, dtype=param.dtype)
            output = sam2.model(pixel_values=pixels, input_boxes=boxes_in, multimask_output=False)
            masks = sam2.processor.post_process_masks(
                output.pred_masks.float().cpu(), inputs["original_sizes"], binarize=True)[0]
            out[index] = masks[:, 0].numpy()
            current = [bounding_box(m) or old for m, old in zip(out[index], current)]
    return out


# -- text → boxes → masks ---------------------------------------------------------------------
def detect_boxes(image: "np.ndarray", prompt: str, gdino: Detector, box_threshold: float = BOX_THRESHOLD,
                 text_threshold: float = TEXT_THRESHOLD, max_boxes: int = MAX_BOXES):
    """GroundingDINO on one `[H, W, 3]` image: (boxes clipped to the image, scores, labels),
    best first after non-maximum suppression (IoU 0.5, as VACE), at most `max_boxes`,
    degenerate boxes dropped."""
    import torch
    import torchvision

    h, w = image.shape[:2]
    inputs = gdino.processor(images=image, text=prompt, return_tensors="pt")
    with get_manager().use(gdino), torch.inference_mode():
        param = next(gdino.model.parameters())  # where the weights are now that the block placed them
        inputs = {k: (v.to(param.device, param.dtype) if v.is_floating_point() else v.to(param.device))
                  for k, v in inputs.items()}
        outputs = gdino.model(**inputs)
    result = gdino.processor.post_process_grounded_object_detection(
        outputs, inputs["input_ids"], threshold=box_threshold, text_threshold=text_threshold,
        target_sizes=[(h, w)])[0]
    order = torchvision.ops.nms(result["boxes"].float(), result["scores"].float(), NMS_IOU).tolist()
    boxes, scores, labels = [], [], []
    for i in order:
        x0, y0, x1, y1 = result["boxes"][i].float().tolist()
        x0, x1 = min(max(x0, 0.0), w), min(max(x1, 0.0), w)
        y0, y1 = min(max(y0, 0.0), h), min(max(y1, 0.0), h)
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        boxes.append([x0, y0, x1, y1])
        scores.append(float(result["scores"][i]))
        labels.append(str(result["text_labels"][i]))
        if len(boxes) == max_boxes:
            break
    return boxes, scores, labels


def mask_from_text(frames: "np.ndarray", text: str | Sequence[str], gdino: Detector, sam2: Segmenter,
                   box_threshold: float = BOX_THRESHOLD, text_threshold: float = TEXT_THRESHOLD,
                   mode: str = "caption", max_boxes: int = 1) -> MaskResult:
    """GroundingDINO boxes for `text` on the first frame, then SAM2 masks tracked through the video.
    As VACE, only the best box is used; `max_boxes` > 1 (an option) tracks the union of more.

    `mode` "label" reads `text` as label(s) ("dog", ["dog", "ball"], "dog, ball"); "caption" as
    one free sentence. Nothing above the thresholds → `found=False` with a message, empty masks.
    """
    import numpy as np

    frames = as_frames(frames)
    prompt = labels_prompt(text, mode)
    boxes, scores, labels = detect_boxes(frames[0], prompt, gdino, box_threshold, text_threshold, max_boxes)
    if not boxes:
        empty = np.zeros(frames.shape[:3], np.uint8)
        return MaskResult(empty, found=False, message=(
            f"GroundingDINO found nothing for {prompt!r} above box_threshold {box_threshold:g} "
            f"and text_threshold {text_threshold:g}; lower the thresholds or rephrase"))
    result = mask_from_bbox(frames, boxes, sam2)
    result.scores, result.labels = scores, labels
    return result
