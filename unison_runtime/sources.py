"""Where each model of a run comes from, and the one rule that picks them.

A *source* says how to load a model, not the model: loading goes through the model manager, so
two nodes or two runs naming the same files share one copy, and ComfyUI's output cache (which
keeps loader outputs alive) never pins weights in memory. `find_models` is the "find the models"
stage for the CLI and the nodes alike; the planner choice (merged Unison model, base + LoRA, or a
stock instruct model) is decided here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .annotators.kinds import AnnotatorPaths
from .errors import ModelLoadError
from .facts import (ATTENTION_BACKENDS, DEFAULT_OFFLOAD_POLICY, DTYPES, OFFLOAD_POLICIES, PLANNER_CHOICES,
                    PLANNER_MODES)

if TYPE_CHECKING:  # pragma: no cover
    from .annotators import AnnotatorModels
    from .generator.loading import GeneratorModels
    from .layout import ModelPaths
    from .planner.qwen import QwenPlanner
    from .projector import Projector


@dataclass(frozen=True)
class LoadSettings:
    """How models are placed: precision, device and what happens to weights between uses."""

    dtype: str = "auto"
    device: str = "auto"
    offload_policy: str = DEFAULT_OFFLOAD_POLICY

    def __post_init__(self) -> None:
        _check_choice("dtype", self.dtype, DTYPES)
        _check_choice("offload policy", self.offload_policy, OFFLOAD_POLICIES)

    def as_kwargs(self) -> dict[str, str]:
        return {"dtype": self.dtype, "device": self.device, "offload_policy": self.offload_policy}


@dataclass(frozen=True)
class PlannerSource:
    """A Qwen2.5-VL folder (+ optional Unison LoRA) and the mode it plans in."""

    model_dir: Path
    adapter_dir: Path | None = None
    mode: str = "unison"
    settings: LoadSettings = field(default_factory=LoadSettings)

    def __post_init__(self) -> None:
        _check_choice("planner mode", self.mode, PLANNER_MODES)

    def load(self) -> "QwenPlanner":
        from .planner import load_planner

        return load_planner(self.model_dir, self.adapter_dir, mode=self.mode, **self.settings.as_kwargs())

    def describe(self) -> str:
        adapter = f" + {self.adapter_dir.name}" if self.adapter_dir else ""
        return f"{self.model_dir.name}{adapter} ({self.mode})"


@dataclass(frozen=True)
class ProjectorSource:
    path: Path
    settings: LoadSettings = field(default_factory=LoadSettings)

    def load(self, planner_hidden: int | None = None, text_width: int | None = None) -> "Projector":
        from .projector import load_projector

        return load_projector(self.path, planner_hidden=planner_hidden, text_width=text_width,
                              device=self.settings.device)


@dataclass(frozen=True)
class GeneratorSource:
    """Wan2.1 VACE: a diffusers folder, the native release folder, or ComfyUI's single files."""

    diffusers_dir: Path | None = None
    native_dir: Path | None = None
    transformer_file: Path | None = None
    text_encoder_file: Path | None = None
    vae_file: Path | None = None
    attention_backend: str = "native"
    settings: LoadSettings = field(default_factory=LoadSettings)

    def __post_init__(self) -> None:
        _check_choice("attention backend", self.attention_backend, tuple(ATTENTION_BACKENDS))

    @classmethod
    def from_folder(cls, folder: Path, **kwargs) -> "GeneratorSource":
        """A diffusers folder (it has model_index.json) or else a native Wan release folder."""
        if (Path(folder) / "model_index.json").is_file():
            return cls(diffusers_dir=Path(folder), **kwargs)
        return cls(native_dir=Path(folder), **kwargs)

    def files(self) -> dict:
        """Which file plays which part, role → (kind, path), each single file's kind checked
        (`generator.files.resolve_files`: the one reading of the layouts, for every backend)."""
        from .generator.files import resolve_files

        return resolve_files(self.diffusers_dir, self.native_dir, self.transformer_file, self.text_encoder_file,
                             self.vae_file)

    def load(self) -> "GeneratorModels | Any":
        """The loaded generator, by the backend `generator.backend.backend_for` picks for this source
        (ComfyUI's own loaders inside ComfyUI, diffusers elsewhere and for a diffusers folder)."""
        from .generator.backend import backend_for

        return backend_for(self).load(self)

    def describe(self) -> str:
        folder = self.diffusers_dir or self.native_dir
        if folder is not None:
            return Path(folder).name
        return ", ".join(Path(p).name for p in (self.transformer_file, self.text_encoder_file, self.vae_file) if p)


@dataclass(frozen=True)
class AnnotatorSources(AnnotatorPaths):
    """Annotator weights (`AnnotatorPaths`: None where absent); each loads when an annotator first
    needs it."""

    settings: LoadSettings = field(default_factory=LoadSettings)

    def load(self) -> "AnnotatorModels":
        from .annotators import AnnotatorModels

        return AnnotatorModels(**self.as_dict(), device=self.settings.device,
                               offload_policy=self.settings.offload_policy)


@dataclass(frozen=True)
class ModelSources:
    """Every model a run may use (None: not found / not given). `root` names where they were
    looked for, for messages."""

    planner: PlannerSource | None = None
    projector: ProjectorSource | None = None
    generator: GeneratorSource | None = None
    annotators: AnnotatorSources | None = None
    root: Path | None = None

    def with_given(self, **given) -> "ModelSources":
        """These sources with the non-None `given` ones in their place (connected loaders win)."""
        return replace(self, **{k: v for k, v in given.items() if v is not None})

    def require_generator(self) -> GeneratorSource:
        if self.generator is None:
            where = f" under {self.root}" if self.root else ""
            raise ModelLoadError(
                f"no generator found{where}: put Wan2.1-VACE-1.3B (diffusers folder or native release) "
                "under generator/, or ComfyUI's single files in diffusion_models/ "
                "(wan2.1_vace_1.3B_fp16.safetensors), text_encoders/ (umt5_xxl_fp16.safetensors) and "
                "vae/ (wan_2.1_vae.safetensors), or pass it explicitly (--generator, the loader node)")
        return self.generator


def find_models(models_dir: str | Path | None = None, *,
                folder_roots: Mapping[str, Sequence[Path]] | None = None,
                planner: str = "auto", planner_model: Path | None = None, planner_adapter: Path | None = None,
                projector: Path | None = None, generator: Path | None = None,
                annotators_dir: Path | None = None, settings: LoadSettings | None = None,
                attention_backend: str = "native") -> ModelSources:
    """The models a run uses: explicit paths win, then `models_dir` (the layout in the README),
    then `folder_roots` (ComfyUI's registered folders). Nothing is loaded here."""
    from .layout import discover

    _check_choice("planner", planner, PLANNER_CHOICES)
    settings = settings or LoadSettings()
    paths = discover(models_dir, folder_roots) if models_dir is not None or folder_roots else None
    planner_source = None
    if planner_model is not None:
        planner_source = PlannerSource(Path(planner_model), _opt(planner_adapter),
                                       planner_mode(planner, Path(planner_model), planner_adapter), settings)
    elif paths is not None:
        planner_source = choose_planner_source(paths, planner, settings)
    projector_path = projector or (paths.projector if paths else None)
    return ModelSources(
        planner=planner_source,
        projector=ProjectorSource(Path(projector_path), settings) if projector_path else None,
        generator=_generator_source(generator, paths, attention_backend, settings),
        annotators=_annotator_sources(annotators_dir or models_dir, paths, folder_roots, settings),
        root=paths.root if paths is not None else None,
    )


def choose_planner_source(paths: "ModelPaths", choice: str, settings: LoadSettings) -> PlannerSource | None:
    """The one planner rule. A merged Unison folder plans in unison mode; else the base model
    with the Unison LoRA; else a stock Qwen2.5-VL-Instruct plans in instruct mode (it can also
    answer questions). `unison` insists on the Unison weights, `instruct` on the stock model."""
    if choice != "instruct" and paths.planner_merged is not None:
        return PlannerSource(paths.planner_merged, None, "unison", settings)
    if choice != "instruct" and paths.planner_base is not None and paths.planner_adapter is not None:
        return PlannerSource(paths.planner_base, paths.planner_adapter, "unison", settings)
    if choice != "unison" and paths.planner_base is not None:
        return PlannerSource(paths.planner_base, None, "instruct", settings)
    if choice in ("unison", "instruct"):
        wanted = "the Unison planner (merged, or base + LoRA)" if choice == "unison" else \
            "a stock Qwen2.5-VL-Instruct folder"
        raise ModelLoadError(f"planner {choice!r} needs {wanted}; none found under {paths.root} "
                             "(expected planner/... — see the README's model table)")
    return None


def planner_mode(choice: str, model_dir: Path, adapter_dir: Path | None) -> str:
    """The mode of an explicitly given planner folder: instruct when asked for, or (auto) when it
    is a stock model with no adapter and no Unison tokens; unison otherwise."""
    if choice == "instruct":
        return "instruct"
    if choice == "unison" or adapter_dir is not None:
        return "unison"
    from .planner.constrained import UNISON_TOKENS
    from .planner.qwen import token_strings

    folder = Path(model_dir)
    known = token_strings(folder) if folder.is_dir() else frozenset(UNISON_TOKENS)
    return "unison" if all(t in known for t in UNISON_TOKENS) else "instruct"


def _generator_source(explicit: Path | None, paths: "ModelPaths | None", attention_backend: str,
                      settings: LoadSettings) -> GeneratorSource | None:
    """An explicit folder; else the found layout `generator.backend.layout_order` prefers."""
    from .generator.backend import layout_order

    common = dict(attention_backend=attention_backend, settings=settings)
    if explicit:
        return GeneratorSource.from_folder(Path(explicit), **common)
    if paths is None:
        return None
    found = {
        "diffusers": GeneratorSource(diffusers_dir=paths.generator_diffusers, **common)
        if paths.generator_diffusers else None,
        "native": GeneratorSource(native_dir=paths.generator_native, **common) if paths.generator_native else None,
        # ComfyUI's repackaged single files; a missing text encoder or VAE is named at load.
        "single_files": GeneratorSource(transformer_file=paths.comfy_transformer,
                                        text_encoder_file=paths.comfy_text_encoder, vae_file=paths.comfy_vae, **common)
        if paths.comfy_transformer else None,
    }
    return next((found[layout] for layout in layout_order() if found[layout] is not None), None)


def _annotator_sources(models_dir, paths: "ModelPaths | None", folder_roots, settings: LoadSettings):
    """This layout's annotator paths, else what `find_annotator_models` finds under the models
    folder and the folders registered for annotators (other packs' folder names included)."""
    from .annotators.segmentation import find_annotator_models

    found = paths.annotator_paths().as_dict() if paths else {}
    roots = ([Path(models_dir)] if models_dir is not None else []) + \
        [Path(r) for r in (folder_roots or {}).get("unison_annotators", ())]
    for root in roots:
        if found and all(found.values()):
            break
        if root.is_dir():
            more = find_annotator_models(root).as_dict()
            found = {name: found.get(name) or path for name, path in more.items()}
    sources = AnnotatorSources(**found, settings=settings)
    return None if sources.empty else sources


def _opt(path) -> Path | None:
    return Path(path) if path is not None else None


def _check_choice(what: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ModelLoadError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")
