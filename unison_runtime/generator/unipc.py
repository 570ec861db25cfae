"""Wan's flow-matching UniPC, on a denoiser: the one solver of the code base (DESIGN §5).

UniPC (Zhao et al., "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of Diffusion
Models", NeurIPS 2023) as Wan 2.1 configures it: data prediction (the solver works on x0), order 2
with a lower order at the last step, the B(h) = e^h − 1 variant ("bh2"), a corrector after every
step but the last, on Wan's sigmas `linspace(0.999, 0, N+1)[:-1]` shifted by `shift`, ending at 0.

A flow-matching sample at noise level σ is x = (1 − σ)·x0 + σ·ε, so α = 1 − σ and the half
log-SNR is λ = log(α / σ). Between two levels s → t, with h = λ_t − λ_s and the model's x0
predictions m (m0 at s, m1 one step before s):

    predictor  x_t = (σ_t/σ_s)·x_s − α_t·(e^−h − 1)·m0 − α_t·B(h)·½·D1,   D1 = (m1 − m0)/r1
    corrector  x_t = (σ_t/σ_s)·x_s − α_t·(e^−h − 1)·m0 − α_t·B(h)·(ρ1·D1 + ρt·(m_t − m0))

with r1 = (λ_{s−1} − λ_s)/h, and (ρ1, ρt) solving the order-2 system [[1, 1], [r1, 1]]·ρ = (b1, b2),
b_k = k!·(−h)·φ_{k+1}(−h)/B(h) (φ the exponential-integrator functions); order 1 drops the D1
terms and takes ρt = ½.

Precision, as the reference runs it: the schedule is float32 and every step coefficient is computed
in float32 from it, applied to samples of any dtype; the time the model is conditioned on is Wan's
integer timestep, truncated from the float64 schedule (`FlowSchedule.timesteps`). The tests check
every intermediate sample against diffusers' `UniPCMultistepScheduler` with Wan's configuration.

Callers give a denoiser `denoise(x, sigma, timestep) -> x0`: a flow model's velocity v gives
x0 = x − σ·v (`generator.sampling` for our diffusers DiT; `nodes.comfy_wan` for ComfyUI's model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..errors import GenerationError

if TYPE_CHECKING:  # pragma: no cover
    import torch

WAN_SIGMA_MAX = 0.999   # Wan's first sigma before the shift (diffusers' own flow schedule starts at 1.0)
TRAIN_TIMESTEPS = 1000  # the model's time input is sigma · 1000, truncated to an integer
ORDER = 2
_SIGMA_ONE_EPS = 1e-6   # a first sigma of 1 would make λ = −inf; the reference moves it down by this


@dataclass(frozen=True)
class FlowSchedule:
    """The levels a run visits: `sigmas` float32 `[N + 1]` (decreasing; Wan's end at 0) and the
    model's time input at each of the first N, `timesteps` int64 `[N]`."""

    sigmas: "torch.Tensor"
    timesteps: "torch.Tensor"

    def __len__(self) -> int:
        return len(self.timesteps)


def shift_sigmas(sigmas, shift: float):
    """The flow-matching shift `shift·σ / (1 + (shift − 1)·σ)` (more steps at high noise)."""
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def wan_schedule(steps: int, shift: float) -> FlowSchedule:
    """Wan's schedule for `steps` steps: `linspace(0.999, 0, steps + 1)[:-1]` shifted, then 0."""
    import numpy as np
    import torch

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise GenerationError(f"steps {steps!r} is not allowed: use a whole number of at least 1")
    if isinstance(shift, bool) or not isinstance(shift, (int, float)) or not shift > 0:
        raise GenerationError(f"shift {shift!r} is not allowed: use a number above 0")
    # numpy's linspace, as the reference: torch's rounds some levels differently (and so the timesteps)
    levels = shift_sigmas(torch.from_numpy(np.linspace(WAN_SIGMA_MAX, 0.0, steps + 1)[:-1]), float(shift))
    return _schedule(torch.cat([levels, levels.new_zeros(1)]))


def schedule_from_sigmas(sigmas: "torch.Tensor") -> FlowSchedule:
    """A schedule for given sigmas (any source, e.g. a ComfyUI SIGMAS): decreasing, within [0, 1]."""
    import torch

    if not isinstance(sigmas, torch.Tensor) or sigmas.ndim != 1 or len(sigmas) < 2:
        raise GenerationError("sigmas must be a 1-D tensor of at least 2 levels (N steps need N + 1)")
    levels = sigmas.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(levels).all()) or float(levels.min()) < 0 or float(levels.max()) > 1:
        raise GenerationError("flow-matching sigmas must lie within [0, 1]")
    if not bool((levels[1:] < levels[:-1]).all()):
        raise GenerationError("sigmas must decrease strictly from step to step")
    return _schedule(levels)


def _schedule(levels: "torch.Tensor") -> FlowSchedule:
    """float64 levels → the float32 schedule, timesteps truncated from the float64 levels."""
    import torch

    levels = levels.clone()
    if abs(float(levels[0]) - 1.0) < _SIGMA_ONE_EPS:
        levels[0] -= _SIGMA_ONE_EPS
    timesteps = (levels[:-1] * TRAIN_TIMESTEPS).to(torch.int64)
    return FlowSchedule(sigmas=levels.to(torch.float32), timesteps=timesteps)


def model_sigma(timestep: "torch.Tensor", sigma: "torch.Tensor") -> float:
    """The level at which a model conditioned on σ·1000 (ComfyUI's) sees Wan's integer `timestep`;
    σ itself when the timestep is 0 (σ below 1/1000), where no velocity could be read back."""
    t = int(timestep)
    return t / TRAIN_TIMESTEPS if t > 0 else float(sigma)


def x0_at(x: "torch.Tensor", denoised: "torch.Tensor", at: float, sigma: float) -> "torch.Tensor":
    """A flow model's x0 at level `sigma` from its x0 `denoised` computed at level `at`: the same
    velocity v = (x − denoised)/at, so x0 = x − sigma·v."""
    if at == sigma:
        return denoised
    return x - (sigma / at) * (x - denoised)


@dataclass(frozen=True)
class SolverStep:
    """What one step saw and made, for progress, previews and cancellation."""

    index: int                 # 0-based
    total: int
    sigma: "torch.Tensor"      # the level of `x`
    x: "torch.Tensor"          # the sample the model saw
    denoised: "torch.Tensor"   # its x0 prediction
    next: "torch.Tensor"       # the sample after the step (at the next level)


Denoiser = Callable[["torch.Tensor", "torch.Tensor", "torch.Tensor"], "torch.Tensor"]


def sample(denoise: Denoiser, x: "torch.Tensor", schedule: FlowSchedule,
           callback: Callable[[SolverStep], object] | None = None) -> "torch.Tensor":
    """Run the solver from `x` (the sample at `schedule.sigmas[0]`) to the last level.

    `denoise(x, sigma, timestep)` gets the float32 0-d sigma and the model's int64 0-d timestep;
    `callback(step)` runs after every step (raise from it to stop)."""
    solver = FlowUniPC(schedule.sigmas)
    for i in range(len(schedule)):
        sigma = schedule.sigmas[i]
        denoised = denoise(x, sigma, schedule.timesteps[i])
        after = solver.step(x, denoised)
        if callback is not None:
            callback(SolverStep(i, len(schedule), sigma, x, denoised, after))
        x = after
    return x


class FlowUniPC:
    """The solver's state through one run: `step(x, x0)` once per level, in order."""

    def __init__(self, sigmas: "torch.Tensor"):
        import torch

        self.sigmas = sigmas.detach().to("cpu", torch.float32)
        self.index = 0
        self.denoised: list = []       # the last ORDER x0 predictions, oldest first
        self.last_sample = None        # the sample before the last predictor (for the corrector)
        self.last_order = 0            # the order of the last predictor

    def step(self, x: "torch.Tensor", denoised: "torch.Tensor") -> "torch.Tensor":
        """Correct `x` with its own x0 prediction (every step but the first), then predict the
        sample at the next level."""
        i, steps = self.index, len(self.sigmas) - 1
        if i >= steps:
            raise GenerationError(f"the schedule has {steps} steps; step {i + 1} asked for")
        if self.last_sample is not None:
            x = self._correct(x, denoised)
        self.denoised = [*self.denoised[-(ORDER - 1):], denoised]
        # Warm up from order 1; lower the order again at the end (lower_order_final).
        order = min(ORDER, steps - i, len(self.denoised))
        self.last_sample, self.last_order = x, order
        self.index += 1
        return self._predict(x, order)

    # -- the update formulas -----------------------------------------------------------------
    def _lambda(self, i: int):
        import torch

        sigma = self.sigmas[i]
        return torch.log(1 - sigma) - torch.log(sigma)

    def _base(self, t: int, s: int, x, m0):
        """The order-1 part shared by predictor and corrector, and the step's h and B(h)."""
        import torch

        sigma_t, sigma_s = self.sigmas[t], self.sigmas[s]
        alpha_t = 1 - sigma_t
        h = self._lambda(t) - self._lambda(s)
        h_phi_1 = torch.expm1(-h)  # e^−h − 1: the data-prediction step's exponential factor
        b_h = torch.expm1(-h)      # bh2: B(h) = e^h − 1 in the solver's own variable −h
        return sigma_t / sigma_s * x - alpha_t * h_phi_1 * m0, alpha_t, h, b_h

    def _difference(self, s: int, h, m0):
        """D1 = (m1 − m0) / r1 and r1, from the x0 prediction one level before `s`."""
        r1 = (self._lambda(s - 1) - self._lambda(s)) / h
        return (self.denoised[-2] - m0) / r1, r1

    def _predict(self, x, order: int):
        t, s = self.index, self.index - 1
        m0 = self.denoised[-1]
        base, alpha_t, h, b_h = self._base(t, s, x, m0)
        if order == 1:
            return base.to(x.dtype)
        d1, _ = self._difference(s, h, m0)
        return (base - alpha_t * b_h * (0.5 * d1)).to(x.dtype)

    def _correct(self, x, denoised):
        """UniC: the sample the last predictor made, corrected with the model's x0 at it."""
        last = self.last_sample
        t, s = self.index, self.index - 1
        m0 = self.denoised[-1]
        base, alpha_t, h, b_h = self._base(t, s, last, m0)
        if self.last_order == 1:
            rho_1, rho_t, d1 = None, 0.5, None
        else:
            d1, r1 = self._difference(s, h, m0)
            b1, b2 = self._b_coefficients(h, b_h)
            rho_1 = (b1 - b2) / (1 - r1)  # [[1, 1], [r1, 1]] · (rho_1, rho_t) = (b1, b2)
            rho_t = b1 - rho_1
        update = rho_t * (denoised - m0)
        if d1 is not None:
            update = rho_1 * d1 + update
        return (base - alpha_t * b_h * update).to(last.dtype)

    @staticmethod
    def _b_coefficients(h, b_h):
        """b_k = k!·(−h)·φ_{k+1}(−h) / B(h) for k = 1, 2, with φ_1(z) = (e^z − 1)/z and
        φ_{k+1}(z) = (φ_k(z) − 1/k!)/z."""
        import torch

        z = -h
        phi_1 = torch.expm1(z) / z
        z_phi_2 = phi_1 - 1              # z·φ_2(z)
        z_phi_3 = z_phi_2 / z - 0.5      # z·φ_3(z)
        return z_phi_2 * 1 / b_h, z_phi_3 * 2 / b_h
