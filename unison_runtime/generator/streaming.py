"""Reading a single-file checkpoint straight into the target dtype, one tensor at a time.

Host RAM while loading stays near the model's size in the target dtype: a `.safetensors` file is
read tensor by tensor from its header's offsets (plain reads, not a memory map, so the file's
pages do not add to the process's resident memory), each tensor converted as soon as it is read.
ComfyUI's scaled-fp8 files (`<layer>.weight` fp8 × `<layer>.scale_weight`, a `scaled_fp8` marker)
are dequantised in row chunks, so no float32 copy of a tensor, let alone of the model, exists.
The arithmetic is the usual one: `(weight.float() * scale.float()).to(dtype)`, elementwise, so the
values equal a whole-model float32 conversion followed by a cast.

Pickles (`.pth`) are memory-mapped by torch and converted per tensor; a tensor already in the
target dtype is used in place.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import ModelLoadError

if TYPE_CHECKING:  # pragma: no cover
    import torch

_SAFETENSORS_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
    "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
}
_CHUNK_ELEMENTS = 2**20  # float32 working set of a dequantised chunk: 4 MB (small transients fragment less)
_MARKERS = ("scaled_fp8",)
_SCALE_SUFFIXES = (".scale_weight", ".scale_input")


def safetensors_header(path: Path) -> tuple[dict[str, dict], int]:
    """(tensor name → {dtype, shape, data_offsets}, where the data starts) from the file's header."""
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
    except (OSError, ValueError, struct.error) as exc:
        raise ModelLoadError(f"cannot read {path}: not a readable safetensors file ({exc})") from exc
    header.pop("__metadata__", None)
    return header, 8 + length


def iter_safetensors(path: Path, names=None, target=None) -> Iterator[tuple[str, "torch.Tensor"]]:
    """Each tensor (or each of `names`) read on its own, in file order.

    With `target` (a dtype), a tensor stored in it is read straight into its own new tensor and
    any other is read into one reused scratch buffer: the yielded view is valid until the next
    item, so convert it before asking for the next. No per-tensor temporary is allocated."""
    import torch

    header, start = safetensors_header(path)
    wanted = sorted((k for k in header if names is None or k in names), key=lambda k: header[k]["data_offsets"][0])
    scratch = torch.empty(0, dtype=torch.uint8)
    with open(path, "rb") as f:
        for name in wanted:
            info = header[name]
            begin, end = info["data_offsets"]
            dtype = getattr(torch, _SAFETENSORS_DTYPES[info["dtype"]])
            if target is None or dtype == target:
                raw = torch.empty(end - begin, dtype=torch.uint8)
            else:
                if scratch.numel() < end - begin:
                    scratch = torch.empty(end - begin, dtype=torch.uint8)
                raw = scratch[: end - begin]
            f.seek(start + begin)
            if f.readinto(memoryview(raw.numpy())) != end - begin:
                raise ModelLoadError(f"{path.name} is truncated: tensor {name} ends past the end of the file")
            yield name, raw.view(dtype).reshape(info["shape"])


def load_converted(path: Path, dtype: "torch.dtype") -> dict[str, "torch.Tensor"]:
    """The file's tensors with floating ones in `dtype`, scaled fp8 dequantised; markers and
    scales dropped; non-floating tensors (e.g. ComfyUI's `spiece_model`) kept as stored."""
    if path.suffix.lower() != ".safetensors":
        from ..state_dicts import read_state_dict

        state = read_state_dict(path, mmap=True)
        return {k: _cast(v, dtype) for k, v in state.items() if k not in _MARKERS}
    header, _ = safetensors_header(path)
    scale_names = {k for k in header if k.endswith(".scale_weight")}
    scales = dict(iter_safetensors(path, scale_names)) if scale_names else {}
    keep = {k for k in header if k not in _MARKERS and not k.endswith(_SCALE_SUFFIXES)}
    out = {}
    for name, tensor in iter_safetensors(path, keep, target=dtype):
        scale = scales.get(name[: -len("weight")] + "scale_weight") if name.endswith(".weight") else None
        value = _dequantize(tensor, scale, dtype) if scale is not None else _cast(tensor, dtype)
        # A view of the scratch buffer (a non-float tensor stored as is) must not outlive the loop.
        out[name] = value.clone() if value.data_ptr() == tensor.data_ptr() and tensor.dtype != dtype else value
    return out


def _cast(tensor, dtype):
    import torch

    if not tensor.is_floating_point():
        return tensor
    if tensor.dtype in (torch.float8_e4m3fn, torch.float8_e5m2):  # as a whole-model fp32 pass would
        return _dequantize(tensor, None, dtype)
    return tensor.to(dtype)


def _dequantize(weight, scale, dtype):
    """`(weight.float() * scale.float()).to(dtype)`, computed a chunk of rows at a time."""
    import torch

    out = torch.empty(weight.shape, dtype=dtype)
    flat_in, flat_out = weight.reshape(weight.shape[0] if weight.ndim else 1, -1), out.view(out.shape[0] if out.ndim else 1, -1)
    rows = max(1, _CHUNK_ELEMENTS // max(1, flat_in.shape[1]))
    factor = scale.to(torch.float32) if scale is not None else None
    per_row = factor is not None and factor.numel() > 1  # a row-wise scale [out, 1] (or [out])
    if per_row:
        factor = factor.reshape(-1, 1)
    for a in range(0, flat_in.shape[0], rows):
        chunk = flat_in[a : a + rows].to(torch.float32)
        if factor is not None:
            chunk = chunk * (factor[a : a + rows] if per_row else factor)
        flat_out[a : a + rows] = chunk.to(dtype)
    return out


def has_scaled_fp8(keys: Any) -> bool:
    return any(k in _MARKERS or k.endswith(".scale_weight") for k in keys)
