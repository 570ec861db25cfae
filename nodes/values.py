"""The pack's link types. Each carries one typed runtime value:

- UNISON_PLANNER / UNISON_PROJECTOR / UNISON_GENERATOR / UNISON_ANNOTATORS: the runtime's
  *sources* (`unison_runtime.sources`): how to load the model, not the model. The model lives in
  the runtime's model manager, so two loaders naming the same files share one copy, ComfyUI's
  output cache never pins weights in memory, and "Unload models" really releases them.
- UNISON_PLAN: `unison_runtime.pipeline.stages.Planned` (request, plan, answer, route, inputs).
- UNISON_CONDITIONING: `unison_runtime.pipeline.stages.Conditioning` (text + projector tokens).
"""

PLANNER = "UNISON_PLANNER"
GENERATOR = "UNISON_GENERATOR"
PROJECTOR = "UNISON_PROJECTOR"
ANNOTATORS = "UNISON_ANNOTATORS"
PLAN = "UNISON_PLAN"
CONDITIONING = "UNISON_CONDITIONING"


def expect(value, cls: type, node: str, what: str, source: str):
    """`value` when it is a `cls`; else a clear error naming the socket and where to connect it."""
    if not isinstance(value, cls):
        raise ValueError(f"{node}: the {what} input must come from {source}, got {type(value).__name__}")
    return value
