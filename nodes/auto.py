"""UnisonAuto: the whole pipeline in one box (plan → route → project → generate)."""

from __future__ import annotations

from comfy_api.latest import io
from unison_runtime.api import MAX_FRAMES, MAX_SIDE, PLAN_BY_CHOICES, SamplerSettings

from . import comfy_glue as glue
from . import convert, native
from .values import ANNOTATORS, GENERATOR, PLANNER, PROJECTOR

CATEGORY = "Unison"
DEFAULT = SamplerSettings()  # the widgets' defaults


class UnisonAuto(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnisonAuto", display_name="Unison (all in one)", category=CATEGORY, is_output_node=True,
            description=(
                "One box for the whole of Unison: write a request (with {image1}..{image4}, {video1}, {mask1} for "
                "connected media, or ###name### for files in the input folder) and get the answer or the "
                "generated frames. Models come from the connected loaders, else from models_dir (default "
                "ComfyUI's models/unison, laid out as planner/, projector/, generator/, annotators/, plus the "
                "folders registered for them); the Wan VACE single files may also sit in ComfyUI's own "
                "diffusion_models, text_encoders and vae folders."),
            inputs=[
                io.String.Input("request", multiline=True, default="make a 2-second 768x480 video of a lion",
                                tooltip="What you want, in plain words."),
                io.String.Input("models_dir", default="", tooltip=(
                    "Folder in the unison layout (planner/, projector/, generator/, annotators/), inside ComfyUI's "
                    "model folders: a name under models/ (e.g. unison_alt) or a path in a folder registered in "
                    "extra_model_paths.yaml; empty = ComfyUI's models/unison and the folders registered for "
                    "unison_*. Wan single files are also found in ComfyUI's diffusion_models/text_encoders/vae. "
                    "Connected loaders win.")),
                io.Int.Input("width", default=0, min=0, max=MAX_SIDE, step=16, tooltip="0: as planned."),
                io.Int.Input("height", default=0, min=0, max=MAX_SIDE, step=16, tooltip="0: as planned."),
                io.Int.Input("num_frames", default=0, min=0, max=MAX_FRAMES, tooltip="0: as planned (videos only)."),
                io.Int.Input("seed", default=DEFAULT.seed, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Noise seed."),
                io.Int.Input("steps", default=DEFAULT.steps, min=1, max=200, tooltip="Sampling steps."),
                io.Float.Input("cfg", default=DEFAULT.cfg, min=0.0, max=30.0, step=0.1, round=0.01,
                               tooltip="Classifier-free guidance scale."),
                io.Boolean.Input("use_projector", default=True, tooltip="Off: T5 text alone conditions the generator."),
                io.Combo.Input("plan_by", options=list(PLAN_BY_CHOICES), default="auto", tooltip=(
                    "auto: the planner model plans when there is one; rules: the model-free rules planner plans.")),
                PLANNER.Input("planner", optional=True, tooltip="Overrides the planner found in models_dir."),
                GENERATOR.Input("generator", optional=True, tooltip="Overrides the generator found in models_dir."),
                PROJECTOR.Input("projector", optional=True, tooltip="Overrides the projector found in models_dir."),
                ANNOTATORS.Input("annotators", optional=True, tooltip="Overrides the annotators found in models_dir."),
                *(io.Image.Input(slot, optional=True, tooltip=f"Media referred to as {{{slot}}} in the request.")
                  for slot in ("image1", "image2", "image3", "image4", "video1")),
                io.Mask.Input("mask1", optional=True, tooltip="Mask referred to as {mask1} (white = regenerate)."),
                io.Video.Input("video", optional=True, tooltip=native.VIDEO_INPUT_TIP),
            ],
            outputs=[
                io.Image.Output(display_name="frames", tooltip="Generated frames (blocked for understanding tasks)."),
                io.String.Output(display_name="answer", tooltip="The answer (blocked for generation tasks)."),
                io.String.Output(display_name="plan_text", tooltip="The plan and route as readable text."),
            ],
        )

    @classmethod
    def fingerprint_inputs(cls, request="", models_dir="", **_):
        """Re-run when a `###file###` the request names, or the models found in models_dir, change."""
        return glue.request_files_fingerprint(request) + "|" + glue.models_fingerprint(models_dir)

    @classmethod
    def execute(cls, request, models_dir, width, height, num_frames, seed, steps, cfg, use_projector, plan_by,
                planner=None, generator=None, projector=None, annotators=None, image1=None, image2=None, image3=None,
                image4=None, video1=None, mask1=None, video=None) -> io.NodeOutput:
        glue.on_first_run()
        from unison_runtime.api import ModelOptions, ModelSources, Overrides, run_pipeline, RunOptions

        root, folder_roots = glue.models_location(models_dir)
        models = ModelOptions(
            models_dir=root, folder_roots=folder_roots, planner=plan_by, use_projector=use_projector,
            given=ModelSources(planner=planner, projector=projector, generator=generator, annotators=annotators))
        options = RunOptions(models=models, sampling=SamplerSettings(seed=seed, steps=steps, cfg=cfg),
                             media_roots=tuple(glue.allowed_roots()), hooks=glue.run_hooks(steps))
        overrides = Overrides(width=width or None, height=height or None, num_frames=num_frames or None)
        video1, video_fps = native.one_video(video1, video, "UnisonAuto")
        given = convert.given_media({"image1": image1, "image2": image2, "image3": image3, "image4": image4,
                                     "video1": video1, "mask1": mask1}, request, video_fps)
        result = run_pipeline(request, overrides, options, given)
        text = "\n".join([f"task: {result.route.task}", f"route: {result.route.describe()}",
                          *(f"note: {n}" for n in (*result.route.notes, *result.notes))])
        if result.answer is not None:  # understanding: the planner answered
            return io.NodeOutput(glue.blocked(None), result.answer, text, ui={"text": [text, result.answer]})
        frames = convert.video_to_image(result.video)
        return io.NodeOutput(frames, glue.blocked(None), text, ui={"text": [text]})


NODES = [UnisonAuto]
