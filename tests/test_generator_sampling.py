"""generate(): conditioning reaches the DiT as DESIGN §5 says; VACE tasks, determinism, CFG
batching, cancellation, validation, and agreement with a direct WanVACEPipeline call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unison_runtime import layout
from unison_runtime.errors import Cancelled, GenerationError
from unison_runtime.generator import conditioning
from unison_runtime.generator.inputs import GenerationInputs, SamplerSettings
from unison_runtime.generator.loading import load_generator
from unison_runtime.media import frames_to_comfy as to_comfy_image
from unison_runtime.generator.sampling import (
    fold_masks,
    generate,
    prepare_reference,
)

SIZE = 32
FAST = SamplerSettings(steps=2, seed=7)


@pytest.fixture(scope="module")
def models(generator_models):
    return load_generator(generator_models / layout.GENERATOR_DIFFUSERS, device="cpu")


@pytest.fixture(scope="module")
def projector_tokens():
    return torch.randn(4, 32, generator=torch.Generator().manual_seed(11))


@pytest.fixture(scope="module")
def contexts(models, projector_tokens):
    t5 = conditioning.encode_text(models, "a red car <IMGPAD> at night")
    return {
        "t5": t5,
        "with_projector": conditioning.build_context(t5, projector_tokens),
        "without_projector": conditioning.build_context(t5, None),
        "negative": conditioning.negative_context(models, ""),
    }


def inputs(contexts, **kw) -> GenerationInputs:
    kw.setdefault("width", SIZE)
    kw.setdefault("height", SIZE)
    return GenerationInputs(context=contexts["with_projector"], negative_context=contexts["negative"], **kw)


class Capture:
    """Records what each transformer call receives."""

    def __init__(self, transformer):
        self.calls = []
        self.handle = transformer.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs):
        self.calls.append({k: v.detach().clone() for k, v in kwargs.items() if isinstance(v, torch.Tensor)})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def frames(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, n, SIZE, SIZE), generator=g).float() / 127.5 - 1


@pytest.fixture(scope="module")
def t2i(models, contexts):
    """The baseline: a 1-frame text-to-image generation with the projector on."""
    return generate(models, inputs(contexts, num_frames=1), FAST)


# --- conditioning -----------------------------------------------------------------------------
def test_the_context_is_t5_then_projector_tokens_then_zeros(models, contexts, projector_tokens):
    t5 = contexts["t5"]
    ids = models.tokenizer(conditioning.clean_prompt("a red car <IMGPAD> at night")).input_ids
    assert t5.shape == (len(ids), 32)  # real length: tokens + end token, no padding
    with Capture(models.transformer) as cap:
        generate(models, GenerationInputs(context=contexts["with_projector"], width=SIZE, height=SIZE),
                 SamplerSettings(steps=1, negative_prompt=""))
    seen = cap.calls[0]["encoder_hidden_states"]
    assert seen.shape == (2, 2048, 32)  # cond and uncond in one batched call
    L = t5.shape[0]
    assert torch.allclose(seen[0, :L], t5)
    assert torch.allclose(seen[0, L : L + 4], projector_tokens)
    assert torch.count_nonzero(seen[0, L + 4 :]) == 0
    # an empty negative prompt means Wan's default, zero-padded the same way
    neg = conditioning.encode_text(models, conditioning.DEFAULT_NEGATIVE_PROMPT)
    assert torch.allclose(seen[1, : neg.shape[0]], neg) and torch.count_nonzero(seen[1, neg.shape[0] :]) == 0
    assert torch.allclose(seen[1:], contexts["negative"])
    assert torch.equal(conditioning.negative_context(models, "  "), contexts["negative"])


def test_switching_the_projector_off_changes_the_output(models, contexts, t2i):
    off = generate(models, GenerationInputs(context=contexts["without_projector"],
                                            negative_context=contexts["negative"], width=SIZE, height=SIZE), FAST)
    assert not torch.allclose(t2i, off, atol=1e-4)


def test_build_context_validates_widths_and_length(contexts):
    with pytest.raises(GenerationError, match=r"projector tokens must be \[N, 32\]"):
        conditioning.build_context(contexts["t5"], torch.zeros(4, 16))
    with pytest.raises(GenerationError, match="at most 8"):
        conditioning.build_context(contexts["t5"], torch.zeros(4, 32), total_len=8)


# --- tasks ------------------------------------------------------------------------------------
def test_text_to_image_and_text_to_video(models, contexts, t2i):
    assert t2i.shape == (3, 1, SIZE, SIZE) and t2i.dtype == torch.float32
    assert t2i.min() >= -1 and t2i.max() <= 1 and t2i.std() > 0
    video = generate(models, inputs(contexts, num_frames=5, width=48), SamplerSettings(steps=1))
    assert video.shape == (3, 5, SIZE, 48)
    comfy = to_comfy_image(video)
    assert comfy.shape == (5, SIZE, 48, 3) and comfy.min() >= 0 and comfy.max() <= 1


def test_masked_edit_uses_the_kept_pixels_and_folds_the_mask(models, contexts):
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[:, :, 8:24, 8:24] = 1
    with Capture(models.transformer) as cap:
        edited = [generate(models, inputs(contexts, source=frames(1, s), masks=mask), FAST) for s in (0, 1)]
    assert edited[0].shape == (3, 1, SIZE, SIZE)
    assert not torch.allclose(edited[0], edited[1], atol=1e-4)  # the kept pixels steer the result
    folded = cap.calls[0]["control_hidden_states"][0, 32:, 0]  # [64, 4, 4]: 8x8 blocks -> channels
    assert folded.shape == (64, SIZE // 8, SIZE // 8)
    assert torch.all(folded[:, 1:3, 1:3] == 1) and torch.count_nonzero(folded[:, 0]) == 0


def test_frame_reference_expansion_and_mask_folding_in_time(models, contexts):
    # image-to-video, first-frame mode: the given frame then gray frames; mask 0 on the given one
    source = torch.zeros(3, 5, SIZE, SIZE)
    source[:, 0] = frames(1, 2)[:, 0]
    masks = torch.ones(1, 5, SIZE, SIZE)
    masks[:, 0] = 0
    with Capture(models.transformer) as cap:
        video = generate(models, inputs(contexts, num_frames=5, source=source, masks=masks), SamplerSettings(steps=1))
    assert video.shape == (3, 5, SIZE, SIZE)
    control = cap.calls[0]["control_hidden_states"]
    assert control.shape == (2, 96, 2, SIZE // 8, SIZE // 8)
    # VACE resamples the mask in time with nearest-exact: 5 frames -> latent frames take frames 1 and 3
    assert torch.equal(fold_masks(masks[0], 2), control[0, 32:].float())
    assert torch.count_nonzero(control[0, :16, 0]) > 0  # the given frame is in the inactive half


def test_control_video_is_the_vace_source(models, contexts):
    settings = SamplerSettings(steps=1)
    a = generate(models, inputs(contexts, num_frames=5, source=frames(5, 3)), settings)
    b = generate(models, inputs(contexts, num_frames=5, source=frames(5, 4)), settings)
    assert a.shape == (3, 5, SIZE, SIZE) and not torch.allclose(a, b, atol=1e-4)


def test_a_reference_image_is_prepended_and_trimmed(models, contexts, t2i):
    ref = frames(1, 5)[:, 0, :16, :]  # 16x32: a different aspect, letterboxed on white
    with Capture(models.transformer) as cap:
        out = generate(models, inputs(contexts, num_frames=1, reference_images=[ref]), FAST)
    assert out.shape == (3, 1, SIZE, SIZE)  # no reference frame in the output
    assert cap.calls[0]["hidden_states"].shape[2] == 1 + 1  # one reference latent + 1 image latent
    control = cap.calls[0]["control_hidden_states"]
    assert torch.count_nonzero(control[0, 16:32, 0]) == 0 and torch.count_nonzero(control[0, 32:, 0]) == 0
    assert torch.count_nonzero(control[0, :16, 0]) > 0
    assert not torch.allclose(out, t2i, atol=1e-4)
    canvas = prepare_reference(ref, SIZE, SIZE)
    assert torch.all(canvas[:, :8] == 1) and torch.all(canvas[:, 24:] == 1)
    assert torch.allclose(canvas[:, 8:24], ref)


# --- determinism, guidance, cancellation -------------------------------------------------------
def test_same_seed_same_output_different_seed_different(models, contexts, t2i):
    again = generate(models, inputs(contexts, num_frames=1), FAST)
    other = generate(models, inputs(contexts, num_frames=1), SamplerSettings(steps=2, seed=8))
    assert torch.equal(t2i, again) and not torch.allclose(t2i, other, atol=1e-4)


def test_batched_cfg_matches_separate_passes(models, contexts, t2i):
    with Capture(models.transformer) as cap:
        separate = generate(models, inputs(contexts, num_frames=1), SamplerSettings(steps=2, seed=7, batch_cfg=False))
    assert len(cap.calls) == 4 and cap.calls[0]["hidden_states"].shape[0] == 1
    assert torch.allclose(t2i, separate, atol=1e-4)


def test_context_scale_zero_ignores_the_control(models, contexts):
    settings = SamplerSettings(steps=1, seed=7, context_scale=0.0)
    a = generate(models, inputs(contexts, num_frames=1, source=frames(1, 0)), settings)
    b = generate(models, inputs(contexts, num_frames=1, source=frames(1, 1)), settings)
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("how", ["raise", "return"])
def test_cancellation_stops_after_the_requested_step(models, contexts, how):
    seen = []

    def callback(step, total, latents):
        seen.append((step, total, tuple(latents.shape)))
        if step == 2:
            if how == "raise":
                raise Cancelled("stop")
            return Cancelled()
        return None

    with Capture(models.transformer) as cap, pytest.raises(Cancelled):
        generate(models, inputs(contexts, num_frames=1), SamplerSettings(steps=4), callback=callback)
    assert [s[:2] for s in seen] == [(1, 4), (2, 4)]
    assert len(cap.calls) == 2
    assert seen[0][2] == (1, 16, 1, SIZE // 8, SIZE // 8)


# --- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw, message",
    [
        ({"width": 30}, r"width 30 is not allowed: use a multiple of 16 from 16 to 2048"),
        ({"height": 4096}, r"height 4096 is not allowed"),
        ({"num_frames": 4}, r"num_frames 4 is not allowed: use 4k\+1"),
        ({"num_frames": 245}, r"num_frames 245"),
        ({"num_frames": 5, "source": torch.zeros(3, 9, SIZE, SIZE)}, r"source video is 9 frame\(s\) of 32x32 but the target is 5"),
        ({"num_frames": 5, "masks": torch.ones(1, 1, SIZE, SIZE)}, r"masks are 1 frame\(s\) .* same length and size"),
        ({"masks": torch.ones(1, 1, SIZE, 16)}, r"masks are 1 frame\(s\) of 16x32"),
        ({"reference_images": [torch.zeros(3, 8, 8)] * 4}, r"4 reference images given; at most 3"),
        ({"source": torch.full((3, 1, SIZE, SIZE), 2.0)}, r"\[-1, 1\]"),
    ],
)
def test_bad_inputs_are_refused_up_front(models, contexts, kw, message):
    with Capture(models.transformer) as cap, pytest.raises(GenerationError, match=message):
        generate(models, inputs(contexts, **kw), FAST)
    assert not cap.calls


def test_bad_settings_and_contexts_are_refused(models, contexts):
    with pytest.raises(GenerationError, match="steps 0"):
        generate(models, inputs(contexts), SamplerSettings(steps=0))
    with pytest.raises(GenerationError, match="width 16 does not match the text encoder's 32"):
        generate(models, GenerationInputs(context=torch.zeros(1, 2048, 16), width=SIZE, height=SIZE), FAST)


# --- agreement with diffusers' own pipeline ----------------------------------------------------
def test_outputs_match_a_direct_wan_vace_pipeline_call(models, contexts):
    import PIL.Image
    from diffusers import UniPCMultistepScheduler, WanVACEPipeline

    class WanSigmas(UniPCMultistepScheduler):
        def set_timesteps(self, num_inference_steps=None, device=None, sigmas=None, mu=None):
            sigmas = np.linspace(0.999, 0, num_inference_steps + 1)[:-1]
            super().set_timesteps(device=device, sigmas=sigmas)

    source = frames(5, 9)
    masks = torch.zeros(1, 5, SIZE, SIZE)
    masks[:, 1:] = 1
    ref = frames(1, 10)[:, 0, :16, :]

    def pil(t):
        return PIL.Image.fromarray(((t.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy())

    scheduler = WanSigmas.from_config(models.scheduler_config, flow_shift=5.0)
    pipe = WanVACEPipeline(tokenizer=models.tokenizer, text_encoder=models.text_encoder, vae=models.vae,
                           scheduler=scheduler, transformer=models.transformer)
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(
        video=[pil(source[:, i]) for i in range(5)],
        mask=[PIL.Image.fromarray((masks[0, i] * 255).byte().numpy(), mode="L") for i in range(5)],
        reference_images=[pil(ref)],
        prompt_embeds=contexts["with_projector"],
        negative_prompt_embeds=contexts["negative"],
        height=SIZE, width=SIZE, num_frames=5, num_inference_steps=2, guidance_scale=5.0,
        generator=torch.Generator().manual_seed(7), output_type="pt",
    ).frames[0]  # [T, C, H, W] in [0, 1]
    ours = generate(models, inputs(contexts, num_frames=5, source=source, masks=masks, reference_images=[ref]),
                    SamplerSettings(steps=2, seed=7, batch_cfg=False))
    assert torch.allclose(to_comfy_image(ours), theirs.permute(0, 2, 3, 1), atol=1e-4)


def test_step_callback_sees_only_the_generated_frames_latents(models, contexts):
    ref = frames(1, 5)[:, 0]
    seen = []
    generate(models, inputs(contexts, num_frames=1, reference_images=[ref]), FAST,
             callback=lambda step, total, latents: seen.append(latents.shape))
    assert seen and all(shape[2] == 1 for shape in seen)  # 1 image latent, the reference left out


def test_check_cancel_runs_between_stages_and_stops_the_run(models, contexts):
    calls = []

    def check():
        calls.append(len(calls))
        if len(calls) == 3:  # before VAE encode, before step 1, before step 2: stop here
            raise Cancelled("interrupted")

    steps = []
    with pytest.raises(Cancelled, match="interrupted"):
        generate(models, inputs(contexts, num_frames=1), SamplerSettings(steps=3, seed=7),
                 callback=lambda step, total, latents: steps.append(step), check_cancel=check)
    assert steps == [1]


@pytest.mark.parametrize("kw", [{"cfg": "5"}, {"shift": None}, {"context_scale": True}, {"seed": True}])
def test_settings_of_the_wrong_type_are_named(models, contexts, kw):
    name = next(iter(kw))
    with pytest.raises(GenerationError, match=name):
        generate(models, inputs(contexts, num_frames=1), SamplerSettings(steps=1, **kw))


def test_soft_masks_are_folded_soft_and_split_binarised(models):
    # VACE (wan_vace.py): inactive/reactive use mask > 0.5, the 64 mask channels the soft mask.
    from unison_runtime.generator.sampling import prepare_control_latents

    soft = torch.full((1, 1, SIZE, SIZE), 0.25)
    soft[..., : SIZE // 2] = 0.75
    control, _ = prepare_control_latents(models, GenerationInputs(
        context=torch.zeros(1, 4), negative_context=torch.zeros(1, 4), width=SIZE, height=SIZE,
        num_frames=1, source=frames(1), masks=soft))
    channels = control[0, -64:].float()
    assert torch.allclose(channels[..., : SIZE // 16], torch.tensor(0.75, dtype=channels.dtype), atol=1e-3)
    assert torch.allclose(channels[..., SIZE // 16:], torch.tensor(0.25, dtype=channels.dtype), atol=1e-3)


def test_sampler_settings_are_one_checked_value_with_the_papers_defaults():
    import dataclasses

    default = SamplerSettings()
    assert (default.steps, default.cfg, default.shift, default.context_scale, default.seed) == (50, 5.0, 5.0, 1.0, 0)
    assert default.negative_prompt == "" and default.guided and default.guidance_scale == 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.steps = 3
    with pytest.raises(GenerationError, match="steps 0 is not allowed"):  # refused when built
        SamplerSettings(steps=0)
    with pytest.raises(GenerationError, match="negative_prompt must be text"):
        SamplerSettings(negative_prompt=None)
    # cfg 1 or less: no negative pass (as Wan's reference); a sampler that always mixes gets 1.
    for cfg in (0.0, 0.5, 1.0):
        assert not SamplerSettings(cfg=cfg).guided and SamplerSettings(cfg=cfg).guidance_scale == 1.0


def test_no_guidance_runs_one_pass_per_step(models, contexts):
    with Capture(models.transformer) as cap:
        generate(models, inputs(contexts, num_frames=1), SamplerSettings(steps=2, cfg=0.5))
    assert len(cap.calls) == 2 and cap.calls[0]["hidden_states"].shape[0] == 1
