"""Small builders shared by the tests (the runtime's options are split by concern; tests often
want a few of each)."""

from __future__ import annotations

from unison_runtime.pipeline.options import ModelOptions, OutputOptions, RunHooks, RunOptions, SamplingOptions
from unison_runtime.router import Overrides
from unison_runtime.sources import LoadSettings

_MODEL = {"models_dir", "folder_roots", "planner", "planner_model", "planner_adapter", "projector", "generator",
          "annotators_dir", "use_projector", "attention_backend", "given"}
_LOAD = {"dtype", "device", "offload_policy"}
_SAMPLING = {"seed", "steps", "cfg", "shift", "context_scale", "negative_prompt", "max_new_tokens"}
_HOOKS = {"progress", "cancel", "interrupt"}


def run_options(**flat) -> RunOptions:
    """RunOptions from flat keywords (models_dir=..., steps=..., out_dir=..., cancel=...)."""
    unknown = set(flat) - _MODEL - _LOAD - _SAMPLING - _HOOKS - {"out_dir", "media_roots"}
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}")
    pick = lambda names: {k: v for k, v in flat.items() if k in names}  # noqa: E731
    return RunOptions(models=ModelOptions(**pick(_MODEL), load=LoadSettings(**pick(_LOAD))),
                      sampling=SamplingOptions(**pick(_SAMPLING)),
                      output=OutputOptions(out_dir=flat.get("out_dir")),
                      media_roots=tuple(flat.get("media_roots", ())), hooks=RunHooks(**pick(_HOOKS)))


def overrides(values: dict | None) -> Overrides | None:
    return Overrides.from_mapping(values) if values is not None else None
