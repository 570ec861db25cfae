"""Handles for the models found in one folder of the `unison_runtime.layout` tree (UnisonAuto)."""

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
    """ComfyUI's models/unison (the parent of the registered unison_planner folder)."""
    roots = glue.folder_roots("unison_planner")
    if roots:
        return roots[0].parent
    from unison_runtime.errors import ModelLoadError

    raise ModelLoadError("no models_dir given and ComfyUI's model folders are not available; "
                         "write the folder holding planner/, projector/, generator/")


def handles_from_models_dir(models_dir: str) -> FoundModels:
    from unison_runtime.layout import discover

    root = Path(models_dir).expanduser() if models_dir and models_dir.strip() else default_models_dir()
    found = discover(root)
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
    projector = ProjectorHandle(path=str(found.projector)) if found.projector is not None else None
    paths = [found.grounding_dino, found.sam2, found.u2net]
    annotators = None
    if any(p is not None for p in paths):
        annotators = AnnotatorHandle(*[str(p) if p is not None else None for p in paths])
    return FoundModels(found.root, planner, generator, projector, annotators)
