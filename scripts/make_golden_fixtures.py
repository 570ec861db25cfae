"""Write tests/fixtures/golden/preparation.npz: small inputs and what the reference code makes of
them (see tests/fixtures/golden/RECIPE.md for how it was run).

Nothing of the reference is copied here: the reference's own modules are imported from a local
checkout of ali-vilab/VACE given on the command line, and called on tiny synthetic inputs. Only
numpy/torch/PIL are needed; the reference modules' unrelated imports (pycocotools, imageio) are
replaced by empty stand-ins when missing, since the functions called never use them.

    python scripts/make_golden_fixtures.py --vace /path/to/VACE --unison /path/to/Unison [--out ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from unison_runtime import facts  # noqa: E402  (pure constants)

AREA = 832 * 480
VIDEO_FPS = float(facts.FPS)  # the synthetic videos' rate, as decord reports it
# (src_w, src_h, src_frames, area): the reference's own examples (1280x720, 82-frame control),
# sources smaller than the area (never upscaled), sides not multiples of 16, another area.
GEOMETRY_CASES = [
    (1280, 720, 82, AREA), (80, 60, 1, AREA), (640, 480, 1, AREA), (1920, 1080, 1, AREA),
    (320, 240, 300, AREA), (720, 1280, 49, AREA), (1280, 720, 200, 768 * 480), (100, 70, 9, AREA),
    (90, 60, 7, AREA), (1024, 1024, 33, 1280 * 720), (500, 300, 17, 640 * 368),
]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _stub_missing(*names: str) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            parent, _, child = name.partition(".")
            sys.modules.setdefault(parent, types.ModuleType(parent))
            if child:
                sys.modules[name] = types.ModuleType(name)
                setattr(sys.modules[parent], child, sys.modules[name])


def reference_modules(vace: Path):
    _stub_missing("pycocotools.mask", "imageio")
    package = types.ModuleType("vace_annotators")
    package.__path__ = [str(vace / "vace" / "annotators")]
    sys.modules["vace_annotators"] = package
    pre = _load(vace / "vace" / "models" / "utils" / "preprocessor.py", "vace_preprocessor")
    _load(vace / "vace" / "annotators" / "utils.py", "vace_annotators.utils")
    frameref = _load(vace / "vace" / "annotators" / "frameref.py", "vace_annotators.frameref")
    inpainting = _load(vace / "vace" / "annotators" / "inpainting.py", "vace_annotators.inpainting")
    return pre, frameref, inpainting


def reference_definition(path: Path, name: str, owner: str | None = None):
    """One class or function defined in a reference file (read with ast, not imported, so the
    file's heavy imports are not needed), executed with torch / nn / F / math in scope."""
    import ast
    import math

    import torch
    import torch.nn.functional as F
    from torch import nn

    tree = ast.parse(path.read_text())
    scope = tree.body
    if owner is not None:
        scope = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == owner).body
    node = next(n for n in scope if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == name)
    namespace = {"torch": torch, "nn": nn, "F": F, "math": math}
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)
    return namespace[name]


def processor(pre, area: int):
    """VaceVideoProcessor as Wan's VACE builds it, with Unison's prepare_source area/seq_len."""
    proc = pre.VaceVideoProcessor(downsample=(4, 16, 16), min_area=AREA, max_area=AREA, min_fps=16,
                                  max_fps=16, zero_start=True, seq_len=32760, keep_last=True)
    proc.set_area(area)
    proc.set_seq_len({480 * 832: 32760, 720 * 1280: 75600}.get(area, area // 12))
    return proc


def timestamps(n: int) -> np.ndarray:
    """What decord's get_frame_timestamp gives for a constant-rate video, as float32."""
    starts = np.arange(n, dtype=np.float64) / VIDEO_FPS
    return np.stack([starts, starts + 1.0 / VIDEO_FPS], axis=1).astype(np.float32)


def prepare(pre, frames: np.ndarray, area: int):
    """load_video's steps after decoding: frame ids and size, then resize_crop (uint8 tensors)."""
    import torch

    n, h, w = frames.shape[:3]
    ids, _, (oh, ow), _ = processor(pre, area)._get_frameid_bbox_adjust_last(
        VIDEO_FPS, timestamps(n), h, w, None, np.random.default_rng(0))
    video = pre.VaceVideoProcessor.resize_crop(torch.from_numpy(frames[ids]), oh, ow)
    return ids, video  # video: [C, T, H, W] float in [-1, 1], as the reference conditions on it


def to_uint8(video) -> np.ndarray:
    return np.rint((video.permute(1, 2, 3, 0).numpy() + 1.0) * 127.5).astype(np.uint8)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vace", type=Path, required=True, help="a checkout of ali-vilab/VACE")
    parser.add_argument("--unison", type=Path, required=True, help="a checkout of ali-vilab/Unison")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests/fixtures/golden")
    args = parser.parse_args()
    pre, frameref, inpainting = reference_modules(args.vace)
    rng = np.random.default_rng(13)
    out: dict[str, np.ndarray] = {}

    # 1. geometry: (width, height, frames) and frame ids for each case
    rows, ids_all = [], []
    for w, h, n, area in GEOMETRY_CASES:
        ids, (oh, ow) = processor(pre, area)._get_frameid_bbox_adjust_last(
            VIDEO_FPS, timestamps(n), h, w, None, np.random.default_rng(0))[0::2]
        rows.append([w, h, n, area, ow, oh, len(ids)])
        ids_all.append(np.asarray(ids))
    out["geometry"] = np.asarray(rows, np.int64)
    out["geometry_ids"] = np.concatenate(ids_all)

    # 2. video control: a 90x60, 7-frame video (aspect 3:2, not multiples of 16)
    control = rng.integers(0, 256, (7, 60, 90, 3), dtype=np.uint8)
    out["control_in"], out["control_out"] = control, to_uint8(prepare(pre, control, AREA)[1])

    # 3. image edit with a grey-valued mask: VACE's mask test (> 0) at the source's size, then
    #    source and mask prepared as a video pair (Unison's load_video_pair)
    source = rng.integers(0, 256, (1, 70, 100, 3), dtype=np.uint8)
    mask = np.zeros((70, 100), np.uint8)
    mask[10:30, 10:40], mask[40:60, 50:90], mask[5:15, 60:70] = 255, 100, 1
    anno = inpainting.InpaintingVideoAnnotator({"USE_AUG": False, "MODE": "mask"})
    result = anno.forward(frames=list(source), mask=mask, mode="mask")
    painted, masks = result["frames"], result["masks"]
    edit_frames = prepare(pre, np.stack(painted), AREA)[1]
    edit_masks = prepare(pre, np.repeat(np.stack(masks)[..., None], 3, -1), AREA)[1]
    out["edit_source"], out["edit_mask"] = source, mask
    out["edit_frames"] = to_uint8(edit_frames)
    out["edit_masks"] = torch.clamp((edit_masks[:1] + 1) / 2, 0, 1)[0].numpy().astype(np.float32)

    # 4. image-to-video, first and last frame: the image plus grey frames (imageio writes the
    #    float 127.5 frames as uint8 127), then prepared as a video pair
    image = rng.integers(0, 256, (70, 100, 3), dtype=np.uint8)
    out["frameref_image"] = image
    expander = frameref.FrameRefExpandAnnotator({})
    for mode in ("firstframe", "lastframe"):
        result = expander.forward(image=image, mode=mode, expand_num=8)
        frames = np.stack([np.asarray(f).astype(np.uint8) for f in result["frames"]])
        masks = np.stack([np.asarray(m).astype(np.uint8) for m in result["masks"]])
        out[f"{mode}_frames"] = to_uint8(prepare(pre, frames, AREA)[1])
        prepared = prepare(pre, np.repeat(masks[..., None], 3, -1), AREA)[1]
        out[f"{mode}_masks"] = torch.clamp((prepared[:1] + 1) / 2, 0, 1)[0].numpy().astype(np.float32)

    # 5. reference images onto a white canvas at the planned size (prepare_source's ref branch)
    for name, shape in (("ref_large", (60, 80, 3)), ("ref_tall", (50, 30, 3))):
        ref = rng.integers(0, 256, shape, dtype=np.uint8)
        tensor = torch.from_numpy(ref).permute(2, 0, 1).float().div(255).sub(0.5).div(0.5).unsqueeze(1)
        _, _, placed = pre.prepare_source([torch.zeros(1)], [torch.zeros(1)], [[tensor]], 1, (48, 64), "cpu")
        out[f"{name}_in"], out[f"{name}_out"] = ref, placed[0][0][:, 0].numpy()

    # 6. image control of another aspect (130x50): prepared like any source
    control_image = rng.integers(0, 256, (1, 50, 130, 3), dtype=np.uint8)
    out["image_control_in"] = control_image
    out["image_control_out"] = to_uint8(prepare(pre, control_image, AREA)[1])

    # 7. video edit with a mask image: 12 frames (more than 4k+1, so frames are chosen over the clip)
    video = rng.integers(0, 256, (12, 70, 100, 3), dtype=np.uint8)
    result = anno.forward(frames=list(video), mask=mask, mode="mask")
    out["video_edit_in"] = video
    out["video_edit_frames"] = to_uint8(prepare(pre, np.stack(result["frames"]), AREA)[1])
    masks = prepare(pre, np.repeat(np.stack(result["masks"])[..., None], 3, -1), AREA)[1]
    out["video_edit_masks"] = torch.clamp((masks[:1] + 1) / 2, 0, 1)[0].numpy().astype(np.float32)

    # 8. the projector (Unison module.py ProjMLP, hidden_dim = input_dim as in the 3B planner),
    #    weights from numpy, eval mode; short and long sequences (padded / truncated to 56)
    proj_cls = reference_definition(args.unison / "module.py", "ProjMLP")
    projector = proj_cls(input_dim=32, t5_dim=48, hidden_dim=32).eval()
    state = {k: torch.from_numpy(rng.standard_normal(tuple(v.shape)).astype(np.float32) * 0.2)
             for k, v in projector.state_dict().items()}
    projector.load_state_dict(state)
    for name, length in (("projector_short", 9), ("projector_long", 70)):
        hidden = rng.standard_normal((1, length, 32)).astype(np.float32)
        with torch.no_grad():
            out[f"{name}_out"] = projector(torch.from_numpy(hidden)).numpy()
        out[f"{name}_in"] = hidden
    out.update({f"projector_state.{k}": v.numpy() for k, v in state.items()})

    # 9. VACE's 64-channel mask folding of a soft mask (vace/models/wan/wan_vace.py
    #    WanVace.vace_encode_masks, called with Wan's stride (4, 8, 8)), no references
    encode_masks = reference_definition(args.vace / "vace/models/wan/wan_vace.py", "vace_encode_masks", "WanVace")
    soft = rng.random((1, 9, 32, 48)).astype(np.float32)
    folded = encode_masks(types.SimpleNamespace(vae_stride=(4, 8, 8)), [torch.from_numpy(soft)])[0]
    out["fold_in"], out["fold_out"] = soft, folded.numpy()

    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "preparation.npz", **out)
    print(f"wrote {args.out / 'preparation.npz'}: {', '.join(sorted(out))}")


if __name__ == "__main__":
    main()
