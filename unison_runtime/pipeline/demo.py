"""`demo`: one request per task (all 12) on the tiny demo models, no downloads.

Builds the tiny models if absent, writes sample media, runs each request the way a user would
write it (planned by the rules planner, since the tiny planner's random weights cannot plan),
and writes each output plus `report.json` (an existing report is kept: the new one takes the
next free name, `report_1.json`, ...). Sizes are overridden to tiny previews so the whole
demo runs in well under three minutes on two CPU cores; the report keeps the planned values.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

# (task, request). Media names refer to `samples.write_sample_media`.
DEMO_REQUESTS = (
    ("text_understanding", "What is the capital of France?"),
    ("image_understanding", "What is in this picture? ###unison_scene.png###"),
    ("video_understanding", "Describe what happens in this clip ###unison_clip.mp4###"),
    ("text_to_image", "Generate an image of a lion resting on a rock at sunset"),
    ("image_edit", "Replace the masked area with a bouquet of flowers ###unison_scene.png### "
                   "###unison_scene_mask.png###"),
    ("image_control", "Generate an image of a dancer following this pose ###unison_pose.png###"),
    ("image_reference", "Create a picture of this character reading in a library ###unison_character.png###"),
    ("text_to_video", "Make a 2-second 768×480 video of a lion walking through tall grass"),
    ("image_to_video", "Animate this image so the ball rolls away ###unison_scene.png###"),
    ("video_reference", "Make a video of this character walking on the beach ###unison_character.png###"),
    ("video_edit", "Turn the main subject of this video into a golden statue ###unison_clip.mp4###"),
    ("video_control", "Generate a video of a robot dancing following the pose in this video "
                      "###unison_pose_clip.mp4###"),
)
PREVIEW = {"width": 64, "height": 48}
PREVIEW_VIDEO_FRAMES = 5
DEMO_STEPS = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder for the outputs and report.json")
    parser.add_argument("--models", type=Path,
                        help="tiny models folder (default OUT/models; built there if absent; a folder "
                             "holding other models is used as it is, never written to)")
    parser.add_argument("--steps", type=int, default=DEMO_STEPS, help=f"sampling steps (default {DEMO_STEPS})")
    parser.add_argument("--only", action="append", default=[], help="run only these tasks (repeatable)")


def run_demo(out: Path, models: Path | None = None, steps: int = DEMO_STEPS,
             only: tuple[str, ...] = (), progress: bool = True) -> dict:
    from ..demo_models import MARKER, build_demo_models
    from ..facts import VIDEO_TASKS
    from ..outputs import write_text
    from ..router import Overrides
    from .checks import check_out_dir
    from ..generator.inputs import SamplerSettings
    from .options import ModelOptions, OutputOptions, RunOptions
    from .run import run
    from .samples import write_sample_media

    out = Path(out).resolve()
    check_out_dir(out)
    models = Path(models).resolve() if models else out / "models"
    start = time.perf_counter()
    # A given folder that already holds models the demo did not build (no marker) is used as it
    # is: the demo never writes into it (build_demo_models would refuse to replace those files).
    foreign = models.is_dir() and any(models.iterdir()) and not (models / MARKER).exists()
    if not foreign:
        build_demo_models(models)
    elif progress:
        print(f"using the models already in {models} as they are (the demo did not build them)")
    built_seconds = time.perf_counter() - start
    inputs = out / "inputs"
    write_sample_media(inputs)
    unknown = sorted(set(only) - {task for task, _ in DEMO_REQUESTS})
    if unknown:
        from ..errors import UnisonError

        raise UnisonError(f"unknown task(s) {unknown}; allowed: {', '.join(t for t, _ in DEMO_REQUESTS)}")
    report = {"models": str(models), "models_built_by_demo": not foreign,
              "build_models_seconds": round(built_seconds, 2), "tasks": []}
    for task, text in DEMO_REQUESTS:
        if only and task not in only:
            continue
        frames = PREVIEW_VIDEO_FRAMES if task in VIDEO_TASKS else None
        overrides = Overrides(**PREVIEW, num_frames=frames)
        options = RunOptions(models=ModelOptions(models_dir=models, planner="rules"),
                             sampling=SamplerSettings(steps=steps), max_new_tokens=16,
                             output=OutputOptions(out_dir=out / task), media_roots=(inputs,))
        t0 = time.perf_counter()
        result = run(text, overrides, options)
        entry = {"expected_task": task, "request": text, **result.to_dict(),
                 "total_seconds": round(time.perf_counter() - t0, 3)}
        report["tasks"].append(entry)
        if progress:
            made = result.answer[:40] + "..." if result.answer is not None else result.files[0].name
            print(f"{task:20s} -> {result.route.task:20s} {entry['total_seconds']:6.2f}s  {made!r}")
    report["total_seconds"] = round(time.perf_counter() - start, 2)
    # An earlier demo's report is kept: this one takes the next free name (report_1.json, ...).
    report_file = write_text(out / "report.json", json.dumps(report, indent=2, ensure_ascii=False))
    return {**report, "report_file": str(report_file)}


def run(args: argparse.Namespace) -> int:
    report = run_demo(args.out, args.models, steps=args.steps, only=tuple(args.only))
    wrong = [t["expected_task"] for t in report["tasks"] if t["task"] != t["expected_task"]]
    print(f"{len(report['tasks'])} tasks in {report['total_seconds']}s; report: {report['report_file']}")
    if wrong:
        print(f"planned a different task than expected for: {', '.join(wrong)}")
        return 1
    return 0
