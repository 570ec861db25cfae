"""The projector: loading the three release-format files, and its forward pass checked against a
from-scratch computation with torch.nn.functional on the raw state dict."""

from __future__ import annotations

import math
import os

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from unison_runtime import layout
from unison_runtime.demo_models import projector as demo
from unison_runtime.errors import GenerationError, ModelLoadError
from unison_runtime.models import get_manager
from unison_runtime.projector import PROJECTOR_KEYS, Projector, load_projector, new_projector

H, W = demo.TINY_PLANNER_HIDDEN, demo.TINY_TEXT_WIDTH


@pytest.fixture(scope="module")
def files(projector_models):
    return {
        "pth": projector_models / layout.PROJECTOR,
        "ddp": projector_models / demo.DDP_FILE,
        "safetensors": projector_models / demo.SAFETENSORS_FILE,
    }


@pytest.fixture(scope="module")
def raw_state(files):
    return torch.load(files["pth"], weights_only=True)


def reference_forward(state: dict, hidden: torch.Tensor) -> torch.Tensor:
    """DESIGN §4 written out with functional ops (independent of the module's code)."""
    x = hidden.float()
    x = F.layer_norm(x, (x.shape[-1],), state["ln_in.weight"], state["ln_in.bias"], eps=1e-5)
    x = F.linear(x, state["net.0.weight"], state["net.0.bias"])
    x = 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))  # exact GELU; dropout is identity in eval
    x = F.linear(x, state["net.3.weight"], state["net.3.bias"])
    x = F.layer_norm(x, (x.shape[-1],), state["ln_out.weight"], state["ln_out.bias"], eps=1e-5)
    seq_len = state["seq_adjust.weight"].shape[1]
    if x.shape[1] < seq_len:
        x = torch.cat([x, x.new_zeros(x.shape[0], seq_len - x.shape[1], x.shape[2])], dim=1)
    x = x[:, :seq_len]
    # out[b, k, w] = sum_l A[k, l] x[b, l, w] + c[k]
    return torch.einsum("kl,blw->bkw", state["seq_adjust.weight"], x) + state["seq_adjust.bias"][None, :, None]


def hidden_states(length: int, batch: int = 2, seed: int = 1, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, length, H, generator=g).to(dtype)


def test_demo_files_use_release_key_names(raw_state, files):
    assert set(raw_state) == set(PROJECTOR_KEYS)
    assert raw_state["net.0.weight"].shape == (H, H)
    assert raw_state["net.3.weight"].shape == (W, H)
    assert raw_state["seq_adjust.weight"].shape == (4, 56)
    ddp = torch.load(files["ddp"], weights_only=True)
    assert all(k.startswith("module.") for k in ddp)


@pytest.mark.parametrize("kind", ["pth", "ddp", "safetensors"])
def test_every_format_loads_to_the_same_weights(files, raw_state, kind):
    projector = load_projector(files[kind], planner_hidden=H, text_width=W)
    assert isinstance(projector, Projector) and not projector.training
    assert (projector.planner_hidden, projector.text_width) == (H, W)
    for name, tensor in projector.state_dict().items():
        assert torch.equal(tensor, raw_state[name]), name


@pytest.mark.parametrize("length", [1, 17, 56, 90])
def test_forward_matches_independent_computation(files, raw_state, length):
    projector = load_projector(files["pth"])
    hidden = hidden_states(length)
    out = projector(hidden)
    assert out.shape == (2, 4, W)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, reference_forward(raw_state, hidden), rtol=1e-5, atol=1e-5)


def test_input_is_cast_to_float32(files, raw_state):
    projector = load_projector(files["pth"])
    hidden = hidden_states(9, dtype=torch.bfloat16)
    out = projector(hidden)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, reference_forward(raw_state, hidden), rtol=1e-5, atol=1e-5)


def test_short_sequences_are_padded_with_zero_rows(files):
    """Padding is after ln_out: appending zero rows to the *projected* sequence is a no-op.

    So a length-L input gives the same output as feeding L tokens and letting the remaining
    56-L seq_adjust columns see zeros, i.e. those columns do not influence the result."""
    projector = load_projector(files["pth"])
    hidden = hidden_states(10)
    base = projector(hidden)
    # Changing the weights that act on the padded positions must not change the output.
    with torch.no_grad():
        saved = projector.seq_adjust.weight.clone()
        projector.seq_adjust.weight[:, 10:] = 123.0
        try:
            torch.testing.assert_close(projector(hidden), base)
            projector.seq_adjust.weight[:, 9] += 1.0  # …while a real position does matter
            assert not torch.allclose(projector(hidden), base)
        finally:
            projector.seq_adjust.weight.copy_(saved)


def test_long_sequences_are_truncated_to_the_first_56_tokens(files):
    projector = load_projector(files["pth"])
    hidden = hidden_states(80)
    tail_changed = hidden.clone()
    tail_changed[:, 56:] = torch.randn(2, 24, H)
    torch.testing.assert_close(projector(hidden), projector(tail_changed))
    torch.testing.assert_close(projector(hidden), projector(hidden[:, :56]))
    head_changed = hidden.clone()
    head_changed[:, 55] = torch.randn(2, H)  # (a constant shift would vanish in ln_in)
    assert not torch.allclose(projector(head_changed), projector(hidden))


def test_batch_items_are_independent(files):
    projector = load_projector(files["pth"])
    hidden = hidden_states(12, batch=3)
    torch.testing.assert_close(projector(hidden)[1:2], projector(hidden[1:2]))


def test_wrong_input_width_is_rejected(files):
    projector = load_projector(files["pth"])
    with pytest.raises(GenerationError, match=f"{H}"):
        projector(torch.zeros(1, 5, H + 1))


@pytest.mark.parametrize(
    "kwargs, numbers",
    [({"planner_hidden": 2048}, ("2048", str(H))), ({"text_width": 4096}, ("4096", str(W)))],
)
def test_mismatched_widths_name_both_numbers(files, kwargs, numbers):
    with pytest.raises(ModelLoadError) as info:
        load_projector(files["pth"], **kwargs)
    for number in numbers:
        assert number in str(info.value)


def test_second_load_hits_the_cache(files):
    manager = get_manager()
    first = load_projector(files["safetensors"])
    count = manager.load_count("projector")
    second = load_projector(files["safetensors"], planner_hidden=H)
    assert second is first
    assert manager.load_count("projector") == count


def test_replaced_file_is_loaded_again(tmp_path, raw_state):
    path = tmp_path / "p.safetensors"
    save_file(raw_state, str(path))
    first = load_projector(path)
    changed = dict(raw_state, **{"net.0.bias": raw_state["net.0.bias"] + 1.0})
    before = path.stat().st_mtime_ns
    save_file(changed, str(path))
    os.utime(path, ns=(before + 10**9, before + 10**9))  # coarse file-system clocks: make it differ
    second = load_projector(path)
    assert second is not first
    assert torch.equal(second.net[0].bias, changed["net.0.bias"])
    get_manager().free("projector")


def test_state_dict_wrapper_is_tolerated(tmp_path, raw_state):
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in raw_state.items()}, "epoch": 3}, path)
    projector = load_projector(path)
    assert torch.equal(projector.ln_out.weight, raw_state["ln_out.weight"])


def test_pickle_with_arbitrary_objects_is_refused(tmp_path, raw_state):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": raw_state, "config": Marker()}, path)
    Marker.constructed = 0
    with pytest.raises(ModelLoadError, match="weights_only"):
        load_projector(path)
    assert Marker.constructed == 0  # the object was never rebuilt


class Marker:
    """Unpickling it runs `_build_marker`: the code weights_only must never execute."""

    constructed = 0

    def __reduce__(self):
        return (_build_marker, ())


def _build_marker():
    Marker.constructed += 1
    return Marker()


def test_transformer_checkpoint_is_named_as_not_a_projector(tmp_path):
    path = tmp_path / "transformer.safetensors"
    transformer = {"blocks.0.self_attn.q.weight": torch.zeros(4, 4), "patch_embedding.weight": torch.zeros(2, 2)}
    save_file(transformer, str(path))
    with pytest.raises(ModelLoadError, match="not a Unison projector") as info:
        load_projector(path)
    assert "blocks.0.self_attn.q.weight" in str(info.value)


def test_missing_and_unexpected_keys_are_named(tmp_path, raw_state):
    state = {k: v for k, v in raw_state.items() if k != "ln_out.bias"}
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial.safetensors"
    save_file(state, str(path))
    with pytest.raises(ModelLoadError) as info:
        load_projector(path)
    assert "ln_out.bias" in str(info.value) and "extra.weight" in str(info.value)


def test_inconsistent_shapes_are_named(tmp_path, raw_state):
    state = dict(raw_state, **{"ln_in.weight": torch.ones(H + 2)})
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    with pytest.raises(ModelLoadError, match=r"ln_in.weight \[66\] \(expected \[64\]\)"):
        load_projector(path)


def test_sizes_are_read_from_the_checkpoint(tmp_path):
    other = new_projector(16, 24, seq_len=8, num_tokens=3)
    path = tmp_path / "small.pth"
    torch.save(other.state_dict(), path)
    projector = load_projector(path, planner_hidden=16, text_width=24)
    assert projector(torch.randn(1, 5, 16)).shape == (1, 3, 24)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.pth", None, "not found"),
        ("notes.txt", b"hello", "unsupported projector file type"),
        ("garbage.pth", b"not a zip", "not a readable PyTorch checkpoint"),
        ("garbage.safetensors", b"\x00" * 16, "not a readable safetensors"),
    ],
)
def test_unreadable_files_are_reported(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=message):
        load_projector(path)


def test_plain_pickle_of_a_tensor_list_is_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(ModelLoadError, match="does not hold a state dict"):
        load_projector(path)


def test_demo_build_is_deterministic(tmp_path):
    a = demo.random_state_dict(5)
    b = demo.random_state_dict(5)
    c = demo.random_state_dict(6)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["net.0.weight"], c["net.0.weight"])
    paths = demo.build(tmp_path, 5)
    written = [p.relative_to(tmp_path).as_posix() for p in paths]
    assert written == [layout.PROJECTOR, demo.DDP_FILE, demo.SAFETENSORS_FILE]
    assert torch.equal(torch.load(paths[0], weights_only=True)["net.0.weight"], a["net.0.weight"])


def test_non_string_keys_and_doubled_ddp_keys_are_refused(tmp_path):
    import torch

    odd = tmp_path / "odd.pth"
    torch.save({1: torch.zeros(2)}, odd)
    with pytest.raises(ModelLoadError, match="non-tensor"):
        load_projector(odd)
    doubled = tmp_path / "doubled.pth"
    torch.save({"ln_in.weight": torch.zeros(2), "module.ln_in.weight": torch.ones(2)}, doubled)
    with pytest.raises(ModelLoadError, match="twice"):
        load_projector(doubled)
