"""The models directory layout: where each piece lives under a user's `--models DIR`.

`make-demo-models` writes exactly this tree with tiny models, and `discover(models_dir)` finds
the pieces a run needs. Real users put their downloads in the same places (see README), or keep
the files other ComfyUI packs already downloaded where those packs put them (`EXTRA_FOLDERS`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from .annotators.kinds import ANNOTATOR_KINDS, AnnotatorPaths, annotator_kind

# Stage one (Qwen2.5-VL)
PLANNER_MERGED = "planner/Unison-Qwen2.5-VL-3B"          # merged model (base + Unison LoRA)
PLANNER_BASE = "planner/Qwen2.5-VL-3B-Instruct"          # stock instruct model
PLANNER_ADAPTER = "planner/Unison-LoRA"                  # peft adapter for the base
# Projector
PROJECTOR = "projector/projector.pth"
# Stage two (Wan2.1 VACE 1.3B)
GENERATOR_DIFFUSERS = "generator/Wan2.1-VACE-1.3B-diffusers"
GENERATOR_NATIVE = "generator/Wan2.1-VACE-1.3B"
# ComfyUI's repackaged single files, under ComfyUI's own folder names (inside COMFYUI_MODELS)
COMFYUI_MODELS = "comfyui"
COMFY_DIFFUSION_MODELS = "diffusion_models"
COMFY_TEXT_ENCODERS = "text_encoders"
COMFY_VAE = "vae"
COMFY_TRANSFORMER_FILE = "wan2.1_vace_1.3B_fp16.safetensors"
COMFY_TEXT_ENCODER_FILE = "umt5_xxl_fp16.safetensors"
COMFY_TEXT_ENCODER_FP8_FILE = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
COMFY_VAE_FILE = "wan_2.1_vae.safetensors"
# Annotators: declared in `annotators.kinds` (folder names other ComfyUI packs use)
GROUNDING_DINO = annotator_kind("grounding_dino").layout_path
SAM2 = annotator_kind("sam2").layout_path
U2NET = annotator_kind("u2net").layout_path

# The one mapping between this layout and ComfyUI's folder registry: the first part of a layout
# path ("planner/...") is ComfyUI's folder "unison_planner" (models/unison/planner by default).
COMFY_FOLDER_OF = {
    "planner": "unison_planner",
    "projector": "unison_projector",
    "generator": "unison_generator",
    "annotators": "unison_annotators",
}

# Folders of ComfyUI's models directory where popular packs keep the same weights: ComfyUI folder
# name -> the piece it can hold. Searched after this pack's own layout.
#   LLM, VLM        Qwen2.5-VL Hugging Face folders: ComfyUI_QwenVL (models/LLM/Qwen2.5-VL-3B-Instruct),
#                   ComfyUI-QwenVL (models/LLM/Qwen-VL/Qwen2.5-VL-3B-Instruct)
#   sam2            kijai's ComfyUI-segment-anything-2: sam2[.1]_hiera_{tiny,small,base_plus,large}[-fp16]
#                   .safetensors (or facebookresearch's .pt), original key names
#   grounding-dino  storyicon's comfyui_segment_anything: groundingdino_swint_ogc.pth + its
#                   GroundingDINO_SwinT_OGC.cfg.py (the text encoder from models/bert-base-uncased)
#   u2net, rembg    rembg-style packs: u2net.pth / u2net.onnx (also rembg's own ~/.u2net, $U2NET_HOME)
EXTRA_FOLDERS = {
    "LLM": "planner_base",
    "VLM": "planner_base",
    **{folder: kind.name for kind in ANNOTATOR_KINDS for folder in kind.pack_folders},
}
BERT_FOLDER = "bert-base-uncased"  # storyicon's place for GroundingDINO's text encoder
PLANNER_NAME = "qwen2.5-vl-3b"  # a pack's Qwen folder is used when its name holds this (any case)
SAM2_FILE_PREFIXES = ("sam2_hiera", "sam2.1_hiera")
GDINO_FILE_PREFIX = "groundingdino"
U2NET_FILES = ("u2net.pt", "u2net.pth", "u2net.onnx")  # preferred in this order (.onnx cannot load)


@dataclass(frozen=True)
class ModelPaths(AnnotatorPaths):
    """The pieces found under one models directory (None where absent); the annotator models'
    fields are `AnnotatorPaths`'."""

    root: Path | None = None
    planner_merged: Path | None = None
    planner_base: Path | None = None
    planner_adapter: Path | None = None
    projector: Path | None = None
    generator_diffusers: Path | None = None
    generator_native: Path | None = None
    comfy_transformer: Path | None = None
    comfy_text_encoder: Path | None = None
    comfy_vae: Path | None = None


def discover(models_dir: str | Path | None,
             folder_roots: Mapping[str, Sequence[Path]] | None = None) -> ModelPaths:
    """Find each piece under `models_dir` (this layout), then under `folder_roots`: ComfyUI folder
    name -> the folders registered for it (`COMFY_FOLDER_OF` for the layout's pieces, ComfyUI's
    own `diffusion_models` / `text_encoders` / `vae` for the Wan single files), then in the
    folders other packs keep the same files in (`EXTRA_FOLDERS`: the registered ones when given,
    else `default_extra_roots(models_dir)`). A folder registered directly as a piece (e.g.
    `unison_planner: /data/Unison-Qwen2.5-VL-3B`) counts when its name is the piece's name."""
    root = Path(models_dir).expanduser().resolve() if models_dir is not None else None
    roots = folder_roots or {}

    def found(rel: str) -> Path | None:
        if root is not None and (root / rel).exists():
            return root / rel
        head, _, tail = rel.partition("/")
        registered = [Path(r) for r in roots.get(COMFY_FOLDER_OF.get(head, head), ())]
        for folder in registered:
            if (folder / tail).exists():
                return folder / tail
        return next((f for f in registered if f.name == Path(tail).name and f.exists()), None)

    def comfy_file(folder: str, *names: str) -> Path | None:
        for name in names:
            path = found(f"{COMFYUI_MODELS}/{folder}/{name}")
            path = path or next((Path(r) / name for r in roots.get(folder, ()) if (Path(r) / name).is_file()), None)
            if path is not None:
                return path
        return None

    defaults = default_extra_roots(root) if root is not None else {}
    packs = find_in_packs({name: roots.get(name, defaults.get(name, ())) for name in EXTRA_FOLDERS})
    paths = ModelPaths(
        root=root,
        planner_merged=found(PLANNER_MERGED),
        planner_base=found(PLANNER_BASE),
        planner_adapter=found(PLANNER_ADAPTER),
        projector=found(PROJECTOR),
        generator_diffusers=found(GENERATOR_DIFFUSERS),
        generator_native=found(GENERATOR_NATIVE),
        comfy_transformer=comfy_file(COMFY_DIFFUSION_MODELS, COMFY_TRANSFORMER_FILE),
        comfy_text_encoder=comfy_file(COMFY_TEXT_ENCODERS, COMFY_TEXT_ENCODER_FILE, COMFY_TEXT_ENCODER_FP8_FILE),
        comfy_vae=comfy_file(COMFY_VAE, COMFY_VAE_FILE),
        **{kind.name: found(kind.layout_path) for kind in ANNOTATOR_KINDS},
    )
    return replace(paths, **{k: v for k, v in packs.items() if getattr(paths, k) is None})


# -- other packs' folders -------------------------------------------------------------------------
def default_extra_roots(models_dir: str | Path) -> dict[str, list[Path]]:
    """Where each `EXTRA_FOLDERS` name is looked for without ComfyUI: inside `models_dir`, and
    beside it when it is ComfyUI's `models/unison`; U²-Net also in rembg's home (~/.u2net)."""
    root = Path(models_dir).expanduser()
    bases = [root] + ([root.parent] if root.name == "unison" else [])
    roots = {name: [base / name for base in bases] for name in EXTRA_FOLDERS}
    roots["rembg"].append(Path(os.environ.get("U2NET_HOME", "~/.u2net")).expanduser())  # after the .pth places
    return roots


def find_in_packs(extra_roots: Mapping[str, Iterable[Path]]) -> dict[str, Path]:
    """`{piece: path}` for the pieces found in other packs' folders (first root wins)."""
    finders = {"planner_base": find_pack_planner, **{k.name: globals()[k.pack_finder] for k in ANNOTATOR_KINDS}}
    found: dict[str, Path] = {}
    for name, piece in EXTRA_FOLDERS.items():
        if piece in found:
            continue
        for folder in extra_roots.get(name, ()):
            hit = finders[piece](Path(folder)) if Path(folder).is_dir() else None
            if hit is not None:
                found[piece] = hit
                break
    return found


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def model_type(folder: Path) -> str | None:
    """`model_type` of a Hugging Face folder's config.json (None when there is none)."""
    try:
        return json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def find_pack_planner(folder: Path) -> Path | None:
    """A Qwen2.5-VL-3B HF folder in `folder` or one level down (ComfyUI-QwenVL's `LLM/Qwen-VL/`);
    the stock `...-Instruct` name first."""
    candidates = [c for c in _children(folder) if c.is_dir()]
    candidates += [g for c in candidates for g in _children(c) if g.is_dir()]
    qwen = [c for c in candidates if PLANNER_NAME in c.name.lower() and model_type(c) == "qwen2_5_vl"]
    qwen.sort(key=lambda c: (not c.name.lower().endswith("-instruct"), len(c.parts), c.name))
    return qwen[0] if qwen else None


def find_original_sam2(folder: Path) -> Path | None:
    """An original SAM2 checkpoint (`sam2[.1]_hiera_*.safetensors` / `.pt`) in `folder`; full
    precision before `-fp16`, SAM2.1 before SAM2, smaller before larger (tiny first)."""
    sizes = ("tiny", "small", "base_plus", "large")
    files = [f for f in _children(folder) if f.is_file() and f.name.lower().startswith(SAM2_FILE_PREFIXES)
             and f.suffix.lower() in (".safetensors", ".pt", ".pth")]

    def rank(f: Path):
        name = f.name.lower()
        size = next((i for i, s in enumerate(sizes) if s in name), len(sizes))
        return ("fp16" in name, not name.startswith("sam2.1"), size, name)

    return min(files, key=rank) if files else None


def find_original_grounding_dino(folder: Path) -> Path | None:
    """An original GroundingDINO checkpoint (`groundingdino_*.pth`) in `folder` (Swin-T first)."""
    files = [f for f in _children(folder) if f.is_file() and f.name.lower().startswith(GDINO_FILE_PREFIX)
             and f.suffix.lower() in (".pth", ".pt", ".safetensors")]
    return min(files, key=lambda f: ("swint" not in f.name.lower(), f.name)) if files else None


def find_u2net(folder: Path) -> Path | None:
    for name in U2NET_FILES:
        for f in _children(folder):
            if f.is_file() and f.name.lower() == name:
                return f
    return None
