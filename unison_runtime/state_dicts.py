"""Reading checkpoint files into state dicts: the one place that opens `.pth` / `.bin` / `.pt`
pickles (always `weights_only=True`: a pickle's code never runs) and `.safetensors` files, and
turns every way they can be wrong into a `ModelLoadError` naming the file.
"""

from __future__ import annotations

import json
import re
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import ModelLoadError, UnisonError

DDP_PREFIX = "module."
# Training scripts nest the weights under one of these keys (the rest is optimizer state etc.).
_WRAPPERS = ("state_dict", "model", "module")


def read_state_dict(path: str | Path, *, strip_ddp: bool = False, mmap: bool = False) -> dict[str, Any]:
    """`{name: tensor}` on the CPU from a safetensors file or a torch.save'd dict.

    A `state_dict` / `model` / `module` wrapper is unwrapped. `strip_ddp` removes the `module.`
    prefix DDP training leaves (refusing a file that has a weight both with and without it).
    `mmap` maps a pickle's tensors instead of reading them (for looking at keys only).

    Weights (`*.weight` / `*.bias`) stored as bool or wide integers are refused (int8/uint8 stay:
    quantised formats use them; integer buffers such as position ids are not weights). Unless
    `mmap` (whose point is not to read the data), float tensors holding NaN or inf are refused.
    """
    path = Path(path)
    raw = _read_safetensors(path) if path.suffix.lower() == ".safetensors" else _read_pickle(path, mmap)
    raw = _unwrap(raw)
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{path} does not hold a state dict (found {type(raw).__name__})")
    _check_entries(raw, path)
    check_weight_values(raw, path, finite=not mmap)
    if not strip_ddp:
        return raw
    state = {k[len(DDP_PREFIX):] if k.startswith(DDP_PREFIX) else k: v for k, v in raw.items()}
    if len(state) != len(raw):  # both `module.x` and `x`: one would silently win
        raise ModelLoadError(f"{path} holds some weights twice, with and without the DDP 'module.' prefix")
    return state


def _unwrap(raw: Any) -> Any:
    if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):
        return raw["state_dict"]
    for wrapper in _WRAPPERS[1:]:
        if isinstance(raw, dict) and set(raw) == {wrapper} and isinstance(raw[wrapper], dict):
            return raw[wrapper]
    return raw


def _check_entries(raw: dict, path: Path) -> None:
    import torch

    odd = [str(k) for k, v in raw.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if odd:
        shown = ", ".join(odd[:5]) + (f" and {len(odd) - 5} more" if len(odd) > 5 else "")
        raise ModelLoadError(f"{path} is not a state dict of tensors: non-tensor entries {shown}")


def check_weight_values(state: dict, path: str | Path, finite: bool = True) -> None:
    """ModelLoadError for a weight of a non-float kind, or (with `finite`) a NaN/inf value."""
    import torch

    wrong = [k for k, v in state.items() if k.rsplit(".", 1)[-1] in ("weight", "bias")
             and v.dtype in (torch.bool, torch.int16, torch.int32, torch.int64)]
    if wrong:
        raise ModelLoadError(f"{path} stores the weight {wrong[0]} as {state[wrong[0]].dtype} "
                             f"({len(wrong)} such tensor(s)); model weights must be floating point: "
                             "a damaged or converted-by-mistake checkpoint?")
    if not finite:
        return
    for key, tensor in state.items():
        if tensor.is_floating_point() and tensor.numel() and not _all_finite(tensor):
            raise ModelLoadError(f"{path} holds NaN or infinite values in {key}; the checkpoint is "
                                 "damaged (or was saved from a diverged training run)")


def _all_finite(tensor) -> bool:
    import torch

    if tensor.element_size() == 1:  # float8 has no isfinite kernel: test the bit patterns
        bits = tensor.view(torch.uint8)
        if tensor.dtype == getattr(torch, "float8_e5m2", None):  # exponent all ones: inf or NaN
            return not bool(((bits & 0x7C) == 0x7C).any())
        return not bool(((bits & 0x7F) == 0x7F).any())  # e4m3fn: only NaN, S.1111.111
    return bool(torch.isfinite(tensor).all())


@contextmanager
def load_errors(what: str, path: str | Path) -> Iterator[None]:
    """Turn a library's failure to read model files (a truncated safetensors, a pickle that
    weights_only refuses, a config that is not JSON) into one ModelLoadError line naming them."""
    import pickle

    from safetensors import SafetensorError

    try:
        yield
    except UnisonError:
        raise
    except (OSError, ValueError, RuntimeError, EOFError, KeyError, pickle.UnpicklingError,
            SafetensorError) as err:
        raise ModelLoadError(f"cannot load the {what} from {path}: {explain_load_error(err)}") from err


def explain_load_error(err: BaseException) -> str:
    """One line saying why a checkpoint could not be read."""
    found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
    if found is not None:
        return (f"it holds the Python object {found.group(1)}, and only plain state dicts of tensors "
                "are loaded (torch.load weights_only=True)")
    if isinstance(err, json.JSONDecodeError):
        return f"a configuration file is not valid JSON ({err})"
    return _first_line(err)


def _read_pickle(path: Path, mmap: bool):
    import pickle

    import torch

    if not path.is_file():
        raise ModelLoadError(f"checkpoint not found: {path}")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        if "Unsupported global" not in str(err):
            raise ModelLoadError(f"{path} is not a readable PyTorch checkpoint ({_first_line(err)})") from err
        raise ModelLoadError(f"{path} was refused: {explain_load_error(err)}") from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise ModelLoadError(f"{path} is not a readable PyTorch checkpoint ({_first_line(err)})") from err


def _read_safetensors(path: Path):
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as err:
        raise ModelLoadError(f"{path} is not a readable safetensors file ({err})") from err


def _first_line(err: Exception) -> str:
    """torch's weights_only errors bury the reason after "WeightsUnpickler error:"; show just that."""
    text = str(err)
    _, marker, rest = text.partition("WeightsUnpickler error:")
    lines = [line.strip() for line in (rest if marker else text).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


# -- safetensors headers (cheap checks without reading tensors) ------------------------------------
def weight_index(folder: Path) -> dict[str, tuple[Path, dict]]:
    """tensor name -> (file, header entry) over the folder's safetensors (sharded or not)."""
    index_path = folder / "model.safetensors.index.json"
    if index_path.is_file():
        try:
            weight_map = json.loads(index_path.read_text(encoding="utf-8")).get("weight_map", {})
        except (OSError, ValueError, AttributeError) as exc:
            raise ModelLoadError(f"cannot read {index_path}: {exc}") from exc
        files = sorted({folder / f for f in weight_map.values()})
    else:
        files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ModelLoadError(f"{folder} has no *.safetensors weights")
    tensors: dict[str, tuple[Path, dict]] = {}
    for path in files:
        if not path.is_file():
            raise ModelLoadError(f"weight shard {path.name} listed in {index_path.name} is missing")
        for name, entry in safetensors_header(path).items():
            if name != "__metadata__":
                tensors[name] = (path, entry)
    return tensors


def safetensors_header(path: Path) -> dict:
    """The parsed header; ModelLoadError when the file is truncated or not safetensors."""
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > size - 8 or length > 100_000_000:
                raise ValueError("header length exceeds the file")
            header = json.loads(handle.read(length))
        data_size = size - 8 - length
        for name, entry in header.items():
            if name != "__metadata__" and entry["data_offsets"][1] > data_size:
                raise ValueError(f"tensor {name} lies past the end of the file")
    except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"corrupt safetensors file {path}: {exc}") from exc
    return header
