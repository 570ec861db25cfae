"""The native bridge (issue 17): Planner/Router outputs in ComfyUI's own types, exactly what core
`WanVaceToVideo` takes, computed from the same stage-two inputs our sampler uses."""

from __future__ import annotations

import pytest

from nodes import NODE_CLASS_MAPPINGS, comfy_glue, native

ROUTER_DEFAULTS = dict(task="auto", width=0, height=0, num_frames=0, frame_ref="auto", mask_index=-1,
                       source_index=-1, reference="auto", control="auto")
PLANNER_NAMES = list(NODE_CLASS_MAPPINGS["UnisonPlanner"].RETURN_NAMES)
ROUTER_NAMES = list(NODE_CLASS_MAPPINGS["UnisonTaskRouter"].RETURN_NAMES)


def plan_and_route(request: str, **router):
    planned = NODE_CLASS_MAPPINGS["UnisonPlanner"].execute(request, 16, "rules").args
    routed = NODE_CLASS_MAPPINGS["UnisonTaskRouter"].execute(planned[0], **{**ROUTER_DEFAULTS, **router}).args
    return dict(zip(PLANNER_NAMES, planned)), dict(zip(ROUTER_NAMES, routed))


def test_new_sockets_are_appended_after_the_original_ones():
    assert PLANNER_NAMES[:3] == ["plan", "plan_text", "answer"]
    assert PLANNER_NAMES[3:] == ["prompt", "width", "height", "length"]
    assert ROUTER_NAMES[:8] == ["plan", "frames", "masks", "references", "width", "height", "num_frames", "task"]
    assert ROUTER_NAMES[8:] == ["prompt", "control_video", "control_masks", "reference_image", "needs_generator"]


def test_text_to_video_leaves_every_vace_input_absent(comfy_env):
    planner, router = plan_and_route("make a 2-second 96x64 video of a cat on a mat")
    assert (planner["width"], planner["height"], planner["length"]) == (96, 64, 49)
    assert (router["width"], router["height"], router["num_frames"]) == (96, 64, 49)
    assert planner["prompt"] == router["prompt"] == "make a 2-second 96x64 video of a cat on a mat"
    # None = unconnected for WanVaceToVideo: gray frames and an all-ones mask, as our generator uses.
    assert router["control_video"] is None and router["control_masks"] is None
    assert router["reference_image"] is None  # never a white placeholder
    assert router["needs_generator"] is True


def test_video_edit_gives_the_frames_and_masks_our_sampler_encodes(comfy_env):
    import torch

    _, router = plan_and_route("Edit this video: the ball turns red ###unison_clip.mp4### ###unison_photo_mask.png###",
                               width=64, height=48, num_frames=9, mask_index=1, source_index=0)
    source, masks, _ = router["plan"].inputs.to_tensors()
    video, mask = router["control_video"], router["control_masks"]
    assert video.shape == (9, 48, 64, 3) and mask.shape == (9, 48, 64)
    assert 0.0 <= float(video.min()) and float(video.max()) <= 1.0
    torch.testing.assert_close(video * 2 - 1, source.permute(1, 2, 3, 0), atol=1e-6, rtol=0)
    torch.testing.assert_close(mask, (masks[0] > 0.5).float())  # binary, as our generator reads it
    assert 0 < float(mask.mean()) < 1 and set(mask.unique().tolist()) == {0.0, 1.0}  # 1 = regenerate
    # Regenerated pixels are mid-gray (VACE's zero) in the control video (away from the edge, which
    # the final resize blends as the reference's preparation does).
    is_gray = (video - 128 / 255).abs().amax(dim=-1) <= 2 / 255
    assert float(is_gray[mask > 0.5].float().mean()) > 0.5 > float(is_gray[mask < 0.5].float().mean())
    assert router["reference_image"] is None


def test_reference_task_gives_the_letterboxed_reference_and_no_control(comfy_env):
    _, router = plan_and_route("a video of this character dancing ###unison_subject.png###",
                               width=64, height=48, num_frames=5, task="video_reference")
    import torch

    from unison_runtime.generator.sampling import prepare_reference
    from unison_runtime.media import frames_from_uint8

    ref = router["reference_image"]
    assert ref.shape == (1, 48, 64, 3)  # placed at the target size, as our generator places it
    given = router["plan"].inputs.references[0]  # at its own size
    ours = prepare_reference(frames_from_uint8(given[None])[:, 0], 48, 64)
    torch.testing.assert_close(ref[0], ours.permute(1, 2, 0).add(1).div(2).clamp(0, 1))
    assert float(ref[0, 0, 0].min()) == 1.0  # the white canvas around a subject of another aspect
    assert router["control_video"] is None and router["control_masks"] is None


def test_understanding_blocks_the_native_values_but_says_no_generator(comfy_env):
    _, router = plan_and_route("make a video of a dog", task="text_understanding")
    assert router["needs_generator"] is False
    assert all(comfy_glue.is_blocked(router[name]) for name in ("prompt", "control_video", "control_masks",
                                                                  "reference_image"))


def test_prompt_is_literal_for_clip_text_encode():
    from unison_runtime.native import comfy_prompt

    assert comfy_prompt("a  (red:1.5) ball\n on \\(grass)") == "a \\(red:1.5\\) ball on \\\\(grass\\)"


@pytest.mark.parametrize("n,expected", [(1, 1), (4, 1), (5, 5), (8, 5), (81, 81), (82, 81)])
def test_wan_length_is_4k_plus_1(n, expected):
    from unison_runtime.plan import snap_frames  # the length the native sockets carry

    assert snap_frames(n) == expected


def test_router_outputs_blocked_without_route():
    class Bundle:
        route = None

    assert native.router_outputs(Bundle())[-1] is False


# -- Unison Conditioning (native) ----------------------------------------------------------------
def comfy_style_t5(models, text: str, min_length: int = 512):
    """CONDITIONING as ComfyUI's CLIPTextEncode makes it with a UMT5 CLIPLoader (type wan), from our
    tiny T5: the tokens padded with id 0 to 512, attention-masked, padded rows zeroed."""
    import torch

    from unison_runtime.generator.conditioning import clean_prompt

    ids = models.tokenizer(clean_prompt(text), add_special_tokens=True, return_tensors="pt").input_ids
    n = ids.shape[1]
    padded = torch.zeros(1, max(min_length, n), dtype=torch.long)
    padded[0, :n] = ids[0]
    mask = (torch.arange(padded.shape[1]) < n).long()[None]
    with torch.no_grad():
        hidden = models.text_encoder(input_ids=padded, attention_mask=mask).last_hidden_state.float()
    return [[hidden * mask[..., None], {"pooled_output": None}]]


@pytest.fixture(scope="module")
def tiny_generator(generator_models):
    from unison_runtime import layout
    from unison_runtime.generator.loading import load_generator

    return load_generator(generator_models / layout.GENERATOR_DIFFUSERS, device="cpu")


def test_native_conditioning_equals_our_samplers_context(comfy_env, all_models, tiny_generator):
    import torch

    from nodes.generation import UnisonProjector
    from unison_runtime import layout
    from unison_runtime.sources import PlannerSource, ProjectorSource
    from unison_runtime.generator.conditioning import encode_context, negative_context

    planned = NODE_CLASS_MAPPINGS["UnisonPlanner"].execute("make a video of a red car at night", 16, "rules").args
    bundle = planned[0]
    planner = PlannerSource(all_models / layout.PLANNER_MERGED)
    projector = ProjectorSource(all_models / layout.PROJECTOR)
    (unison,) = UnisonProjector.execute(planner, projector, bundle, True)
    assert unison.projector_tokens is not None

    negative_text = "blurry, static"
    positive_in = comfy_style_t5(tiny_generator, bundle.prompt)
    negative_in = comfy_style_t5(tiny_generator, negative_text)
    node = NODE_CLASS_MAPPINGS["UnisonNativeConditioning"]()
    positive, negative = node.execute(positive_in, negative_in, conditioning=unison)
    # What our own sampler's DiT sees (generate_frames → encode_context / negative_context).
    expected = encode_context(tiny_generator, bundle.prompt, unison.projector_tokens)
    assert positive[0][0].shape == expected.shape == (1, 2048, expected.shape[-1])
    torch.testing.assert_close(positive[0][0], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(negative[0][0], negative_context(tiny_generator, negative_text), atol=1e-5, rtol=1e-5)
    assert positive[0][1] == {"pooled_output": None} and positive_in[0][0].shape[1] == 512  # inputs untouched

    # The same from the planner, projector and plan directly.
    again, _ = node.execute(positive_in, negative_in, planner=planner, projector=projector, plan=bundle)
    torch.testing.assert_close(again[0][0], positive[0][0])


def test_native_conditioning_without_projector_is_t5_alone_padded(tiny_generator):
    import torch

    from unison_runtime.generator.conditioning import encode_context
    from unison_runtime.pipeline.stages import Conditioning

    positive_in = comfy_style_t5(tiny_generator, "a dog")
    zero_negative = [[torch.zeros_like(positive_in[0][0]), {}]]  # ConditioningZeroOut
    node = NODE_CLASS_MAPPINGS["UnisonNativeConditioning"]()
    positive, negative = node.execute(positive_in, zero_negative, conditioning=Conditioning(prompt="a dog"))
    torch.testing.assert_close(positive[0][0], encode_context(tiny_generator, "a dog"), atol=1e-5, rtol=1e-5)
    assert negative[0][0].shape == (1, 2048, positive_in[0][0].shape[-1]) and not negative[0][0].any()


def test_native_conditioning_names_what_is_missing(tiny_generator):
    from unison_runtime.errors import GenerationError

    node = NODE_CLASS_MAPPINGS["UnisonNativeConditioning"]()
    c = comfy_style_t5(tiny_generator, "a dog")
    with pytest.raises(ValueError, match="projector, plan not connected"):
        node.execute(c, c, planner=object())
    with pytest.raises(ValueError, match="connect UnisonProjector"):
        node.execute(c, c)
    import torch

    from unison_runtime.pipeline.stages import Conditioning

    wrong = Conditioning(prompt="a dog", projector_tokens=torch.zeros(1, 4, 7))
    with pytest.raises(GenerationError, match="T5 width"):
        node.execute(c, c, conditioning=wrong)


# -- UnisonVACESampler: LATENT out, ComfyUI's models in ---------------------------------------
def test_sampler_latent_decodes_to_its_frames(comfy_models_env, all_models):
    import torch

    from unison_runtime import layout
    from unison_runtime.sources import GeneratorSource

    _, router = plan_and_route("make a video of a cat", width=32, height=32, num_frames=5)
    generator = GeneratorSource(diffusers_dir=all_models / layout.GENERATOR_DIFFUSERS)
    frames, latent, video = NODE_CLASS_MAPPINGS["UnisonVACESampler"].execute(router["plan"], 3, 2, 5.0, 5.0, 1.0, "", generator=generator)
    assert frames.shape == (5, 32, 32, 3) and video.get_components().images is frames
    assert latent["samples"].shape == (1, 16, 2, 4, 4)  # Wan: (T - 1) / 4 + 1 latent frames, 8x smaller
    vae = generator.load().vae
    with torch.no_grad():  # ComfyUI's LATENT is the VAE's own z: decoding it gives the frames
        decoded = vae.decode(latent["samples"].to(vae.dtype)).sample.float().clamp(-1, 1)
    torch.testing.assert_close((decoded[0].permute(1, 2, 3, 0) + 1) / 2, frames, atol=2e-3, rtol=0)


def test_sampler_asks_for_all_of_comfys_models():
    assert native.wants_native(None, None, None) is False
    with pytest.raises(ValueError, match="vae, clip not connected"):
        native.wants_native(object(), None, None)


# -- core VIDEO in and out ------------------------------------------------------------------------
CONTROL_REQUEST = "Generate a video of a robot walking that follows this depth video {video}"


def _clip(frames=9, fps=12):
    import torch

    images = torch.linspace(0, 1, frames)[:, None, None, None].expand(frames, 32, 48, 3).contiguous()
    return native.StandInVideo(images, fps), images


def test_planner_takes_a_core_video_at_its_own_frame_rate(comfy_env):
    import torch

    from unison_runtime.media import video_fps

    video, images = _clip(fps=12)
    out = NODE_CLASS_MAPPINGS["UnisonPlanner"].execute(CONTROL_REQUEST.format(video="{video1}"), 16, "rules", video=video)
    bundle = out.args[0]
    assert bundle.plan.task == "video_control"
    (ref,) = bundle.request.media
    assert ref.kind == "video" and ref.given.pixels.shape == (9, 32, 48, 3)
    assert ref.given.fps == pytest.approx(12)  # not re-timed to 24 fps
    router = NODE_CLASS_MAPPINGS["UnisonTaskRouter"].execute(bundle, **{**ROUTER_DEFAULTS, "num_frames": 5}).args
    assert router[ROUTER_NAMES.index("control_video")].shape == (5, 32, 48, 3)


def test_one_video_slot_takes_one_connection(comfy_env):
    video, images = _clip()
    with pytest.raises(ValueError, match="both video1 .* and video"):
        NODE_CLASS_MAPPINGS["UnisonPlanner"].execute("edit {video1}", 16, "rules", video1=images, video=video)
    with pytest.raises(ValueError, match="core VIDEO"):
        native.video_frames(images)


def test_router_takes_a_core_video_as_source_override(comfy_env):
    import torch

    video, images = _clip(frames=5)
    request = CONTROL_REQUEST.format(video="###unison_depth.mp4###")
    _, plain = plan_and_route(request, num_frames=5, width=48, height=32)
    bundle = NODE_CLASS_MAPPINGS["UnisonPlanner"].execute(request, 16, "rules").args[0]
    routed = NODE_CLASS_MAPPINGS["UnisonTaskRouter"].execute(
        bundle, **{**ROUTER_DEFAULTS, "num_frames": 5, "width": 48, "height": 32}, source_override_video=video).args
    frames = routed[ROUTER_NAMES.index("frames")]
    assert torch.allclose(frames, images, atol=1 / 255) and not torch.allclose(frames, plain["frames"], atol=0.1)


def test_sampler_offers_a_core_video_at_24_fps():
    import torch

    frames = torch.rand(5, 16, 16, 3)
    video = native.video_output(frames)
    components = video.get_components()
    assert components.images is frames and components.frame_rate == 24 and components.audio is None
    assert "video" == NODE_CLASS_MAPPINGS["UnisonVACESampler"].RETURN_NAMES[2]


@pytest.mark.parametrize("steps,shift", [(4, 5.0), (50, 5.0), (7, 3.0)])
def test_wan_sigmas_are_the_reference_schedule(steps, shift):
    """The native sockets' sigmas are the levels diffusers' scheduler visits in Wan's configuration."""
    import torch

    from test_generator_unipc import reference_scheduler
    from unison_runtime.native import wan_sigmas

    assert torch.equal(wan_sigmas(steps, shift), reference_scheduler(steps, shift).sigmas)


def test_wan_sigmas_node_reads_its_defaults_from_the_sampler_settings():
    from nodes.sampling import UnisonWanSigmas
    from unison_runtime.generator.inputs import SamplerSettings
    from unison_runtime.native import wan_sigmas

    widgets = UnisonWanSigmas.INPUT_TYPES()["required"]
    assert (widgets["steps"][1]["default"], widgets["shift"][1]["default"]) == (SamplerSettings().steps, SamplerSettings().shift)
    (sigmas,) = UnisonWanSigmas.execute(7, 3.0)
    assert sigmas.shape == (8,) and float(sigmas[-1]) == 0.0
    assert (sigmas == wan_sigmas(7, 3.0)).all()
