"""Small builders shared by the tests (the runtime's options are split by concern; tests often
want a few of each)."""

from __future__ import annotations

from unison_runtime.generator.inputs import SamplerSettings
from unison_runtime.pipeline.options import ModelOptions, OutputOptions, RunHooks, RunOptions
from unison_runtime.router import Overrides
from unison_runtime.sources import LoadSettings

_MODEL = {"models_dir", "folder_roots", "planner", "planner_model", "planner_adapter", "projector", "generator",
          "annotators_dir", "use_projector", "attention_backend", "given"}
_LOAD = {"dtype", "device", "offload_policy"}
_SAMPLING = {"seed", "steps", "cfg", "shift", "context_scale", "negative_prompt"}
_HOOKS = {"progress", "cancel", "interrupt"}
_RUN = {"out_dir", "media_roots", "max_new_tokens"}


def run_options(**flat) -> RunOptions:
    """RunOptions from flat keywords (models_dir=..., steps=..., out_dir=..., cancel=...)."""
    unknown = set(flat) - _MODEL - _LOAD - _SAMPLING - _HOOKS - _RUN
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}")
    pick = lambda names: {k: v for k, v in flat.items() if k in names}  # noqa: E731
    return RunOptions(models=ModelOptions(**pick(_MODEL), load=LoadSettings(**pick(_LOAD))),
                      sampling=SamplerSettings(**pick(_SAMPLING)),
                      output=OutputOptions(out_dir=flat.get("out_dir")),
                      media_roots=tuple(flat.get("media_roots", ())), hooks=RunHooks(**pick(_HOOKS)),
                      **pick({"max_new_tokens"}))


def overrides(values: dict | None) -> Overrides | None:
    return Overrides.from_mapping(values) if values is not None else None


def with_option(options: RunOptions, **flat) -> RunOptions:
    """A copy of `options` with flat keywords changed where they live (models, load, sampling...)."""
    from dataclasses import replace

    models, sampling = options.models, options.sampling
    load = replace(models.load, **{k: v for k, v in flat.items() if k in _LOAD})
    models = replace(models, load=load, **{k: v for k, v in flat.items() if k in _MODEL})
    sampling = replace(sampling, **{k: v for k, v in flat.items() if k in _SAMPLING})
    hooks = replace(options.hooks, **{k: v for k, v in flat.items() if k in _HOOKS})
    output = replace(options.output, out_dir=flat["out_dir"]) if "out_dir" in flat else options.output
    roots = tuple(flat["media_roots"]) if "media_roots" in flat else options.media_roots
    unknown = set(flat) - _MODEL - _LOAD - _SAMPLING - _HOOKS - _RUN
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}")
    return RunOptions(models=models, sampling=sampling, output=output, media_roots=roots, hooks=hooks,
                      max_new_tokens=flat.get("max_new_tokens", options.max_new_tokens))
