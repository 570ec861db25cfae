"""The native bridge: our planning in front of ComfyUI's own Wan VACE graph (issue 17).

- `planner_outputs` / `router_outputs`: the values the Planner and the Task Router append as
  native sockets (prompt for `CLIPTextEncode`, size and length, `WanVaceToVideo`'s VACE inputs).
  The computation is `unison_runtime.native`; here only blocking for understanding tasks.
"""

from __future__ import annotations

from . import comfy_glue as glue

# Sockets appended to UnisonPlanner and UnisonTaskRouter (after their original outputs, so saved
# workflows keep their links): (type, name, tooltip).
PLANNER_OUTPUTS = (
    ("STRING", "prompt", "The request as the generator's T5 reads it, for CLIPTextEncode (parentheses escaped)."),
    ("INT", "width", "Planned width, for WanVaceToVideo (an edit keeps its source's size)."),
    ("INT", "height", "Planned height, for WanVaceToVideo."),
    ("INT", "length", "Planned frame count (Wan's 4k+1), for WanVaceToVideo's length."),
)
ROUTER_OUTPUTS = (
    ("STRING", "prompt", "The request as the generator's T5 reads it, for CLIPTextEncode (parentheses escaped)."),
    ("IMAGE", "control_video", "For WanVaceToVideo's control_video: source frames 0..1, gray where regenerated; "
                               "absent when the task has no source (WanVaceToVideo then uses gray)."),
    ("MASK", "control_masks", "For WanVaceToVideo's control_masks: 1 = regenerate; absent when the task has no source."),
    ("IMAGE", "reference_image", "For WanVaceToVideo's reference_image: the reference letterboxed to the target "
                                 "size; absent when the plan has none."),
    ("BOOLEAN", "needs_generator", "False for understanding tasks (answered by the planner), else True."),
)


def planner_outputs(bundle) -> tuple:
    """(prompt, width, height, length) for a planned request; blocked for understanding tasks.

    The size comes from routing the plan with its media (no overrides), as the router does."""
    if bundle.plan.is_understanding:
        return (glue.blocked(None),) * len(PLANNER_OUTPUTS)
    from unison_runtime.native import comfy_prompt, wan_length

    from . import stage_two

    routed = stage_two.route_bundle(bundle, {})
    bundle.arrays = routed.arrays  # the media are read once: the router reuses them
    route = routed.route
    return comfy_prompt(bundle.prompt), route.width, route.height, wan_length(route.num_frames)


def router_outputs(bundle) -> tuple:
    """(prompt, control_video, control_masks, reference_image, needs_generator) for a routed bundle."""
    if bundle.route is None or not bundle.route.needs_generator:
        block = glue.blocked(None)
        return block, block, block, block, False
    from unison_runtime.native import comfy_prompt, vace_inputs

    vace = vace_inputs(bundle.stage_two)
    return comfy_prompt(bundle.prompt), vace.control_video, vace.control_masks, vace.reference_image, True
