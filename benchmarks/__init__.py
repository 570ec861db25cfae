"""CPU benchmarks for ComfyUI-Unison on the tiny demo models (issue 8, CPU part).

Run from the repository root:

    python -m benchmarks [--quick] [--out DIR] [--models DIR] [--doc docs/PERFORMANCE.md]

Writes `DIR/benchmarks.json` and `DIR/benchmarks.md`. Every figure is a median over repeated
runs; every comparison is a ratio of two things measured in the same run, interleaved, so a busy
machine slows both sides alike. The measuring functions live in `benchmarks.suite` and take their
sizes and repeat counts as arguments, so the tests can run them at minimal sizes.
"""

__all__ = ["suite", "report"]
