"""Stage two's memory behaviour on the tiny generator: prompt and negative prompt in one encoder
block, the negative context and the all-zero video encoded once, the `auto` CFG/tiling choices,
no allocator flush on success, a one-frame preview copy, backends checked at load, compile."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from unison_runtime import layout
from unison_runtime.errors import ModelLoadError
from unison_runtime.generator import conditioning, loading, sampling
from unison_runtime.generator.inputs import GenerationInputs, SamplerSettings
from unison_runtime.generator.loading import load_generator
from unison_runtime.generator.memory import transformer_bytes, vae_bytes
from unison_runtime.models import ModelManager, get_manager

SIZE = 32


@pytest.fixture()
def models(generator_models):
    """A private copy (not the shared cache entry), so its reuse store starts empty."""
    loaded = loading._load_all(loading.resolve_files(generator_models / layout.GENERATOR_DIFFUSERS,
                                                        None, None, None, None, None), "cpu", "float32", "native")
    return loaded


class Count:
    def __init__(self, module, name="forward"):
        self.n, self.module, self.name = 0, module, name
        self.original = getattr(module, name)

    def __enter__(self):
        def counted(*args, **kwargs):
            self.n += 1
            return self.original(*args, **kwargs)

        setattr(self.module, self.name, counted)
        return self

    def __exit__(self, *exc):
        setattr(self.module, self.name, self.original)


def test_prompt_and_negative_are_encoded_in_one_block_and_the_negative_is_kept(models, monkeypatch):
    blocks = []
    real_use = ModelManager.use

    def spy(self, value, *names):
        blocks.append(names)
        return real_use(self, value, *names)

    monkeypatch.setattr(ModelManager, "use", spy)
    pos, neg = conditioning.encode_contexts(models, "a cat", None, "")
    assert blocks == [("text_encoder",)]
    assert torch.equal(pos, conditioning.build_context(conditioning.encode_text(models, "a cat")))
    assert torch.equal(neg, conditioning.build_context(
        conditioning.encode_text(models, conditioning.DEFAULT_NEGATIVE_PROMPT)))
    with Count(models.text_encoder) as t5:
        again_pos, again_neg = conditioning.encode_contexts(models, "a dog", None, "")
        assert t5.n == 1  # the prompt only: the default negative is kept on the models
        assert torch.equal(again_neg, neg) and torch.equal(conditioning.negative_context(models, " "), neg)
        assert t5.n == 1
        other = conditioning.negative_context(models, "blurry")  # another text is encoded
        assert t5.n == 2 and not torch.equal(other, neg)


def test_a_task_without_source_encodes_the_zero_video_once_and_reuses_it(models):
    ctx = conditioning.build_context(conditioning.encode_text(models, "x"))
    inputs = GenerationInputs(context=ctx, width=SIZE, height=SIZE, num_frames=5)
    settings = SamplerSettings(steps=1, negative_prompt="")
    with Count(models.vae, "encode") as enc:
        first = sampling.generate(models, inputs, settings)
        assert enc.n == 1
        second = sampling.generate(models, inputs, settings)
        assert enc.n == 1
    assert torch.equal(first, second)
    # the same latents the two encodings of zeros·(1−m) and zeros·m give
    zeros = torch.zeros(1, 3, 5, SIZE, SIZE)
    control, refs = sampling.prepare_control_latents(models, inputs)
    direct = sampling.encode_frames(models.vae, zeros)
    assert refs == 0 and torch.equal(control[:, :16], direct) and torch.equal(control[:, 16:32], direct)


def test_no_allocator_flush_on_success_one_on_failure(models, monkeypatch):
    flushes = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: flushes.append(1))
    ctx = conditioning.build_context(conditioning.encode_text(models, "x"))
    inputs = GenerationInputs(context=ctx, width=SIZE, height=SIZE)
    sampling.generate(models, inputs, SamplerSettings(steps=2, negative_prompt=""))
    assert flushes == []

    def boom(step, total, latents):
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(RuntimeError):
        sampling.generate(models, inputs, SamplerSettings(steps=2, negative_prompt=""), callback=boom)
    assert flushes == [1]


class _FreeIs:
    """`get_manager()` stand-in whose device reports `free` bytes; records notes."""

    def __init__(self, free):
        self.free, self.notes, self.real = free, [], get_manager()

    def device_free(self, device):
        return self.free

    def note(self, text):
        self.notes.append(text)

    def use(self, value, *names):
        return self.real.use(value, *names)


@pytest.mark.parametrize("free_gb, batched, tiled", [(None, True, False), (64, True, False), (0.001, False, True)])
def test_auto_cfg_batching_and_vae_tiling_follow_free_memory(models, monkeypatch, free_gb, batched, tiled):
    fake = _FreeIs(None if free_gb is None else int(free_gb * 2**30))
    monkeypatch.setattr(sampling, "get_manager", lambda: fake)
    ctx = conditioning.build_context(conditioning.encode_text(models, "x"))
    inputs = GenerationInputs(context=ctx, width=SIZE, height=SIZE)
    calls, tiling_seen = [], []
    handle = models.transformer.register_forward_pre_hook(lambda m, a, k: calls.append(k["hidden_states"].shape[0]),
                                                          with_kwargs=True)
    real_encode = models.vae.encode
    models.vae.encode = lambda *a, **k: (tiling_seen.append(models.vae.use_tiling), real_encode(*a, **k))[1]
    try:
        sampling.generate(models, inputs, SamplerSettings(steps=2, negative_prompt=""))
    finally:
        handle.remove()
        models.vae.encode = real_encode
    assert calls == ([2, 2] if batched else [1, 1, 1, 1])
    assert tiling_seen == [tiled] and models.vae.use_tiling is False  # restored after the run
    if free_gb is None:
        assert fake.notes == []  # nothing measured, nothing decided
    else:
        assert any(("batched" if batched else "separate passes") in n for n in fake.notes)
        assert any(("tiled" if tiled else "untiled") in n.split(":")[-1] for n in fake.notes)
    # an explicit setting wins over auto
    assert sampling.choose_batch_cfg(models, inputs, SamplerSettings(batch_cfg="on")) is True
    assert sampling.choose_vae_tiling(models, inputs, SamplerSettings(vae_tiling=False)) is False


def test_activation_estimates_grow_as_they_should(models):
    config, vae = loading._shipped_config("transformer"), loading._shipped_config("vae")  # the real 1.3B
    one = transformer_bytes(config, 832, 480, 81)
    assert 2.5 * 2**30 < one < 4 * 2**30  # see docs/PERFORMANCE.md for the arithmetic
    assert transformer_bytes(config, 832, 480, 81, batch=2) > 1.9 * one
    assert transformer_bytes(config, 832, 480, 161) > 1.8 * one
    assert vae_bytes(vae, 832, 480, 81, tiled=True) < 0.5 * vae_bytes(vae, 832, 480, 81)
    work = models.working_bytes()
    assert set(work) == {"transformer", "vae", "text_encoder"} and all(v > 0 for v in work.values())


def test_a_preview_copies_one_frame_to_the_cpu():
    latents = torch.randn(1, 16, 21, 6, 8)

    class Copies(TorchDispatchMode):
        sizes: list = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in (torch.ops.aten._to_copy.default, torch.ops.aten.clone.default):
                self.sizes.append(args[0].numel())
            return func(*args, **(kwargs or {}))

    with Copies() as mode:
        frame = sampling.preview_frame(latents)
    assert frame.shape == (1, 16, 1, 6, 8) and torch.equal(frame, latents[:, :, :1])
    assert all(n <= 16 * 6 * 8 for n in mode.sizes)


def test_attention_backends_are_checked_at_load(generator_models, monkeypatch):
    folder = generator_models / layout.GENERATOR_DIFFUSERS
    if importlib.util.find_spec("sageattention") is None:
        with pytest.raises(ModelLoadError, match="needs the sageattention package"):
            load_generator(folder, attention_backend="sage", device="cpu")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name in ("flash_attn", "flash_attn_interface", "sageattention")
                        else real(name, *a))
    with pytest.raises(ModelLoadError, match="'flash3' runs on a CUDA GPU only"):
        load_generator(folder, attention_backend="flash3", device="cpu")
    with pytest.raises(ModelLoadError, match="'flash' needs dtype float16 or bfloat16, not float32"):
        loading._check_attention_backend("flash", "cuda", "float32")
    assert loading._check_attention_backend("flash3", "cuda:0", "bfloat16") == "_flash_3"


def test_compile_wraps_the_repeated_blocks_and_is_part_of_the_key(generator_models):
    folder = generator_models / layout.GENERATOR_DIFFUSERS
    plain = load_generator(folder, device="cpu", dtype="float32")
    compiled = load_generator(folder, device="cpu", dtype="float32", compile=True)
    assert compiled is not plain
    blocks = list(compiled.transformer.blocks) + list(compiled.transformer.vace_blocks)
    assert all(b._compiled_call_impl is not None for b in blocks)
    assert all(b._compiled_call_impl is None for b in plain.transformer.blocks)
    assert load_generator(folder, device="cpu", dtype="float32", compile=True) is compiled
    get_manager().free("generator")
