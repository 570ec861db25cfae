"""Wan's own sampling for core graphs: a SAMPLER (Wan's flow-matching UniPC, the solver our
generator runs) and Wan's SIGMAS, for core `SamplerCustom` / `SamplerCustomAdvanced`."""

from __future__ import annotations

from comfy_api.latest import io
from unison_runtime.api import MAX_STEPS, SamplerSettings

from . import comfy_glue as glue
from . import comfy_wan

CATEGORY = "Unison/sampling"
DEFAULT = SamplerSettings()  # the widgets' defaults


class UnisonWanUniPC(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnisonWanUniPC", display_name="Unison Wan UniPC (sampler)", category=CATEGORY,
            description=(
                "Wan 2.1's own sampler, as the reference runs it: flow-matching UniPC (order 2, bh2, a corrector "
                "after every step, first order at the last), the model asked at Wan's integer timesteps, a fresh "
                "generation started from the unit noise. For SamplerCustom / SamplerCustomAdvanced with Unison Wan "
                "Sigmas; other sigmas work too. Wan 2.1 models only (VACE or not)."),
            inputs=[],
            outputs=[io.Sampler.Output(display_name="sampler", tooltip=(
                "Wan's UniPC, for SamplerCustom's or SamplerCustomAdvanced's sampler input."))],
        )

    @classmethod
    def execute(cls) -> io.NodeOutput:
        glue.on_first_run()
        return io.NodeOutput(comfy_wan.wan_unipc_sampler())


class UnisonWanSigmas(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnisonWanSigmas", display_name="Unison Wan Sigmas", category=CATEGORY,
            description=(
                "Wan 2.1's sigma schedule: linspace(0.999, 0) over the steps, shifted by shift, ending at 0 (ComfyUI's "
                "BasicScheduler starts at 1.0 and takes the shift from ModelSamplingSD3). With Unison Wan UniPC this "
                "is the reference's sampling exactly; connect it to SamplerCustom's sigmas."),
            inputs=[
                io.Int.Input("steps", default=DEFAULT.steps, min=1, max=MAX_STEPS,
                             tooltip="Sampling steps (50 as in the paper)."),
                io.Float.Input("shift", default=DEFAULT.shift, min=0.01, max=100.0, step=0.1, round=0.01,
                               tooltip="Flow-matching sigma shift (5 as in the paper): more steps at high noise."),
            ],
            outputs=[io.Sigmas.Output(display_name="sigmas", tooltip="steps + 1 decreasing noise levels ending at 0.")],
        )

    @classmethod
    def execute(cls, steps, shift) -> io.NodeOutput:
        from unison_runtime.api import wan_sigmas

        return io.NodeOutput(wan_sigmas(steps, shift))


NODES = [UnisonWanUniPC, UnisonWanSigmas]
