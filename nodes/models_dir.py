"""Handles for the models UnisonAuto uses: those in one folder of the `unison_runtime.layout`
tree, or (models_dir left empty) those in ComfyUI's own model folders.

With models_dir empty, each piece is looked up through its registered ComfyUI folder
(`unison_planner`, `unison_projector`, `unison_generator`, `unison_annotators`: ComfyUI's
models/unison/<sub> plus any extra_model_paths.yaml entries, in ComfyUI's order), and the Wan VACE
single files through ComfyUI's `diffusion_models`, `text_encoders` and `vae` folders. With an
explicit models_dir the layout tree is used, and the Wan single files still fall back to ComfyUI's
folders when the tree has no generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import comfy_glue as glue
from .values import AnnotatorHandle, GeneratorHandle, PlannerHandle, ProjectorHandle


@dataclass
class FoundModels:
    root: Path
    planner: PlannerHandle | None
    generator: GeneratorHandle | None
    projector: ProjectorHandle | None
    annotators: AnnotatorHandle | None


def default_models_dir() -> Path:
    """ComfyUI's models/unison (`folder_paths.models_dir` / "unison")."""
    fp = glue.folder_paths()
    if fp is not None and getattr(fp, "models_dir", None):
        return Path(fp.models_dir) / "unison"
    from unison_runtime.errors import ModelLoadError

    raise ModelLoadError("no models_dir given and ComfyUI's model folders are not available; "
                         "write the folder holding planner/, projector/, generator/")


# ComfyUI folder name of each layout piece: layout path "planner/X" is "X" in unison_planner.
_FOLDER_OF = {"planner": "unison_planner", "projector": "unison_projector",
              "generator": "unison_generator", "annotators": "unison_annotators"}


def _registered(rel: str) -> Path | None:
    """A layout path (e.g. "planner/Unison-Qwen2.5-VL-3B") found through its registered folder."""
    head, _, tail = rel.partition("/")
    folder = _FOLDER_OF[head]
    for root in glue.folder_roots(folder):
        path = root / tail
        if path.exists():
            return path
    for root in glue.folder_roots(folder):  # the piece registered directly as the folder
        if root.name == Path(tail).name and root.exists():
            return root
    return None


def _comfy_file(folder: str, *names: str) -> Path | None:
    fp = glue.folder_paths()
    if fp is None:
        return None
    glue.register_model_folders()
    for name in names:
        try:
            found = fp.get_full_path(folder, name)
        except Exception:  # folder name not registered
            found = None
        if found:
            return Path(found)
    return None


def discover_models(models_dir: str):
    """The runtime's `ModelPaths` for models_dir, or (empty) for ComfyUI's registered folders."""
    from dataclasses import replace

    from unison_runtime import layout

    explicit = bool(models_dir and models_dir.strip())
    root = Path(models_dir).expanduser() if explicit else default_models_dir()
    # Other packs' folders (models/LLM, sam2, ...) as ComfyUI has them registered, paths from extra_model_paths too.
    found = layout.discover(root, None if explicit else {n: glue.folder_roots(n) for n in layout.EXTRA_FOLDERS})
    if not explicit:
        found = replace(found, **{
            field: getattr(found, field) or _registered(rel)
            for field, rel in (("planner_merged", layout.PLANNER_MERGED), ("planner_base", layout.PLANNER_BASE),
                               ("planner_adapter", layout.PLANNER_ADAPTER), ("projector", layout.PROJECTOR),
                               ("generator_diffusers", layout.GENERATOR_DIFFUSERS),
                               ("generator_native", layout.GENERATOR_NATIVE),
                               ("grounding_dino", layout.GROUNDING_DINO), ("sam2", layout.SAM2),
                               ("u2net", layout.U2NET))
        })
    found = replace(
        found,
        comfy_transformer=found.comfy_transformer or _comfy_file(layout.COMFY_DIFFUSION_MODELS,
                                                                 layout.COMFY_TRANSFORMER_FILE),
        comfy_text_encoder=found.comfy_text_encoder or _comfy_file(layout.COMFY_TEXT_ENCODERS,
                                                                   layout.COMFY_TEXT_ENCODER_FILE,
                                                                   layout.COMFY_TEXT_ENCODER_FP8_FILE),
        comfy_vae=found.comfy_vae or _comfy_file(layout.COMFY_VAE, layout.COMFY_VAE_FILE),
    )
    return found


def models_fingerprint(models_dir: str) -> str:
    """For UnisonAuto.IS_CHANGED: which models would be used, and their size/mtime."""
    try:
        found = discover_models(models_dir)
    except Exception as err:  # no ComfyUI folders: the run itself will explain
        return f"error:{err}"
    from dataclasses import fields

    return glue.tree_fingerprint(getattr(found, f.name) for f in fields(found) if f.name != "root")


def handles_from_models_dir(models_dir: str) -> FoundModels:
    found = discover_models(models_dir)
    planner = None
    if found.planner_merged is not None:
        planner = PlannerHandle(model_dir=str(found.planner_merged))
    elif found.planner_base is not None:
        adapter = str(found.planner_adapter) if found.planner_adapter is not None else None
        planner = PlannerHandle(model_dir=str(found.planner_base), adapter_dir=adapter,
                                mode="unison" if adapter else "instruct")
    generator = None
    if found.generator_diffusers is not None:
        generator = GeneratorHandle(diffusers_dir=str(found.generator_diffusers))
    elif found.generator_native is not None:
        generator = GeneratorHandle(native_dir=str(found.generator_native))
    elif found.comfy_transformer is not None:
        # ComfyUI's repackaged single files; a missing text encoder or VAE is named by the runtime.
        generator = GeneratorHandle(
            transformer_file=str(found.comfy_transformer),
            text_encoder_file=str(found.comfy_text_encoder) if found.comfy_text_encoder is not None else None,
            vae_file=str(found.comfy_vae) if found.comfy_vae is not None else None,
        )
    projector = ProjectorHandle(path=str(found.projector)) if found.projector is not None else None
    paths = [found.grounding_dino, found.sam2, found.u2net]
    annotators = None
    if any(p is not None for p in paths):
        annotators = AnnotatorHandle(*[str(p) if p is not None else None for p in paths])
    return FoundModels(found.root, planner, generator, projector, annotators)
