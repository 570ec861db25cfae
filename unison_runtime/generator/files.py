"""Which file plays which part of a Wan2.1-VACE generator: the one reading of the layouts users
bring (DESIGN §7), shared by every generator backend (`generator.backend`: diffusers here,
ComfyUI's own loaders inside ComfyUI).

`resolve_files(...)` returns role → (kind, path) for the roles transformer, vae, text_encoder and
tokenizer (and a diffusers folder's scheduler). kind is "diffusers" (a component folder of a
diffusers-format release), "file" (a single checkpoint), "dir" (a tokenizer folder) or "spiece" (the
sentencepiece model a ComfyUI text-encoder file carries as its `spiece_model` tensor). A single file
given explicitly wins over a folder's; each single file's kind is judged from its key names before
anything loads, so a file in the wrong slot is named with what it looks like.

Nothing heavy is imported here (safetensors headers and mmap'd pickles only).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelLoadError
from ..file_memo import memo_on_files
from ..state_dicts import read_state_dict
from .checkpoints import describe_kind, identify_checkpoint, strip_prefix

# Wan's native release folder (Wan2.1-VACE-1.3B): file name of each role.
NATIVE_FILES = {
    "transformer": "diffusion_pytorch_model.safetensors",
    "vae": "Wan2.1_VAE.pth",
    "text_encoder": "models_t5_umt5-xxl-enc-bf16.pth",
    "tokenizer": "google/umt5-xxl",
}
SPIECE_FILE = "spiece.model"  # in a tokenizer folder: the sentencepiece model UMT5 tokenizes with
LABELS = {"transformer": "transformer", "vae": "VAE", "text_encoder": "text encoder"}
EXPECTED = {
    "transformer": ("wan_vace_transformer", "a Wan VACE transformer (e.g. wan2.1_vace_1.3B_fp16.safetensors)"),
    "vae": ("wan_vae", "the Wan 2.1 VAE (e.g. Wan2.1_VAE.pth or wan_2.1_vae.safetensors)"),
    "text_encoder": (
        ("umt5_encoder_hf", "umt5_encoder_native"),
        "a UMT5-XXL text encoder (e.g. umt5_xxl_fp16.safetensors or models_t5_umt5-xxl-enc-bf16.pth)",
    ),
}


def resolve_files(diffusers_dir=None, native_dir=None, transformer_file=None, text_encoder_file=None,
                  vae_file=None, tokenizer_dir=None) -> dict[str, tuple[str, Path]]:
    """role → (kind, path) for the given folders and files (see the module doc); one-line
    ModelLoadError for a missing path, a file of the wrong kind or a missing part."""
    sources: dict[str, tuple[str, Path]] = {}
    if diffusers_dir is not None:
        root = _existing(diffusers_dir, "diffusers folder")
        for role in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
            if (root / role).is_dir():
                sources[role] = ("diffusers", root / role)
    if native_dir is not None:
        root = _existing(native_dir, "native Wan folder")
        for role, name in NATIVE_FILES.items():
            if (root / name).exists() and role not in sources:
                sources[role] = ("dir" if role == "tokenizer" else "file", root / name)
    for role, value in (("transformer", transformer_file), ("text_encoder", text_encoder_file), ("vae", vae_file)):
        if value is not None:
            path = _existing(value, f"{role.replace('_', ' ')} file")
            if path.is_dir():
                raise ModelLoadError(f"{path} is a folder; the {role.replace('_', ' ')} slot takes a single file")
            sources[role] = ("file", path)
    if tokenizer_dir is not None:
        sources["tokenizer"] = ("dir", _existing(tokenizer_dir, "tokenizer folder"))
    for role in ("transformer", "vae", "text_encoder"):
        if role in sources and sources[role][0] == "file":
            check_kind(role, sources[role][1], file_keys(sources[role][1]))
    missing = [r for r in ("transformer", "vae", "text_encoder") if r not in sources]
    if missing:
        looked = [str(p) for p in (diffusers_dir, native_dir) if p is not None]
        raise ModelLoadError(
            f"no {', '.join(m.replace('_', ' ') for m in missing)} found"
            + (f" in {', '.join(looked)}" if looked else "")
            + "; give a diffusers folder, a native Wan folder, or the single files"
        )
    if "tokenizer" not in sources:
        kind, path = sources["text_encoder"]
        if not (kind == "file" and path.suffix == ".safetensors" and _has_tensor(path, "spiece_model")):
            raise ModelLoadError(
                f"no tokenizer: {path} carries no `spiece_model`; give `tokenizer_dir` (a google/umt5-xxl folder)"
            )
        sources["tokenizer"] = ("spiece", path)
    return sources


def check_kind(role: str, path: Path, keys) -> str:
    """The checkpoint kind of `keys` (`checkpoints.KINDS`) when it is what `role` takes, else a
    one-line ModelLoadError saying what the file looks like and what the slot expects."""
    kind = identify_checkpoint(keys)
    expected, what = EXPECTED[role]
    allowed = expected if isinstance(expected, tuple) else (expected,)
    if kind not in allowed:
        raise ModelLoadError(
            f"{path.name} looks like {describe_kind(kind)} ({kind}), but the {LABELS[role]} "
            f"slot expects {what}"
        )
    return kind


def spiece_model(tokenizer_dir: Path) -> bytes:
    """The sentencepiece model of a tokenizer folder (google/umt5-xxl), as bytes."""
    path = Path(tokenizer_dir) / SPIECE_FILE
    if not path.is_file():
        raise ModelLoadError(f"the tokenizer folder {tokenizer_dir} has no {SPIECE_FILE} (UMT5's sentencepiece "
                             "model, as google/umt5-xxl ships it)")
    return path.read_bytes()


def _existing(path, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelLoadError(f"{what} {p} does not exist")
    return p.resolve()


@memo_on_files
def file_keys(path: Path) -> tuple[str, ...]:
    """A checkpoint's tensor names without reading its tensors (safetensors header or mmap)."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                return tuple(f.keys())
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    return tuple(strip_prefix(k) for k in read_state_dict(path, mmap=True))


def _has_tensor(path: Path, name: str) -> bool:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return name in f.keys()
    except Exception:  # noqa: BLE001 - unreadable files are reported by the loader itself
        return False
