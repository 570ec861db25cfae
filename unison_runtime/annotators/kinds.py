"""The annotator models, declared once: `AnnotatorPaths` has one field per model, and each field
says what the model is for, where it is found and how it loads (`AnnotatorKind`).

Everything else derives from it: `layout.ModelPaths` and `sources.AnnotatorSources` (its fields),
`annotators.AnnotatorModels` (its fields and loaders), `layout.discover` and
`segmentation.find_annotator_models` (where to look), which modes need which model, the messages,
and the UnisonAnnotatorLoader node's inputs. Pure declarations: importing this imports nothing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class AnnotatorKind:
    """One annotator model: its name (the field of `AnnotatorPaths`), what it is, where found, how loaded."""

    label: str  # for people: "GroundingDINO"
    form: str  # what a user gives: "Hugging Face folder (with config.json)"
    makes: str  # what it is for: "boxes from words"
    used_for: str  # where it is needed, as the node's tooltip says it: "for label/caption modes"
    modes: tuple[str, ...]  # the annotator modes that need it
    layout_path: str  # where this pack's models layout keeps it
    loader: str  # "module:function" in this package; imported when first used
    model_types: tuple[str, ...] = ()  # a Hugging Face folder: its config.json model_type...
    folder_prefixes: tuple[str, ...] = ()  # ...and the names its folder goes by in a scan
    file_names: tuple[str, ...] = ()  # or a single weights file, by name
    pack_folders: tuple[str, ...] = ()  # ComfyUI folders where other packs keep it (layout.EXTRA_FOLDERS)
    pack_finder: str = ""  # the `layout` function that finds those packs' files
    name: str = ""  # filled in from the field

    @property
    def tooltip(self) -> str:
        return f"{self.label} {self.form} {self.used_for}."

    @property
    def is_file(self) -> bool:
        return bool(self.file_names)

    def matches_folder(self, folder_name: str) -> bool:
        key = folder_name.lower().replace("_", "-")
        return bool(self.folder_prefixes) and key.startswith(self.folder_prefixes)

    def load(self, path: Path, **settings: Any):
        """The loaded model at `path` (through the model manager)."""
        module, _, function = self.loader.partition(":")
        return getattr(importlib.import_module(f"{__package__}.{module}"), function)(path, **settings)


def _kind(**declared: Any):
    return field(default=None, metadata={"kind": AnnotatorKind(**declared)})


@dataclass(frozen=True)
class AnnotatorPaths:
    """Where each annotator model is (None where absent). The one declaration of the annotator models."""

    grounding_dino: Path | None = _kind(
        label="GroundingDINO", form="Hugging Face folder (with config.json)",
        makes="boxes from words", used_for="for label/caption modes", modes=("label", "caption"),
        layout_path="annotators/grounding-dino", loader="segmentation:load_grounding_dino",
        model_types=("grounding-dino",), folder_prefixes=("grounding-dino", "groundingdino"),
        pack_folders=("grounding-dino",), pack_finder="find_original_grounding_dino")
    sam2: Path | None = _kind(
        label="SAM2", form="Hugging Face folder (with config.json, e.g. facebook/sam2.1-hiera-tiny)",
        makes="masks from boxes, tracked through video", used_for="for bbox/label/caption modes",
        modes=("bbox", "label", "caption"), layout_path="annotators/sam2", loader="segmentation:load_sam2",
        model_types=("sam2", "sam2_video"), folder_prefixes=("sam2",),
        pack_folders=("sam2",), pack_finder="find_original_sam2")
    u2net: Path | None = _kind(
        label="U²-Net", form="weights, a .pt/.pth file named u2net*",
        makes="salient-object masks", used_for="(salient mode; video editing without a mask)", modes=("salient",),
        layout_path="annotators/u2net/u2net.pt", loader="salient:load_u2net", file_names=("u2net.pt", "u2net.pth"),
        pack_folders=("u2net", "rembg"), pack_finder="find_u2net")

    def as_dict(self) -> dict[str, Path | None]:
        """`{name: path}` for every annotator model, in declaration order."""
        return {kind.name: getattr(self, kind.name) for kind in ANNOTATOR_KINDS}

    def annotator_paths(self) -> "AnnotatorPaths":
        """Just the annotator paths (of a value that holds more, such as `layout.ModelPaths`)."""
        return AnnotatorPaths(**self.as_dict())

    @property
    def empty(self) -> bool:
        return not any(self.as_dict().values())


ANNOTATOR_KINDS = tuple(replace(f.metadata["kind"], name=f.name) for f in fields(AnnotatorPaths))
_BY_NAME = {kind.name: kind for kind in ANNOTATOR_KINDS}


def annotator_kind(name: str) -> AnnotatorKind:
    return _BY_NAME[name]


def needed_by(mode: str) -> tuple[AnnotatorKind, ...]:
    """The models annotator mode `mode` runs (none for the weights-free modes)."""
    return tuple(kind for kind in ANNOTATOR_KINDS if mode in kind.modes)


def described() -> str:
    """"GroundingDINO (boxes from words), SAM2 (...) and U²-Net (...)", for descriptions."""
    parts = [f"{k.label} ({k.makes})" for k in ANNOTATOR_KINDS]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def where_to_put() -> str:
    """Where the models go, for messages."""
    folders = [k.layout_path for k in ANNOTATOR_KINDS if not k.is_file]
    files = [k.layout_path for k in ANNOTATOR_KINDS if k.is_file]
    names = [f"{p}*" for k in ANNOTATOR_KINDS for p in k.folder_prefixes[:1]]
    return (f"Put Hugging Face folders under {' and '.join(folders)} and the file {' and '.join(files)} "
            f"in the models directory (or folders named {', '.join(names)})")
