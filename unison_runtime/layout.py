"""The models directory layout: where each piece lives under a user's `--models DIR`.

`make-demo-models` writes exactly this tree with tiny models, and `discover(models_dir)` finds
the pieces a run needs. Real users put their downloads in the same places (see README).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

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
# Annotators (folder names other ComfyUI packs use)
GROUNDING_DINO = "annotators/grounding-dino"
SAM2 = "annotators/sam2"
U2NET = "annotators/u2net/u2net.pt"

# The one mapping between this layout and ComfyUI's folder registry: the first part of a layout
# path ("planner/...") is ComfyUI's folder "unison_planner" (models/unison/planner by default).
COMFY_FOLDER_OF = {
    "planner": "unison_planner",
    "projector": "unison_projector",
    "generator": "unison_generator",
    "annotators": "unison_annotators",
}


@dataclass(frozen=True)
class ModelPaths:
    """The pieces found under one models directory (None where absent)."""

    root: Path | None
    planner_merged: Path | None
    planner_base: Path | None
    planner_adapter: Path | None
    projector: Path | None
    generator_diffusers: Path | None
    generator_native: Path | None
    comfy_transformer: Path | None
    comfy_text_encoder: Path | None
    comfy_vae: Path | None
    grounding_dino: Path | None
    sam2: Path | None
    u2net: Path | None


def discover(models_dir: str | Path | None,
             folder_roots: Mapping[str, Sequence[Path]] | None = None) -> ModelPaths:
    """Find each piece under `models_dir` (this layout), then under `folder_roots`: ComfyUI folder
    name -> the folders registered for it (`COMFY_FOLDER_OF` for the layout's pieces, and
    ComfyUI's own `diffusion_models` / `text_encoders` / `vae` for the Wan single files). A
    folder registered directly as a piece (e.g. `unison_planner: /data/Unison-Qwen2.5-VL-3B`)
    counts when its name is the piece's name."""
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

    return ModelPaths(
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
        grounding_dino=found(GROUNDING_DINO),
        sam2=found(SAM2),
        u2net=found(U2NET),
    )
