"""The few places the nodes touch ComfyUI itself: model folders, the input folder, the
ExecutionBlocker, the progress bar and preview, cancellation, its memory management (our
models among its loaded models: `comfy_memory`; "unload models" releasing our cache), and its Wan
VACE as the runtime's generator backend (`comfy_generator`).

Every ComfyUI module is imported inside a function and has a fallback, so the nodes import and run
without ComfyUI (the tests do exactly that). Nothing here loads a model or imports torch.
"""

from __future__ import annotations

import importlib
import logging
import os
import tempfile
from pathlib import Path

from .sample_media import copy_sample_media

log = logging.getLogger("ComfyUI-Unison")

PACK_DIR = Path(__file__).resolve().parents[1]

# ComfyUI's own folders that may hold the Wan VACE single files.
WAN_FOLDERS = ("diffusion_models", "text_encoders", "vae")
MODEL_FILE_EXTENSIONS = (".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".sft")
NONE = "none"


def _optional_module(name: str):
    try:
        return importlib.import_module(name)
    except Exception:  # ComfyUI absent (tests, CLI) or partially importable
        return None


def folder_paths():
    """ComfyUI's `folder_paths` module, or None outside ComfyUI."""
    return _optional_module("folder_paths")


# -- model folders ---------------------------------------------------------------------------
_REGISTERED = False


def register_model_folders() -> None:
    """Add `models/unison/{planner,projector,generator,annotators}` to ComfyUI's folder registry,
    and the folders other packs keep the same weights in (`layout.EXTRA_FOLDERS`: models/LLM, VLM,
    sam2, grounding-dino, u2net, rembg, bert-base-uncased) where no pack registered them yet
    (idempotent; users may add more paths for the same names in extra_model_paths.yaml)."""
    global _REGISTERED
    fp = folder_paths()
    if fp is None or _REGISTERED:
        return
    from unison_runtime import api

    root = os.path.join(fp.models_dir, "unison")
    folders = {name: os.path.join(root, sub) for sub, name in api.COMFY_FOLDER_OF.items()}
    folders.update({name: os.path.join(fp.models_dir, name) for name in (*api.EXTRA_FOLDERS, api.BERT_FOLDER)})
    for name, path in folders.items():
        if name in fp.folder_names_and_paths:
            if path not in fp.folder_names_and_paths[name][0]:
                fp.folder_names_and_paths[name][0].append(path)
        else:
            fp.folder_names_and_paths[name] = ([path], set(MODEL_FILE_EXTENSIONS) | {".onnx"})
    _REGISTERED = True


def folder_roots(folder_name: str) -> list[Path]:
    fp = folder_paths()
    if fp is None:
        return []
    register_model_folders()
    try:
        return [Path(p) for p in fp.get_folder_paths(folder_name)]
    except KeyError:
        return []


def folder_roots_map(unison_folders: bool = True) -> dict[str, list[Path]]:
    """ComfyUI folder name -> its registered folders, for the runtime's `find_models`. Without
    `unison_folders` only ComfyUI's own Wan folders (an explicit models_dir is the whole tree,
    but the Wan single files may still sit in ComfyUI's diffusion_models/text_encoders/vae)."""
    from unison_runtime.api import COMFY_FOLDER_OF, EXTRA_FOLDERS

    names = (*COMFY_FOLDER_OF.values(), *EXTRA_FOLDERS, *WAN_FOLDERS) if unison_folders else WAN_FOLDERS
    return {name: folder_roots(name) for name in names}


def default_models_dir() -> Path:
    """ComfyUI's models/unison (`folder_paths.models_dir` / "unison")."""
    fp = folder_paths()
    if fp is not None and getattr(fp, "models_dir", None):
        return Path(fp.models_dir) / "unison"
    from unison_runtime.api import ModelLoadError

    raise ModelLoadError("no models_dir given and ComfyUI's model folders are not available; "
                         "write the folder holding planner/, projector/, generator/")


def models_location(models_dir: str) -> tuple[Path, dict[str, list[Path]]]:
    """(models folder, ComfyUI folders to search too) for a node's `models_dir` widget: an explicit
    folder is the whole unison tree (only the Wan single files may still come from ComfyUI's own
    folders); empty means ComfyUI's models/unison and every folder registered for the pieces."""
    explicit = bool(models_dir and models_dir.strip())
    root = confined_models_dir(models_dir) if explicit else default_models_dir()
    return root, folder_roots_map(unison_folders=not explicit)


def allowed_model_roots() -> list[Path]:
    """The folders a `models_dir` may lie in, as core loaders choose among ComfyUI's registered model
    folders: ComfyUI's models folder, every folder registered for a model type (extra_model_paths.yaml
    adds more), and the tree holding each registered unison_* folder (its planner/, projector/ ...)."""
    from unison_runtime.api import COMFY_FOLDER_OF

    fp = folder_paths()
    register_model_folders()
    roots = [Path(fp.models_dir)]
    for name, entry in fp.folder_names_and_paths.items():
        if name == "custom_nodes":  # code, not models
            continue
        for path in entry[0]:
            roots.append(Path(path))
            if name in COMFY_FOLDER_OF.values():
                roots.append(Path(path).parent)
    normal = {Path(os.path.abspath(r)) for r in roots}
    return sorted(r for r in normal if not any(o in r.parents for o in normal))  # the outermost ones


def confined_models_dir(models_dir: str) -> Path:
    """A `models_dir` typed in a node (a name under ComfyUI's models folder, or a path): inside
    ComfyUI it must lie in a registered model folder, so an HTTP client of a server started with
    --listen cannot make it read elsewhere; refusals are one line naming what is allowed."""
    from unison_runtime.api import ModelLoadError

    text = models_dir.strip()
    fp = folder_paths()
    path = Path(text).expanduser()
    if fp is None:  # outside ComfyUI (tests, scripts): the caller's own path
        return path
    if not path.is_absolute():
        path = Path(fp.models_dir) / path
    path = Path(os.path.abspath(path))
    allowed = allowed_model_roots()
    if not any(path == root or root in path.parents for root in allowed):
        raise ModelLoadError(
            f"models_dir {text!r} is outside ComfyUI's model folders; allowed: a folder in "
            f"{', '.join(map(str, allowed))} (extra_model_paths.yaml adds more), or empty for models/unison")
    try:
        with os.scandir(path):
            pass
    except FileNotFoundError:
        raise ModelLoadError(f"models_dir {text!r}: there is no such folder ({path})") from None
    except NotADirectoryError:
        raise ModelLoadError(f"models_dir {text!r} is a file, not a folder ({path})") from None
    except OSError as err:
        reason = "permission denied" if isinstance(err, PermissionError) else "it cannot be listed"
        raise ModelLoadError(f"models_dir {text!r} cannot be read: {reason} ({path})") from None
    return path


def models_fingerprint(models_dir: str) -> str:
    """For IS_CHANGED: which models `models_dir` (or ComfyUI's folders) would give, with their
    size/mtime, so replacing a file re-runs the node."""
    from dataclasses import fields

    from unison_runtime.api import discover

    try:
        found = discover(*models_location(models_dir))
    except Exception as err:  # no ComfyUI folders: the run itself will explain
        return f"error:{err}"
    return tree_fingerprint(getattr(found, f.name) for f in fields(found) if f.name != "root")


def list_folders(folder_name: str, marker: str | tuple[str, ...]) -> list[str]:
    """Sub-folders (up to two levels deep) of a registered model folder holding one of `marker`."""
    markers = (marker,) if isinstance(marker, str) else marker
    found: set[str] = set()
    for root in folder_roots(folder_name):
        if not root.is_dir():
            continue
        for candidate in [root, *root.iterdir(), *(c for d in root.iterdir() if d.is_dir() for c in d.iterdir())]:
            if candidate.is_dir() and any((candidate / m).exists() for m in markers):
                rel = candidate.relative_to(root).as_posix()
                found.add(rel if rel != "." else candidate.name)
    return sorted(found)


def list_files(folder_name: str, extensions: tuple[str, ...] = MODEL_FILE_EXTENSIONS) -> list[str]:
    fp = folder_paths()
    if fp is None:
        return []
    register_model_folders()
    try:
        names = fp.get_filename_list(folder_name)
    except KeyError:
        return []
    return sorted(n for n in names if n.lower().endswith(extensions))


def resolve(folder_name: str, name: str, what: str) -> Path | None:
    """The full path of a dropdown value (file or folder) in a registered model folder.

    "none" gives None. An unknown name raises a `ModelLoadError` that lists the searched folders.
    """
    from unison_runtime.api import ModelLoadError

    if not name or name == NONE:
        return None
    candidate = Path(name)
    if candidate.is_absolute():
        if candidate.exists():
            return candidate
        raise ModelLoadError(f"{what}: {name} does not exist")
    roots = folder_roots(folder_name)
    for root in roots:
        path = (root / name).resolve()
        if path.exists() and root.resolve() in (path, *path.parents):
            return path
    for root in roots:  # a model folder registered directly is listed under its own name
        if root.name == name and root.is_dir():
            return root.resolve()
    searched = ", ".join(str(r) for r in roots) or f"(no folder registered as {folder_name!r})"
    raise ModelLoadError(f"{what}: {name!r} not found; searched {searched}")


def with_none(names: list[str]) -> list[str]:
    return [NONE, *[n for n in names if n != NONE]]


# -- input / temp folders --------------------------------------------------------------------
def allowed_roots() -> list[Path]:
    """Where `###file###` in a request may point: ComfyUI's input folder."""
    return [input_dir()]


def input_dir() -> Path:
    fp = folder_paths()
    if fp is not None:
        return Path(fp.get_input_directory())
    return Path(os.environ.get("UNISON_INPUT_DIR", Path(tempfile.gettempdir()) / "unison_input"))


_SAMPLES_INSTALLED = False


def ensure_sample_media() -> list[str]:
    """Copy the sample media once per process, at the first node run (never at import), where
    prestartup_script.py did not: a deleted copy does not come back until a restart."""
    global _SAMPLES_INSTALLED
    if _SAMPLES_INSTALLED or folder_paths() is None:
        return []
    _SAMPLES_INSTALLED = True
    return install_sample_media()


def install_sample_media() -> list[str]:
    """Copy the pack's sample media into ComfyUI's input folder (never over a user's file).
    `prestartup_script.py` does this before ComfyUI starts; nodes call `ensure_sample_media`, which
    does it once per process where the prestartup script did not run."""
    if folder_paths() is None:
        return []
    return copy_sample_media(input_dir())


# -- execution -------------------------------------------------------------------------------
class _FallbackBlocker:
    """Stands in for ComfyUI's ExecutionBlocker outside ComfyUI (same constructor and field)."""

    def __init__(self, message):
        self.message = message


def execution_blocker_class():
    module = _optional_module("comfy_execution.graph_utils")
    return getattr(module, "ExecutionBlocker", _FallbackBlocker)


def blocked(message: str | None = None):
    """A value that makes ComfyUI skip every node fed by it (silently when message is None)."""
    return execution_blocker_class()(message)


def is_blocked(value) -> bool:
    return isinstance(value, (execution_blocker_class(), _FallbackBlocker))


def check_interrupted() -> None:
    """Raise ComfyUI's interrupt exception when the user pressed Cancel (no-op outside ComfyUI)."""
    mm = _optional_module("comfy.model_management")
    if mm is not None:
        mm.throw_exception_if_processing_interrupted()


def run_hooks(total_steps: int):
    """The runtime's `RunHooks` wired to ComfyUI: Cancel (interrupt), the progress bar and the
    latent preview of the frame being generated (on either generator backend)."""
    from unison_runtime.api import RunHooks

    progress = Progress(total_steps)
    to_preview = latent_previewer()

    def on_step(step: int, total: int, latents=None) -> None:
        # Latents reach the callback as the generated frames only (both backends drop VACE's
        # reference frames), so the preview shows frame 0 of the output as is.
        preview = to_preview(latents) if to_preview is not None and latents is not None else None
        progress.total = total
        progress.update(step, preview)

    return RunHooks(progress=on_step, interrupt=check_interrupted)


class Progress:
    """ComfyUI's progress bar (with an optional preview image), or a silent counter."""

    def __init__(self, total: int):
        utils = _optional_module("comfy.utils")
        self.bar = utils.ProgressBar(total) if utils is not None else None
        self.total = total
        self.current = 0

    def update(self, step: int, preview=None) -> None:
        self.current = step
        if self.bar is not None:
            self.bar.update_absolute(step, self.total, preview)


def latent_previewer():
    """A function latents `[B, 16, T, h, w]` -> ComfyUI preview tuple, or None when previews are off
    or ComfyUI is absent. Uses ComfyUI's own Wan 2.1 latent-to-RGB factors."""
    preview = _optional_module("latent_preview")
    formats = _optional_module("comfy.latent_formats")
    if preview is None or formats is None:
        return None
    try:
        # ComfyUI's own choice (--preview-method / the frontend's setting): latent2rgb or TAE.
        previewer = preview.get_previewer("cpu", formats.Wan21())
    except Exception as err:  # previews are a nicety; never fail a run for them
        log.debug("ComfyUI-Unison: no latent preview: %s", err)
        return None
    if previewer is None:
        return None

    def to_preview(latents):
        from unison_runtime.api import preview_frame

        try:  # both of ComfyUI's previewers show frame 0 of batch 0: copy only that frame
            return previewer.decode_latent_to_preview_image("JPEG", preview_frame(latents))
        except Exception:
            return None

    return to_preview


# -- ComfyUI's memory management -------------------------------------------------------------
_HOOKED_ATTR = "_unison_wrapped"


def install_unload_hook() -> bool:
    """Make ComfyUI's `unload_all_models` release the pack's model cache too (its RAM as well):
    the "Unload models" / "Free model and node cache" buttons and POST /free (a flag the prompt
    worker acts on), an out-of-memory error, every prompt with --disable-smart-memory. ComfyUI has
    already unloaded our models from the GPU by then (they are among its loaded models:
    `install_memory_hooks`). Every caller reaches it through the module's globals, so wrapping the
    attribute covers them all. Idempotent; does nothing (and imports nothing) outside ComfyUI.
    """
    import sys

    mm = sys.modules.get("comfy.model_management")
    if mm is None or getattr(mm, "unload_all_models", None) is None:
        return False
    original = mm.unload_all_models
    if getattr(original, _HOOKED_ATTR, False):
        return True

    def unload_all_models(*args, **kwargs):
        result = original(*args, **kwargs)
        try:
            from unison_runtime.api import get_manager

            released = get_manager().free()
            if released:
                log.info("ComfyUI-Unison: released %d cached model(s)", released)
        except Exception as err:  # never break ComfyUI's own memory management
            log.warning("ComfyUI-Unison: could not release cached models: %s", err)
        return result

    setattr(unload_all_models, _HOOKED_ATTR, True)
    unload_all_models.__wrapped__ = original
    unload_all_models.__doc__ = original.__doc__
    mm.unload_all_models = unload_all_models
    return True


def install_memory_hooks() -> bool:
    """Hand the runtime's model placement to ComfyUI's model management (`comfy_memory`: our models
    become ComfyUI's loaded models), and let the runtime read ComfyUI's device (so device "auto" is
    ComfyUI's device) and free memory (for its batching and VAE tiling choices). Idempotent; does
    nothing outside ComfyUI."""
    import sys

    mm = sys.modules.get("comfy.model_management")
    if mm is None or getattr(mm, "load_models_gpu", None) is None:
        return False
    from unison_runtime import api

    from . import comfy_memory

    api.set_free_memory_provider(lambda device: _comfy_free(mm, device))
    api.set_default_device_provider(lambda: _comfy_device(mm))
    if not isinstance(api.placement_host(), comfy_memory.ComfyPlacement):
        api.set_placement_host(comfy_memory.placement_host(mm))
    return True


def _comfy_free(mm, device: str):
    import torch

    if torch.device(device).type == "cpu":
        return None
    try:
        return int(mm.get_free_memory(torch.device(device)))
    except Exception:  # a device ComfyUI does not manage: let the runtime read it
        return None


def _comfy_device(mm) -> str | None:
    try:
        return str(mm.get_torch_device())
    except Exception:
        return None


def install_generator_backend() -> bool:
    """Make ComfyUI's own Wan VACE the runtime's generator backend (`comfy_generator`): the files a
    loader names load through comfy.sd as ComfyUI's core loaders load them, and generation runs on
    ComfyUI's sampler and memory manager. Idempotent; does nothing outside ComfyUI."""
    import sys

    if sys.modules.get("comfy.model_management") is None:
        return False
    from unison_runtime import api

    from . import comfy_generator

    if not isinstance(api.host_backend(), comfy_generator.ComfyBackend):
        api.set_host_backend(comfy_generator.ComfyBackend())
    return True


def on_first_run() -> None:
    """Cheap one-time set-up each node's function calls (also done at import when possible)."""
    register_model_folders()
    install_unload_hook()
    install_memory_hooks()
    install_generator_backend()
    ensure_sample_media()


# -- IS_CHANGED ------------------------------------------------------------------------------
def _stamp(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


def request_files_fingerprint(request: str) -> str:
    """A digest of the size and mtime of every `###file###` the request names (looked up as the
    runtime does: absolute, or under the input folder, then the pack's temp folder). ComfyUI
    re-runs a node whose IS_CHANGED value differs from the last run's, so editing or replacing
    a referenced file re-plans, while an unchanged request stays cached."""
    import hashlib
    import re

    names = re.findall(r"###(.+?)###", request or "")
    if not names:
        return ""
    roots = allowed_roots()
    parts = []
    for name in names:
        written = Path(name.strip())
        candidates = [written] if written.is_absolute() else [root / written for root in roots]
        path = next((c for c in candidates if c.exists()), candidates[0])
        parts.append(f"{name}={_stamp(path)}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def tree_fingerprint(paths) -> str:
    """A digest of the size and mtime of each path (None entries skipped) and, for folders,
    of the files directly inside them (cheap: no deep walk)."""
    import hashlib

    parts = []
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        parts.append(f"{path}={_stamp(path)}")
        if path.is_dir():
            try:
                parts.extend(f"{c.name}={_stamp(c)}" for c in sorted(path.iterdir()))
            except OSError:
                pass
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()
