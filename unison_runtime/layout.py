"""The models directory layout: where each piece lives under a user's `--models DIR`.

`make-demo-models` writes exactly this tree with tiny models, and `discover(models_dir)` finds
the pieces a run needs. Real users put their downloads in the same places (see README).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class ModelPaths:
    """The pieces found under one models directory (None where absent)."""

    root: Path
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


def discover(models_dir: str | Path) -> ModelPaths:
    root = Path(models_dir).expanduser().resolve()

    def found(rel: str) -> Path | None:
        path = root / rel
        return path if path.exists() else None

    return ModelPaths(
        root=root,
        planner_merged=found(PLANNER_MERGED),
        planner_base=found(PLANNER_BASE),
        planner_adapter=found(PLANNER_ADAPTER),
        projector=found(PROJECTOR),
        generator_diffusers=found(GENERATOR_DIFFUSERS),
        generator_native=found(GENERATOR_NATIVE),
        comfy_transformer=found(f"{COMFYUI_MODELS}/{COMFY_DIFFUSION_MODELS}/{COMFY_TRANSFORMER_FILE}"),
        comfy_text_encoder=found(f"{COMFYUI_MODELS}/{COMFY_TEXT_ENCODERS}/{COMFY_TEXT_ENCODER_FILE}"),
        comfy_vae=found(f"{COMFYUI_MODELS}/{COMFY_VAE}/{COMFY_VAE_FILE}"),
        grounding_dino=found(GROUNDING_DINO),
        sam2=found(SAM2),
        u2net=found(U2NET),
    )
