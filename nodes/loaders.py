"""Loader nodes: pick weights from ComfyUI's model folders and return the runtime's model
*sources* (`unison_runtime.sources`), loaded through its shared model manager. Each loads once up
front, so a wrong file fails here."""

from __future__ import annotations

from unison_runtime.api import ANNOTATOR_KINDS, described
from unison_runtime.api import ATTENTION_BACKENDS, DEFAULT_OFFLOAD_POLICY, DTYPES, OFFLOAD_POLICIES, PLANNER_MODES
from unison_runtime.api import OFFLOAD_POLICY_HELP

from comfy_api.latest import io

from . import comfy_glue as glue
from .values import ANNOTATORS, GENERATOR, PLANNER, PROJECTOR

CATEGORY = "Unison/loaders"

OFFLOAD_TOOLTIP = ("In ComfyUI, ComfyUI's memory manager places these weights (--lowvram, --novram, --highvram "
                   "apply) and this setting is not used; it stays for saved workflows. The standalone CLI's "
                   "policies: " + OFFLOAD_POLICY_HELP)
DTYPE_TOOLTIP = "Weight precision; auto = bfloat16 on GPUs that support it, float16 on others, float32 on CPU."
GENERATOR_DTYPE_TOOLTIP = ("Weight precision of the transformer (UNETLoader's weight dtype on ComfyUI's Wan VACE: auto "
                           "is ComfyUI's choice, the text encoder and VAE get ComfyUI's precision). On the diffusers "
                           "generator: " + DTYPE_TOOLTIP)


def _settings(dtype: str = "auto", offload_policy: str = DEFAULT_OFFLOAD_POLICY):
    from unison_runtime.api import LoadSettings

    # device "auto" is ComfyUI's device inside ComfyUI (comfy_glue.install_memory_hooks).
    return LoadSettings(dtype=dtype, offload_policy=offload_policy)


class UnisonPlannerLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        models = glue.list_folders("unison_planner", "config.json")
        adapters = glue.list_folders("unison_planner", "adapter_config.json")
        return io.Schema(
            node_id="UnisonPlannerLoader", display_name="Unison Planner Loader", category=CATEGORY,
            description=("Loads the Unison planner (Qwen2.5-VL-3B) from models/unison/planner: either the "
                         "merged Unison model, or the stock instruct model plus the Unison LoRA adapter. "
                         "Two loaders naming the same folders share one copy."),
            inputs=[
                io.Combo.Input("model", options=models or ["Unison-Qwen2.5-VL-3B"], tooltip=(
                    "A Qwen2.5-VL folder under models/unison/planner (merged Unison model, or the instruct base).")),
                io.Combo.Input("adapter", options=glue.with_none(adapters), default=glue.NONE, tooltip=(
                    "The Unison LoRA adapter folder to apply on the base model; none for a merged model.")),
                io.Combo.Input("mode", options=list(PLANNER_MODES), default="unison", tooltip=(
                    "unison: the fine-tuned planner writes plan tokens. instruct: a stock instruct model is "
                    "prompted to plan.")),
                io.Combo.Input("dtype", options=list(DTYPES), default="auto", tooltip=DTYPE_TOOLTIP),
                io.Combo.Input("offload_policy", options=list(OFFLOAD_POLICIES), default=DEFAULT_OFFLOAD_POLICY,
                               tooltip=OFFLOAD_TOOLTIP),
            ],
            outputs=[PLANNER.Output(display_name="planner",
                                    tooltip="The planner, for UnisonPlanner, UnisonProjector and UnisonAuto.")],
        )

    @classmethod
    def execute(cls, model, adapter, mode, dtype, offload_policy) -> io.NodeOutput:
        glue.on_first_run()
        from unison_runtime.api import PlannerSource

        source = PlannerSource(glue.resolve("unison_planner", model, "planner model"),
                               glue.resolve("unison_planner", adapter, "planner adapter"),
                               mode=mode, settings=_settings(dtype, offload_policy))
        source.load()
        return io.NodeOutput(source)


class UnisonGeneratorLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        folders = glue.list_folders("unison_generator", ("model_index.json", "Wan2.1_VAE.pth"))
        return io.Schema(
            node_id="UnisonGeneratorLoader", display_name="Unison Generator Loader (Wan VACE)", category=CATEGORY,
            description=("Loads Wan2.1 VACE 1.3B: ComfyUI's single files picked from diffusion_models, text_encoders "
                         "and vae, or a folder from models/unison/generator (Wan's native release, or the diffusers "
                         "format). Inside ComfyUI the single files and the native folder load through ComfyUI itself, "
                         "as UNETLoader, CLIPLoader (type wan) and VAELoader load them, and generate on its own Wan "
                         "VACE; a diffusers-format folder needs the diffusers package."),
            inputs=[
                io.Combo.Input("diffusers_folder", options=glue.with_none(folders), default=glue.NONE, tooltip=(
                    "A Wan2.1-VACE folder under models/unison/generator: Wan's native release, or the diffusers "
                    "format (needs the diffusers package). none: use the three single files below.")),
                io.Combo.Input("transformer", options=glue.with_none(glue.list_files("diffusion_models")),
                               default=glue.NONE, tooltip=("The VACE transformer file from models/diffusion_models "
                                                           "(e.g. wan2.1_vace_1.3B_fp16.safetensors).")),
                io.Combo.Input("text_encoder", options=glue.with_none(glue.list_files("text_encoders")),
                               default=glue.NONE, tooltip=("The UMT5-XXL text encoder from models/text_encoders "
                                                           "(e.g. umt5_xxl_fp16.safetensors).")),
                io.Combo.Input("vae", options=glue.with_none(glue.list_files("vae")), default=glue.NONE,
                               tooltip="The Wan 2.1 VAE from models/vae (wan_2.1_vae.safetensors)."),
                io.Combo.Input("dtype", options=list(DTYPES), default="auto", tooltip=GENERATOR_DTYPE_TOOLTIP),
                io.Combo.Input("attention_backend", options=list(ATTENTION_BACKENDS), default="native", tooltip=(
                    "Attention kernel for the diffusers generator; native (PyTorch SDPA) works everywhere, the "
                    "others need their package. On ComfyUI's Wan VACE its own flags choose "
                    "(--use-sage-attention, --use-flash-attention) and this is not used.")),
                io.Combo.Input("offload_policy", options=list(OFFLOAD_POLICIES), default=DEFAULT_OFFLOAD_POLICY,
                               tooltip=OFFLOAD_TOOLTIP),
            ],
            outputs=[GENERATOR.Output(display_name="generator", tooltip=(
                "The VACE generator (transformer, text encoder, VAE), for UnisonVACESampler."))],
        )

    @classmethod
    def execute(cls, diffusers_folder, transformer, text_encoder, vae, dtype, attention_backend,
                offload_policy) -> io.NodeOutput:
        glue.on_first_run()
        from unison_runtime.api import GeneratorSource, ModelLoadError

        folder = glue.resolve("unison_generator", diffusers_folder, "generator folder")
        common = dict(attention_backend=attention_backend, settings=_settings(dtype, offload_policy))
        if folder is not None:
            source = GeneratorSource.from_folder(folder, **common)
        else:
            source = GeneratorSource(transformer_file=glue.resolve("diffusion_models", transformer, "transformer"),
                                     text_encoder_file=glue.resolve("text_encoders", text_encoder, "text encoder"),
                                     vae_file=glue.resolve("vae", vae, "VAE"), **common)
            if source.transformer_file is None:
                raise ModelLoadError("UnisonGeneratorLoader: pick a diffusers_folder, or at least a transformer "
                                     "file (with text_encoder and vae) from ComfyUI's model folders")
        source.load()
        return io.NodeOutput(source)


class UnisonProjectorLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        files = glue.list_files("unison_projector")
        return io.Schema(
            node_id="UnisonProjectorLoader", display_name="Unison Projector Loader", category=CATEGORY,
            description=("Loads the Unison projector (projector.pth) from models/unison/projector: it turns the "
                         "planner's hidden states into 4 extra text tokens for the generator."),
            inputs=[io.Combo.Input("projector", options=files or ["projector.pth"], tooltip=(
                "The projector checkpoint (.pth or .safetensors) under models/unison/projector."))],
            outputs=[PROJECTOR.Output(display_name="projector",
                                      tooltip="The projector, for UnisonProjector and UnisonAuto.")],
        )

    @classmethod
    def execute(cls, projector) -> io.NodeOutput:
        glue.on_first_run()
        from unison_runtime.api import ModelLoadError, ProjectorSource

        path = glue.resolve("unison_projector", projector, "projector")
        if path is None:
            raise ModelLoadError("UnisonProjectorLoader: pick a projector file (models/unison/projector)")
        source = ProjectorSource(path, settings=_settings())
        source.load()
        return io.NodeOutput(source)


class UnisonAnnotatorLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        # One input per annotator model (`annotators.kinds`): Hugging Face folders (config.json),
        # or a weights file of the model's name.
        folders = glue.list_folders("unison_annotators", "config.json")
        files = glue.list_files("unison_annotators", (".pt", ".pth"))

        def choices(kind):
            stem = kind.file_names[0].split(".")[0] if kind.is_file else None
            return folders if stem is None else [f for f in files if stem in f.rsplit("/", 1)[-1].lower()]

        return io.Schema(
            node_id="UnisonAnnotatorLoader", display_name="Unison Annotator Loader", category=CATEGORY,
            description=(f"Points at the annotator weights under models/unison/annotators: {described()}. "
                         "Each is optional; they load when an annotator first needs them."),
            inputs=[io.Combo.Input(kind.name, options=glue.with_none(choices(kind)), default=glue.NONE,
                                   tooltip=kind.tooltip) for kind in ANNOTATOR_KINDS],
            outputs=[ANNOTATORS.Output(display_name="annotators", tooltip=(
                "The annotator models, for UnisonAnnotator, UnisonTaskRouter and UnisonAuto."))],
        )

    @classmethod
    def execute(cls, grounding_dino, sam2, u2net) -> io.NodeOutput:  # the inputs, in ANNOTATOR_KINDS order
        glue.on_first_run()
        from unison_runtime.api import AnnotatorSources

        chosen = zip(ANNOTATOR_KINDS, (grounding_dino, sam2, u2net))
        return io.NodeOutput(AnnotatorSources(**{kind.name: glue.resolve("unison_annotators", value, kind.label)
                                                 for kind, value in chosen}, settings=_settings()))


NODES = [UnisonPlannerLoader, UnisonGeneratorLoader, UnisonProjectorLoader, UnisonAnnotatorLoader]
