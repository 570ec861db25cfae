"""The pack's link types (V3 custom types: `PLAN.Input(...)`, `PLAN.Output(...)`). Each carries one
typed runtime value:

- UNISON_PLANNER / UNISON_PROJECTOR / UNISON_GENERATOR / UNISON_ANNOTATORS: the runtime's
  *sources* (`unison_runtime.sources`): how to load the model, not the model. The model lives in
  the runtime's model manager, so two loaders naming the same files share one copy, ComfyUI's
  output cache never pins weights in memory, and "Unload models" really releases them.
- UNISON_PLAN: `unison_runtime.pipeline.stages.Planned` (request, plan, answer, route, inputs).
- UNISON_CONDITIONING: `unison_runtime.pipeline.stages.Conditioning` (text + projector tokens).
"""

from comfy_api.latest import io

PLANNER = io.Custom("UNISON_PLANNER")
GENERATOR = io.Custom("UNISON_GENERATOR")
PROJECTOR = io.Custom("UNISON_PROJECTOR")
ANNOTATORS = io.Custom("UNISON_ANNOTATORS")
PLAN = io.Custom("UNISON_PLAN")
CONDITIONING = io.Custom("UNISON_CONDITIONING")


def expect(value, cls: type, node: str, what: str, source: str):
    """`value` when it is a `cls`; else a clear error naming the socket and where to connect it."""
    if not isinstance(value, cls):
        raise ValueError(f"{node}: the {what} input must come from {source}, got {type(value).__name__}")
    return value
