"""Single files load tensor by tensor into the target dtype: scaled fp8 dequantised with the same
values a whole-model float32 conversion gives, markers and scales dropped, non-float tensors kept,
a truncated file named; and a small load's peak host RAM stays near the model's size."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from benchmarks.loading_ram import SMALL, measure, write_checkpoints
from unison_runtime.errors import ModelLoadError
from unison_runtime.generator import streaming


def _fp8_file(path):
    g = torch.Generator().manual_seed(3)
    big = torch.randn(300, 70, generator=g)
    row_scaled = torch.randn(40, 9, generator=g)
    tensors = {
        "scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn),
        "a.weight": (big / 0.01).to(torch.float8_e4m3fn), "a.scale_weight": torch.tensor(0.0123),
        "a.scale_input": torch.tensor(1.0),
        "r.weight": row_scaled.to(torch.float8_e4m3fn), "r.scale_weight": torch.rand(40, 1, generator=g),
        "plain.weight": torch.randn(5, 6, generator=g).to(torch.bfloat16),
        "norm.weight": torch.randn(7, generator=g),
        "unscaled.weight": torch.randn(4, 4, generator=g).to(torch.float8_e5m2),
        "spiece_model": torch.arange(10, dtype=torch.uint8),
    }
    save_file(tensors, str(path))
    return tensors


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_streamed_fp8_conversion_equals_the_whole_model_float32_conversion(tmp_path, monkeypatch, dtype):
    monkeypatch.setattr(streaming, "_CHUNK_ELEMENTS", 1000)  # many chunks per tensor
    raw = _fp8_file(tmp_path / "te.safetensors")
    got = streaming.load_converted(tmp_path / "te.safetensors", dtype)
    assert set(got) == {"a.weight", "r.weight", "plain.weight", "norm.weight", "unscaled.weight", "spiece_model"}
    # the conversion the loader did before: every tensor to float32 (× its scale), then a cast
    expected = {
        "a.weight": raw["a.weight"].to(torch.float32) * raw["a.scale_weight"].to(torch.float32),
        "r.weight": raw["r.weight"].to(torch.float32) * raw["r.scale_weight"].to(torch.float32),
        "plain.weight": raw["plain.weight"], "norm.weight": raw["norm.weight"],
        "unscaled.weight": raw["unscaled.weight"].to(torch.float32),
    }
    for key, value in expected.items():
        assert got[key].dtype == dtype and torch.equal(got[key], value.to(dtype)), key
    assert got["spiece_model"].dtype == torch.uint8 and torch.equal(got["spiece_model"], raw["spiece_model"])


def test_a_truncated_file_is_named(tmp_path):
    path = tmp_path / "te.safetensors"
    _fp8_file(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 50])
    with pytest.raises(ModelLoadError, match="te.safetensors is truncated"):
        streaming.load_converted(path, torch.bfloat16)


def test_loading_a_small_encoder_grows_host_ram_by_about_its_size(tmp_path):
    """The full-size figures (a 24-layer, 1024-wide encoder) are `python -m benchmarks --only loading_ram`."""
    paths = write_checkpoints(tmp_path, SMALL)
    # At ~100 MB, allocator and thread start-up noise (+10-40 MB, never less) is a visible share:
    # the better of two loads is the figure.
    results = [measure(paths["comfy_fp8_scaled"]) for _ in range(2)]
    assert min(r["ratio"] for r in results) <= 1.3, results
