"""The runtime's one public face for a host (ComfyUI's nodes), as ComfyUI's core nodes call
`comfy.sample` and `comfy.sd`: the stages a node runs, the values it passes between them, the
choices its widgets offer, and the seams a host plugs into (memory placement, generator backend).
`nodes/` imports the runtime only through here (tests/test_architecture.py holds it).

Importing this module is cheap: the facts and widget choices below are plain data; every other
name is imported from its home the first time it is used (PEP 562), so a node that imports a stage
at run time pays for torch then, not when ComfyUI starts.
"""

from __future__ import annotations

import importlib

# -- plain data: widget choices, limits, errors (cheap, used when ComfyUI lists the nodes) ----------
from .annotators.kinds import ANNOTATOR_KINDS, described
from .errors import ModelLoadError, UnisonError
from .facts import (ANNOTATOR_MODES, ATTENTION_BACKENDS, DEFAULT_OFFLOAD_POLICY, DEFAULT_VIDEO_FRAMES, DTYPES, FPS,
                    FRAME_REFS, MAX_FRAMES, MAX_SIDE, OFFLOAD_POLICIES, PLAN_BY_CHOICES, PLANNER_MODES, SWITCHES,
                    TASKS)
from .generator.inputs import MAX_STEPS, SamplerSettings
from .models import OFFLOAD_POLICY_HELP

# -- everything else, by name -> home module (imported on first use) --------------------------------
_HOMES = {
    # the stages, in the order a request goes through them
    "unison_runtime.pipeline.stages": ("read_request", "plan_request", "answer_request", "route_request",
                                       "planned_shape", "prepare_request", "condition", "generation_inputs", "generate_video",
                                       "Planned", "Conditioning"),
    "unison_runtime.pipeline": ("run",),
    "unison_runtime.pipeline.options": ("ModelOptions", "RunOptions", "RunHooks"),
    "unison_runtime.pipeline.stage_two": ("StageTwoInputs",),
    "unison_runtime.request": ("GivenMedia",),
    "unison_runtime.router": ("Overrides",),
    "unison_runtime.plan": ("snap_frames",),
    "unison_runtime.annotators": ("AnnotatorResult", "FRAME_REF_MODES", "run_annotator"),
    "unison_runtime.media": ("frames_to_comfy",),
    # how models are named and found
    "unison_runtime.sources": ("ModelSources", "PlannerSource", "ProjectorSource", "GeneratorSource",
                               "AnnotatorSources", "LoadSettings"),
    "unison_runtime.layout": ("COMFY_FOLDER_OF", "EXTRA_FOLDERS", "BERT_FOLDER", "discover"),
    # a host's own Wan VACE (ComfyUI's model, sampled with the reference's UniPC)
    "unison_runtime.native": ("comfy_prompt", "padded_context", "unison_context", "vace_inputs", "wan_sigmas",
                              "placed_references"),
    "unison_runtime.generator.unipc": ("wan_schedule", "schedule_from_sigmas", "model_sigma", "x0_at", "sample"),
    "unison_runtime.generator.conditioning": ("resolve_negative_prompt",),
    "unison_runtime.generator.sampling": ("preview_frame",),
    "unison_runtime.generator.files": ("spiece_model",),
    "unison_runtime.generator.native_t5": ("comfy_text_encoder_state_dict",),
    "unison_runtime.state_dicts": ("load_errors",),
    # seams a host plugs into: its generator backend, its memory manager
    "unison_runtime.generator.backend": ("GeneratorBackend", "Generated", "adopt", "host_backend",
                                         "set_host_backend"),
    "unison_runtime.models": ("get_manager", "torch_dtype", "module_bytes", "PlacementHost", "placement_host",
                              "set_placement_host", "set_free_memory_provider", "set_default_device_provider"),
}
# A name that would be ambiguous on the face gets the face's own name.
_RENAMED = {"run": "run_pipeline", "sample": "sample_unipc"}
_HOME_OF = {_RENAMED.get(name, name): (module, name) for module, names in _HOMES.items() for name in names}

__all__ = ["ANNOTATOR_KINDS", "ANNOTATOR_MODES", "ATTENTION_BACKENDS", "DEFAULT_OFFLOAD_POLICY",
           "DEFAULT_VIDEO_FRAMES", "DTYPES", "FPS", "FRAME_REFS", "MAX_FRAMES", "MAX_SIDE", "MAX_STEPS",
           "ModelLoadError", "OFFLOAD_POLICIES", "OFFLOAD_POLICY_HELP", "PLAN_BY_CHOICES", "PLANNER_MODES",
           "SWITCHES", "SamplerSettings", "TASKS", "UnisonError", "described", *_HOME_OF]


def __getattr__(name: str):
    try:
        module, attribute = _HOME_OF[name]
    except KeyError:
        raise AttributeError(f"unison_runtime.api has no {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # imported once
    return value


def __dir__():
    return sorted(__all__)
