"""Our flow-matching UniPC (generator/unipc.py) against diffusers' `UniPCMultistepScheduler` in Wan's
configuration (the reference our diffusers path ran until now): the same model outputs in, every
intermediate sample equal, for several step counts and shifts, in float64 and float32."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from unison_runtime.errors import GenerationError
from unison_runtime.generator import unipc

CONFIG = Path(__file__).resolve().parents[1] / "unison_runtime/generator/configs/scheduler/scheduler_config.json"
SHAPE = (1, 4, 3, 5, 6)  # [B, C, T, H, W], as the DiT's latents


def reference_scheduler(steps: int, shift: float):
    """diffusers' scheduler exactly as our diffusers path configured it (sampling.make_scheduler)."""
    from diffusers import UniPCMultistepScheduler

    scheduler = UniPCMultistepScheduler.from_config(json.loads(CONFIG.read_text()), flow_shift=shift,
                                                    use_flow_sigmas=True, prediction_type="flow_prediction")
    scheduler.set_timesteps(sigmas=np.linspace(unipc.WAN_SIGMA_MAX, 0.0, steps + 1)[:-1])
    return scheduler


class Velocity:
    """A deterministic stand-in for the DiT's velocity: non-linear in x, different at every step."""

    def __init__(self, dtype, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.weight = torch.randn(SHAPE[1], SHAPE[1], generator=g, dtype=torch.float64).to(dtype) / 2
        self.offsets = torch.randn(1000, *SHAPE, generator=g, dtype=torch.float64).to(dtype) / 4

    def __call__(self, x, step):
        mixed = torch.einsum("oc,bcthw->bothw", self.weight, x)
        return torch.tanh(mixed) - x + self.offsets[step % 1000]


def run_both(steps: int, shift: float, dtype):
    velocity = Velocity(dtype)
    start = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(dtype)

    scheduler = reference_scheduler(steps, shift)
    theirs, x = [], start.clone()
    for i, t in enumerate(scheduler.timesteps):
        x = scheduler.step(velocity(x, i), t, x, return_dict=False)[0]
        theirs.append(x)

    ours, seen = [], []

    def denoise(x, sigma, timestep):  # x0 of a flow model: x − σ·v
        seen.append((sigma, timestep))
        return x - sigma * velocity(x, len(seen) - 1)

    schedule = unipc.wan_schedule(steps, shift)
    final = unipc.sample(denoise, start.clone(), schedule, callback=lambda step: ours.append(step.next))
    return scheduler, schedule, theirs, ours, final, seen


@pytest.mark.parametrize("steps", [1, 2, 3, 10, 50])
@pytest.mark.parametrize("shift", [1.0, 3.0, 5.0, 8.0])
@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-6), (torch.float32, 1e-5)])
def test_every_intermediate_sample_equals_diffusers(steps, shift, dtype, tolerance):
    scheduler, schedule, theirs, ours, final, seen = run_both(steps, shift, dtype)
    assert len(ours) == len(theirs) == steps
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.dtype == b.dtype == dtype
        err = float((a - b).abs().max())
        assert err <= tolerance, f"step {i + 1} of {steps}: max difference {err:.3g}"
    assert final is ours[-1]
    # The same levels and the same model time input (Wan's integer timesteps).
    assert torch.equal(schedule.sigmas, scheduler.sigmas)
    assert torch.equal(schedule.timesteps, scheduler.timesteps.cpu())
    assert [int(t) for _, t in seen] == scheduler.timesteps.tolist()
    assert all(s.dtype == torch.float32 and s.ndim == 0 for s, _ in seen)


def test_the_last_step_lands_on_the_models_prediction():
    """σ ends at 0 and the last step is first order: the result is the last x0 prediction itself."""
    velocity = Velocity(torch.float32)
    seen = []

    def denoise(x, sigma, timestep):
        seen.append(x - sigma * velocity(x, len(seen)))
        return seen[-1]

    out = unipc.sample(denoise, torch.randn(SHAPE), unipc.wan_schedule(6, 5.0))
    assert torch.equal(out, seen[-1])


def test_wan_schedule_starts_at_0999_shifted_and_ends_at_zero():
    schedule = unipc.wan_schedule(4, 5.0)
    s = np.linspace(0.999, 0, 5)[:-1]
    expected = 5 * s / (1 + 4 * s)
    assert schedule.sigmas.dtype == torch.float32 and len(schedule) == 4
    np.testing.assert_allclose(schedule.sigmas[:-1].numpy(), expected.astype(np.float32), rtol=0, atol=0)
    assert float(schedule.sigmas[-1]) == 0.0
    assert schedule.timesteps.tolist() == [int(v * 1000) for v in expected]  # truncated, as Wan does


def test_sigmas_from_elsewhere_get_the_same_timestep_rule():
    given = torch.tensor([1.0, 0.75, 0.5, 0.0])
    schedule = unipc.schedule_from_sigmas(given)
    assert float(schedule.sigmas[0]) == pytest.approx(1 - 1e-6)  # log(0) avoided, as the reference does
    assert schedule.timesteps.tolist() == [999, 750, 500]
    torch.testing.assert_close(schedule.sigmas[1:], given[1:])


@pytest.mark.parametrize("bad,message", [
    (torch.tensor([0.5]), "at least 2 levels"),
    (torch.tensor([0.5, 0.7, 0.0]), "decrease strictly"),
    (torch.tensor([1.5, 0.5, 0.0]), r"within \[0, 1\]"),
    (torch.tensor([[0.9, 0.0]]), "1-D tensor"),
    (torch.tensor([0.9, float("nan")]), r"within \[0, 1\]"),
])
def test_bad_sigmas_are_named(bad, message):
    with pytest.raises(GenerationError, match=message):
        unipc.schedule_from_sigmas(bad)


@pytest.mark.parametrize("steps,shift,message", [(0, 5.0, "steps 0"), (2.5, 5.0, "steps 2.5"),
                                                 (4, 0.0, "shift 0.0"), (4, "5", "shift '5'")])
def test_bad_steps_and_shift_are_named(steps, shift, message):
    with pytest.raises(GenerationError, match=message):
        unipc.wan_schedule(steps, shift)


def test_a_step_past_the_schedule_is_refused():
    solver = unipc.FlowUniPC(unipc.wan_schedule(1, 5.0).sigmas)
    x = torch.zeros(SHAPE)
    solver.step(x, x)
    with pytest.raises(GenerationError, match="1 steps; step 2"):
        solver.step(x, x)


def test_the_callback_sees_each_step_and_can_stop_the_run():
    seen = []

    class Stop(Exception):
        pass

    def callback(step):
        seen.append((step.index, step.total, float(step.sigma)))
        if step.index == 1:
            raise Stop

    calls = []
    with pytest.raises(Stop):
        unipc.sample(lambda x, s, t: calls.append(1) or x * 0, torch.randn(SHAPE), unipc.wan_schedule(5, 5.0), callback)
    schedule = unipc.wan_schedule(5, 5.0)
    assert seen == [(0, 5, float(schedule.sigmas[0])), (1, 5, float(schedule.sigmas[1]))] and len(calls) == 2


def test_a_comfy_model_is_asked_at_wans_integer_timestep():
    """ComfyUI conditions its model on σ·1000: asking it at t/1000 gives Wan's integer timestep t,
    and the prediction re-expressed at σ with the same velocity is the x0 the reference gets."""
    g = torch.Generator().manual_seed(2)
    x, v = torch.randn(SHAPE, generator=g, dtype=torch.float64), torch.randn(SHAPE, generator=g, dtype=torch.float64)
    schedule = unipc.wan_schedule(50, 5.0)
    sigma, timestep = schedule.sigmas[10], schedule.timesteps[10]
    at = unipc.model_sigma(timestep, sigma)
    assert at == int(timestep) / 1000 and at != float(sigma)
    denoised_at = x - at * v  # what a flow model gives at level `at`
    torch.testing.assert_close(unipc.x0_at(x, denoised_at, at, float(sigma)), x - float(sigma) * v)
    # Below 1/1000 the timestep is 0 and no velocity could be read back: the level itself.
    assert unipc.model_sigma(torch.tensor(0), torch.tensor(0.0004)) == pytest.approx(0.0004)
    assert unipc.x0_at(x, denoised_at, 0.5, 0.5) is denoised_at
