"""load_generator: every layout loads the same model; wrong or incomplete files are named."""

from __future__ import annotations

import re

import importlib.util
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from unison_runtime import layout
from unison_runtime.demo_models.generator import COMFY_ROOT
from unison_runtime.errors import ModelLoadError
from unison_runtime.generator import conditioning
from unison_runtime.generator.inputs import GenerationInputs, SamplerSettings
from unison_runtime.generator.loading import GeneratorModels, load_generator
from unison_runtime.generator.sampling import generate
from unison_runtime.models import get_manager


def comfy(root: Path) -> dict:
    c = root / COMFY_ROOT
    return {
        "transformer_file": c / layout.COMFY_DIFFUSION_MODELS / layout.COMFY_TRANSFORMER_FILE,
        "text_encoder_file": c / layout.COMFY_TEXT_ENCODERS / layout.COMFY_TEXT_ENCODER_FILE,
        "vae_file": c / layout.COMFY_VAE / layout.COMFY_VAE_FILE,
    }


@pytest.fixture(scope="module")
def loaded(generator_models) -> dict[str, GeneratorModels]:
    files = comfy(generator_models)
    fp8 = dict(files, text_encoder_file=files["text_encoder_file"].with_name(layout.COMFY_TEXT_ENCODER_FP8_FILE))
    return {
        "diffusers": load_generator(generator_models / layout.GENERATOR_DIFFUSERS, device="cpu"),
        "native": load_generator(native_dir=generator_models / layout.GENERATOR_NATIVE, device="cpu"),
        "comfy_fp16": load_generator(**files, device="cpu"),
        "comfy_fp8": load_generator(**fp8, device="cpu"),
    }


def test_every_layout_loads_identical_weights(loaded):
    ref = loaded["diffusers"]
    assert ref.transformer.config.vace_layers == [0, 2]
    assert set(ref.torch_modules()) == {"transformer", "vae", "text_encoder"}
    assert ref.text_width == 32
    for name, other in loaded.items():
        for part, module in ref.torch_modules().items():
            mine, theirs = module.state_dict(), other.torch_modules()[part].state_dict()
            assert set(mine) == set(theirs), (name, part)
            assert all(torch.equal(mine[k], theirs[k].to(mine[k].dtype)) for k in mine), (name, part)
        assert other.transformer.config.num_layers == 4 and other.transformer.config.num_attention_heads == 1


def test_every_layout_tokenizes_alike_and_the_comfy_tokenizer_comes_from_the_file(loaded):
    text = "a red car <IMGPAD> at night 色调艳丽"
    ids = {name: m.tokenizer(text).input_ids for name, m in loaded.items()}
    assert len(set(map(tuple, ids.values()))) == 1
    assert loaded["comfy_fp16"].sources["tokenizer"].endswith(layout.COMFY_TEXT_ENCODER_FILE)


def test_every_layout_generates_the_same_frames(loaded):
    outputs = []
    for models in loaded.values():
        context = conditioning.encode_context(models, "a cat on a mat", torch.ones(4, 32))
        inputs = GenerationInputs(context=context, width=32, height=32, num_frames=1)
        outputs.append(generate(models, inputs, SamplerSettings(steps=1, seed=3)))
    for out in outputs[1:]:
        assert torch.equal(out, outputs[0])


def test_a_repeated_identical_call_loads_nothing(generator_models, loaded):
    before = get_manager().load_count("generator")
    again = load_generator(generator_models / layout.GENERATOR_DIFFUSERS, device="cpu")
    assert again is loaded["diffusers"]
    assert get_manager().load_count("generator") == before


def test_a_file_of_the_wrong_kind_is_named(generator_models):
    files = comfy(generator_models)
    with pytest.raises(ModelLoadError, match=r"looks like a UMT5/T5 text encoder.*transformer slot expects"):
        load_generator(**dict(files, transformer_file=files["text_encoder_file"]), device="cpu")
    with pytest.raises(ModelLoadError, match=r"looks like the Wan 2\.1 VAE.*text encoder slot expects"):
        load_generator(**dict(files, text_encoder_file=files["vae_file"]), device="cpu")
    with pytest.raises(ModelLoadError, match=r"looks like a Wan VACE diffusion transformer.*VAE slot"):
        load_generator(**dict(files, vae_file=files["transformer_file"]), device="cpu")


def test_a_plain_wan_transformer_is_refused(generator_models, tmp_path):
    files = comfy(generator_models)
    state = {k: v for k, v in load_file(files["transformer_file"]).items() if "vace" not in k}
    plain = tmp_path / "wan2.1_t2v_1.3B_fp16.safetensors"
    save_file(state, str(plain))
    with pytest.raises(ModelLoadError, match="without VACE blocks"):
        load_generator(**dict(files, transformer_file=plain), device="cpu")


def test_missing_tensors_are_named(generator_models, tmp_path):
    files = comfy(generator_models)
    state = load_file(files["transformer_file"])
    del state["blocks.1.cross_attn.k.weight"]
    broken = tmp_path / "transformer.safetensors"
    save_file(state, str(broken))
    with pytest.raises(ModelLoadError, match=r"missing 1 transformer tensor\(s\): blocks\.1\.cross_attn\.k\.weight"):
        load_generator(**dict(files, transformer_file=broken), device="cpu")

    vae = load_file(files["vae_file"])
    del vae["decoder.upsamples.4.shortcut.weight"]
    broken_vae = tmp_path / "vae.safetensors"
    save_file(vae, str(broken_vae))
    with pytest.raises(ModelLoadError, match=r"decoder\.upsamples\.4\.shortcut\.weight"):
        load_generator(**dict(files, vae_file=broken_vae), device="cpu")

    te = load_file(files["text_encoder_file"])
    del te["encoder.block.1.layer.1.DenseReluDense.wo.weight"]
    broken_te = tmp_path / "te.safetensors"
    save_file(te, str(broken_te))
    with pytest.raises(ModelLoadError, match=r"encoder\.block\.1\.layer\.1\.DenseReluDense\.wo\.weight"):
        load_generator(**dict(files, text_encoder_file=broken_te), device="cpu")


@pytest.mark.parametrize("key", ["head.head.weight", "text_embedding.0.weight", "patch_embedding.weight"])
def test_missing_tensors_that_size_the_model_are_named_too(generator_models, tmp_path, key):
    files = comfy(generator_models)
    state = load_file(files["transformer_file"])
    del state[key]
    broken = tmp_path / "transformer.safetensors"
    save_file(state, str(broken))
    with pytest.raises(ModelLoadError, match=re.escape(key)):
        load_generator(**dict(files, transformer_file=broken), device="cpu")


def test_a_text_encoder_without_spiece_needs_a_tokenizer_folder(generator_models, tmp_path):
    files = comfy(generator_models)
    te = {k: v for k, v in load_file(files["text_encoder_file"]).items() if k != "spiece_model"}
    bare = tmp_path / "umt5_xxl_fp16.safetensors"
    save_file(te, str(bare))
    with pytest.raises(ModelLoadError, match="tokenizer_dir"):
        load_generator(**dict(files, text_encoder_file=bare), device="cpu")
    tok_dir = generator_models / layout.GENERATOR_NATIVE / "google" / "umt5-xxl"
    models = load_generator(**dict(files, text_encoder_file=bare), tokenizer_dir=tok_dir, device="cpu")
    assert models.tokenizer("a cat").input_ids[-1] == 1


def test_bad_sources_and_options_are_refused(generator_models, tmp_path):
    with pytest.raises(ModelLoadError, match="no transformer, vae, text encoder found"):
        load_generator(device="cpu")
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_generator(tmp_path / "nowhere", device="cpu")
    with pytest.raises(ModelLoadError, match="unknown attention backend 'xformers'"):
        load_generator(generator_models / layout.GENERATOR_DIFFUSERS, attention_backend="xformers", device="cpu")
    if importlib.util.find_spec("flash_attn") is None:
        with pytest.raises(ModelLoadError, match="flash-attn"):
            load_generator(generator_models / layout.GENERATOR_DIFFUSERS, attention_backend="flash", device="cpu")
    with pytest.raises(ModelLoadError, match="unknown offload policy"):
        load_generator(generator_models / layout.GENERATOR_DIFFUSERS, offload_policy="sometimes", device="cpu")


def test_importing_the_package_imports_no_heavy_library():
    import subprocess
    import sys

    code = (
        "import sys, unison_runtime.generator, unison_runtime.generator.loading, "
        "unison_runtime.generator.sampling, unison_runtime.generator.inputs, unison_runtime.generator.conditioning; "
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
