"""Peak host RAM while loading a text encoder from each single-file format (issue 15, item 6).

A UMT5 encoder of a chosen size is written as ComfyUI's scaled-fp8 `.safetensors`, as an fp16
`.safetensors` and as Wan's native bf16 `.pth`; each is then loaded by the runtime's own loader
(`generator.loading._load_text_encoder`, bfloat16) in a fresh interpreter that reports its resident
memory before the load and its peak after. The figure is peak growth ÷ the loaded model's size in
the target dtype. A naive whole-model float32 conversion (what the loader did before streaming) is
measured the same way for comparison.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The mid-size model: 24 layers at width 1024 (T5-large's encoder sizes), ~340 M parameters.
MID = {"layers": 24, "width": 1024, "d_ff": 2816, "vocab": 32128, "heads": 16}
SMALL = {"layers": 4, "width": 768, "d_ff": 2048, "vocab": 32128, "heads": 12}
FORMATS = ("comfy_fp8_scaled", "comfy_fp16", "native_bf16_pth")


def _hf_state(size: dict, seed: int = 0) -> dict:
    import torch

    g = torch.Generator().manual_seed(seed)
    w, f, heads = size["width"], size["d_ff"], size["heads"]

    def rand(*shape):
        return torch.randn(*shape, generator=g) * 0.02

    state = {"shared.weight": rand(size["vocab"], w), "encoder.final_layer_norm.weight": torch.ones(w)}
    for i in range(size["layers"]):
        p = f"encoder.block.{i}.layer."
        for name in ("q", "k", "v", "o"):
            state[f"{p}0.SelfAttention.{name}.weight"] = rand(w, w)
        state[f"{p}0.SelfAttention.relative_attention_bias.weight"] = rand(32, heads)
        state[f"{p}0.layer_norm.weight"] = torch.ones(w)
        state[f"{p}1.DenseReluDense.wi_0.weight"] = rand(f, w)
        state[f"{p}1.DenseReluDense.wi_1.weight"] = rand(f, w)
        state[f"{p}1.DenseReluDense.wo.weight"] = rand(w, f)
        state[f"{p}1.layer_norm.weight"] = torch.ones(w)
    return state


def write_checkpoints(folder: Path, size: dict) -> dict[str, Path]:
    """The same random encoder in the three single-file formats; returns format → path."""
    import torch
    from safetensors.torch import save_file

    from unison_runtime.generator.native_t5 import hf_to_native

    folder.mkdir(parents=True, exist_ok=True)
    state = _hf_state(size)
    paths = {f: folder / name for f, name in (("comfy_fp8_scaled", "umt5_fp8_scaled.safetensors"),
                                               ("comfy_fp16", "umt5_fp16.safetensors"),
                                               ("native_bf16_pth", "models_t5_umt5-enc-bf16.pth"))}
    fp8 = {"scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn)}
    for key, value in state.items():
        if value.ndim == 2 and "relative_attention_bias" not in key and key != "shared.weight":
            scale = value.abs().max() / 448.0
            fp8[key] = (value / scale).to(torch.float8_e4m3fn)
            fp8[key[: -len("weight")] + "scale_weight"] = scale.reshape(())
        else:
            fp8[key] = value.to(torch.bfloat16)
    save_file(fp8, str(paths["comfy_fp8_scaled"]))
    del fp8
    save_file({k: v.half() for k, v in state.items()}, str(paths["comfy_fp16"]))
    torch.save({k: v.to(torch.bfloat16) for k, v in hf_to_native(state).items()}, str(paths["native_bf16_pth"]))
    return paths


_PROBE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import gc, torch, transformers, safetensors.torch  # imported before the baseline: only the load counts
from transformers import UMT5Config, UMT5EncoderModel
from unison_runtime.generator import loading, native_t5, streaming
from unison_runtime.models import module_bytes
from unison_runtime import state_dicts
UMT5EncoderModel(UMT5Config(vocab_size=8, d_model=8, d_kv=4, d_ff=8, num_layers=1, num_heads=2))  # warm up
gc.collect()

def status(field):  # VmRSS now, VmHWM the peak of this process's own memory (ru_maxrss
    # would include the parent's peak: Linux carries it across fork + exec)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(field + ":"))

try:  # start the peak from here (Linux >= 4.0); VmHWM otherwise counts from exec
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
path, how = sys.argv[2], sys.argv[3]
before = status("VmRSS")
if how == "runtime":
    model = loading._load_text_encoder("file", __import__("pathlib").Path(path), torch.bfloat16)
    size = module_bytes(model)
else:  # before streaming: the whole state dict in float32, then a cast per tensor
    from unison_runtime.state_dicts import read_state_dict
    state = read_state_dict(__import__("pathlib").Path(path))
    scales = {k[: -len("scale_weight")]: v for k, v in state.items() if k.endswith("scale_weight")}
    full = {k: (v.float() * scales.get(k[: -len("weight")], 1.0)) for k, v in state.items()
            if v.is_floating_point() and not k.endswith("scale_weight") and v.numel()}
    del state
    model = {k: v.to(torch.bfloat16) for k, v in full.items()}
    size = 0  # the caller divides by the runtime's model size
peak = status("VmHWM")
print(json.dumps({"before": before, "peak": peak, "size": size}))
"""


def measure(path: Path, how: str = "runtime", model_bytes: int = 0) -> dict[str, Any]:
    """Peak RSS growth of loading `path` in a fresh interpreter, as a ratio of the bf16 model size."""
    out = subprocess.run([sys.executable, "-c", _PROBE, str(ROOT), str(path), how], capture_output=True,
                         text=True, timeout=600, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    growth = max(0, data["peak"] - data["before"])
    size = data["size"] or model_bytes
    return {"model_mb": round(size / 2**20, 1), "peak_growth_mb": round(growth / 2**20, 1),
            "ratio": round(growth / size, 3)}


def measure_all(folder: Path, size: dict = MID, naive: bool = True) -> dict[str, Any]:
    paths = write_checkpoints(folder, size)
    rows = {fmt: measure(path) for fmt, path in paths.items()}
    if naive:
        size_bytes = int(rows["comfy_fp8_scaled"]["model_mb"] * 2**20)
        rows["comfy_fp8_scaled, whole-model float32 (before)"] = measure(paths["comfy_fp8_scaled"], "naive", size_bytes)
    params = sum(v.numel() for v in _hf_state({**size, "layers": 0}).values())  # embedding + final norm
    return {"size": size, "rows": rows, "embedding_params": params}
