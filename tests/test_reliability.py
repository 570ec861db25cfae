"""Bad input as a careless or hostile user gives it (issue 14): nothing hangs, exhausts memory,
loses or overwrites a file, and every refusal is one clear line naming the value and what is
allowed. Each test failed on the code before the fix."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from _reliability_counts import count, counted_module  # noqa: F401  (autouse: writes the counts)
from unison_runtime import media, outputs
from unison_runtime.errors import (DeviceError, GenerationError, MediaError, ModelLoadError,
                                   OutputError, PlanError, RequestError, UnisonError)
from helpers import overrides as as_overrides
from helpers import with_option
from unison_runtime.pipeline import run as run_pipeline


def run(text, values, options):
    """`pipeline.run` with the overrides written as a dict."""
    return run_pipeline(text, as_overrides(values), options)

ROOT = Path(__file__).resolve().parents[1]
TINY = {"width": 32, "height": 32}
EDIT = "Replace the masked area with flowers ###unison_scene.png### ###{mask}###"


@pytest.fixture
def options(rules_run_options):
    return rules_run_options


def refused(error_type, call, *match: str) -> str:
    """Run `call`, expect `error_type` with a one-line message containing every `match`."""
    count("inputs_tried")
    with pytest.raises(error_type) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message, message
    for part in match:
        assert part in message, message
    return message


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fails the test if anything asks for a model: validation must come first."""
    from unison_runtime import sources

    def forbidden(*_, **__):
        raise AssertionError("a model was loaded before the settings were validated")

    for source in (sources.PlannerSource, sources.GeneratorSource, sources.ProjectorSource, sources.AnnotatorSources):
        monkeypatch.setattr(source, "load", forbidden)


# -- 1. files are never lost, replaced or half-written ----------------------------------------------
@pytest.mark.timeout(60)
def test_dangling_symlinks_in_out_neither_hang_nor_drop_the_output(options):
    out = options.output.out_dir
    out.mkdir()
    for name in ("output.png", "result.json", "answer.txt"):
        (out / name).symlink_to(out / f"missing-{name}")  # dangling: Path.exists() says False
    count("inputs_tried", 3)
    image = run("Generate an image of a cat", TINY, options)
    answer = run("What is the capital of France?", None, options)
    assert [p.name for p in image.files] == ["output_1.png"] and image.files[0].stat().st_size > 0
    assert [p.name for p in answer.files] == ["answer_1.txt"]
    assert json.loads((out / "result_1.json").read_text())["task"] == "text_to_image"
    assert json.loads((out / "result_2.json").read_text())["task"] == "text_understanding"
    for name in ("output.png", "result.json", "answer.txt"):  # the links are left as they were
        assert (out / name).is_symlink() and not (out / f"missing-{name}").exists()


def test_a_run_that_loses_the_race_for_a_name_takes_the_next_one(tmp_path, monkeypatch):
    real_save = Image.Image.save

    def save_while_another_run_publishes(self, fp, *args, **kwargs):
        real_save(self, fp, *args, **kwargs)
        if not (tmp_path / "output.png").exists():
            (tmp_path / "output.png").write_bytes(b"the other run's image")

    monkeypatch.setattr(Image.Image, "save", save_while_another_run_publishes)
    count("faults_injected")
    written = media.save_png(np.zeros((8, 8, 3), np.uint8), tmp_path / "output.png", next_free=True)
    assert written.name == "output_1.png" and media.load_image(written).size == (8, 8)
    assert (tmp_path / "output.png").read_bytes() == b"the other run's image"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output.png", "output_1.png"]


def test_publish_modes_and_refusals(tmp_path):
    (tmp_path / "taken.txt").symlink_to(tmp_path / "nowhere")
    refused(OutputError, lambda: outputs.write_text(tmp_path / "taken.txt", "x", exists="error"), "a symlink")
    refused(OutputError, lambda: outputs.write_text(tmp_path / "x.txt", "x", exists="sometimes"), "allowed")
    refused(OutputError, lambda: outputs.write_text(tmp_path / "no" / "x.txt", "x"), "does not exist")
    assert outputs.write_text(tmp_path / "taken.txt", "mine").name == "taken_1.txt"
    assert outputs.write_text(tmp_path / "taken_1.txt", "again", exists="replace").read_text() == "again"
    assert not (tmp_path / "nowhere").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_out_pointing_at_an_existing_file_is_refused_before_anything_runs(options, tmp_path, no_model_loads):
    target = tmp_path / "precious.png"
    target.write_bytes(b"user data")
    options = with_option(options, out_dir=target)
    refused(RequestError, lambda: run("Generate an image of a cat", TINY, options), "precious.png", "existing file")
    assert target.read_bytes() == b"user data"


def _build_projector_only(monkeypatch):
    import unison_runtime.demo_models as demo_models

    monkeypatch.setattr(demo_models, "FAMILIES", ("projector",))  # the cheapest family; same logic
    return demo_models


def test_demo_models_never_replace_files_they_did_not_write(tmp_path, monkeypatch):
    demo_models = _build_projector_only(monkeypatch)
    folder = tmp_path / "models"
    (folder / "projector").mkdir(parents=True)
    (folder / "projector" / "projector.pth").write_bytes(b"the user's trained projector")
    refused(OutputError, lambda: demo_models.build_demo_models(folder), "projector/projector.pth",
            "nothing was written")
    assert (folder / "projector" / "projector.pth").read_bytes() == b"the user's trained projector"
    assert sorted(p.name for p in folder.rglob("*")) == ["projector", "projector.pth"]


def test_demo_models_rebuild_their_own_files_but_not_changed_ones(tmp_path, monkeypatch):
    demo_models = _build_projector_only(monkeypatch)
    folder = demo_models.build_demo_models(tmp_path / "models")
    assert (folder / demo_models.MARKER).is_file() and (folder / "projector" / "projector.pth").is_file()
    demo_models.build_demo_models(folder, force=True)  # its own, unchanged files: replaced
    with open(folder / "projector" / "projector.safetensors", "ab") as handle:
        handle.write(b"edited by the user")
    refused(OutputError, lambda: demo_models.build_demo_models(folder, force=True), "projector.safetensors")
    assert (folder / "projector" / "projector.safetensors").read_bytes().endswith(b"edited by the user")


def test_demo_never_writes_into_a_models_folder_it_did_not_build(tmp_path, monkeypatch):
    from unison_runtime.pipeline.demo import run_demo

    _build_projector_only(monkeypatch)
    folder = tmp_path / "my_models"
    (folder / "projector").mkdir(parents=True)
    (folder / "projector" / "projector.pth").write_bytes(b"the user's trained projector")
    refused(UnisonError, lambda: run_demo(tmp_path / "demo", models=folder, only=("text_to_image",),
                                          progress=False), "generator")
    assert (folder / "projector" / "projector.pth").read_bytes() == b"the user's trained projector"
    assert sorted(p.name for p in folder.rglob("*")) == ["projector", "projector.pth"]


def test_demo_out_never_replaces_a_report(all_models, tmp_path):
    from unison_runtime.pipeline.demo import run_demo

    out = tmp_path / "demo"
    out.mkdir()
    (out / "report.json").write_text("an earlier report")
    count("inputs_tried")
    report = run_demo(out, models=all_models, only=("text_understanding",), progress=False)
    assert (out / "report.json").read_text() == "an earlier report"
    assert Path(report["report_file"]).name == "report_1.json"
    assert json.loads((out / "report_1.json").read_text())["tasks"][0]["task"] == "text_understanding"


# -- 2. memory: pixel bombs and the per-request budget ---------------------------------------------
def test_a_video_pixel_bomb_is_refused_before_decoding(tmp_path):
    import av

    path = tmp_path / "bomb.mp4"
    with av.open(str(path), "w") as container:  # the file: ~200 KB, 8192x8192 frames
        stream = container.add_stream("libx264", rate=24)
        stream.width = stream.height = 8192
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast"}
        frame = av.VideoFrame(8192, 8192, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert path.stat().st_size < 2_000_000
    refused(MediaError, lambda: media.load_video(path), "bomb.mp4", "8192x8192", "at most")
    from unison_runtime.media_budget import check_media_budget

    refused(MediaError, lambda: check_media_budget([(path, "video")]), "8192x8192")


def test_videos_decode_at_the_size_needed(tmp_path):
    frames = np.random.RandomState(0).randint(0, 255, (3, 96, 128, 3), dtype=np.uint8)
    path = media.save_mp4(frames, tmp_path / "clip.mp4")
    assert media.load_video(path, max_side=64).shape == (3, 48, 64, 3)
    assert media.load_video(path).shape == (3, 96, 128, 3)


def _request(tmp_path, names):
    from unison_runtime.request import parse_request

    return parse_request("Edit " + " ".join(f"###{n}###" for n in names), [tmp_path])


def _reference_route(count: int):
    """A route that uses every one of `count` images (as references)."""
    from unison_runtime.plan import Plan
    from unison_runtime.router import Route

    return Route(plan=Plan(task="image_reference", reference=True), task="image_reference", needs_generator=True,
                 width=64, height=64, num_frames=1, reference_indices=tuple(range(count)), annotator="reference")


def test_a_file_named_many_times_is_decoded_once(tmp_path, monkeypatch):
    from unison_runtime.pipeline import stage_two

    Image.fromarray(np.zeros((4000, 4000, 3), np.uint8)).save(tmp_path / "big.png")
    calls = []
    real = media.load_image
    monkeypatch.setattr(media, "load_image", lambda path: calls.append(path) or real(path))
    count("inputs_tried")
    arrays = stage_two.load_route_media(_reference_route(40), _request(tmp_path, ["big.png"] * 40))
    assert len(arrays) == 40 and len(calls) == 1 and all(a is arrays[0] for a in arrays.values())


def test_the_media_budget_refuses_before_decoding(tmp_path, monkeypatch):
    from unison_runtime.pipeline import stage_two

    for i in range(3):
        Image.fromarray(np.full((100, 100, 3), i, np.uint8)).save(tmp_path / f"p{i}.png")
    monkeypatch.setattr(media, "MEDIA_PIXEL_BUDGET", 25_000)  # room for two of the three
    monkeypatch.setattr(media, "load_image", lambda path: pytest.fail("decoded before the budget check"))
    request = _request(tmp_path, ["p0.png", "p1.png", "p2.png"])
    refused(MediaError, lambda: stage_two.load_route_media(_reference_route(3), request),
            "30,000 pixels", "the limit is 25,000")
    from unison_runtime.media_budget import check_media_budget

    headers = check_media_budget(_request(tmp_path, ["p0.png", "p1.png", "p0.png", "p1.png"]).media)
    assert sorted(h.path.name for h in headers) == ["p0.png", "p1.png"]  # distinct files count once


# -- 3. 16-bit PNGs and surprising masks ---------------------------------------------------------
def _png16(path: Path, array: np.ndarray) -> Path:
    """A 16-bit PNG (greyscale [H, W] or RGB [H, W, 3]) written by hand: PIL cannot write 16-bit RGB."""
    height, width = array.shape[:2]
    color_type = 2 if array.ndim == 3 else 0
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))
    return path


RAMP = np.linspace(0, 65535, 96).round().astype(np.uint16).reshape(8, 12)


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path):
    path = _png16(tmp_path / "ramp16.png", RAMP)
    count("inputs_tried")
    mask = media.load_mask(path)
    assert mask.sum() == 48  # the upper half of the ramp, not 95 of 96 pixels
    grey = np.asarray(media.load_image(path))[..., 0]
    np.testing.assert_allclose(grey, RAMP / 257.0, atol=0.51)


def test_16_bit_rgb_is_scaled(tmp_path):
    rgb = np.stack([RAMP, 65535 - RAMP, np.full_like(RAMP, 32896)], -1)
    count("inputs_tried")
    image = np.asarray(media.load_image(_png16(tmp_path / "rgb16.png", rgb)))
    np.testing.assert_allclose(image, rgb / 257.0, atol=1.01)


def test_an_all_black_mask_runs_and_says_it_changes_nothing(options, sample_media):
    Image.fromarray(np.zeros((64, 96), np.uint8)).save(sample_media / "black_mask.png")
    count("inputs_tried")
    result = run(EDIT.format(mask="black_mask.png"), TINY, options)
    assert result.frames is not None and result.stage_two["masked_fraction"] == 0
    assert any("marks no pixel" in note for note in result.route.notes), result.route.notes


def test_a_mask_of_another_size_is_noted(options, sample_media):
    source = Image.open(sample_media / "unison_scene.png").size
    mask = np.zeros((50, 70), np.uint8)
    mask[10:40, 20:50] = 255
    Image.fromarray(mask).save(sample_media / "small_mask.png")
    count("inputs_tried")
    result = run(EDIT.format(mask="small_mask.png"), TINY, options)
    assert any(f"is 70x50 but its source (media #1) is {source[0]}x{source[1]}" in n for n in result.route.notes), \
        result.route.notes


# -- 4. one clear line instead of a traceback ----------------------------------------------------
@pytest.fixture
def generator_copy(generator_models, tmp_path):
    from unison_runtime.layout import GENERATOR_DIFFUSERS

    folder = tmp_path / "generator"
    shutil.copytree(generator_models / GENERATOR_DIFFUSERS, folder)
    return folder


def test_a_scheduler_config_that_is_not_json(generator_copy):
    from unison_runtime.generator.loading import load_generator

    (generator_copy / "scheduler" / "scheduler_config.json").write_text("{scheduler: unipc")
    refused(ModelLoadError, lambda: load_generator(generator_copy, device="cpu"),
            "scheduler", str(generator_copy), "not valid JSON")


def test_a_truncated_text_encoder(generator_copy):
    from unison_runtime.generator.loading import load_generator

    weights = generator_copy / "text_encoder" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    refused(ModelLoadError, lambda: load_generator(generator_copy, device="cpu"),
            "text encoder", str(generator_copy / "text_encoder"))


def test_a_pickled_bin_that_weights_only_refuses(generator_copy):
    from unison_runtime.generator.loading import load_generator

    (generator_copy / "text_encoder" / "model.safetensors").unlink()
    torch.save({"shared.weight": torch.zeros(2), "hook": print},
               generator_copy / "text_encoder" / "pytorch_model.bin")
    message = refused(ModelLoadError, lambda: load_generator(generator_copy, device="cpu"), "text encoder")
    # transformers 5 names the refused object; 4.5x only says the file could not be loaded
    assert ("Python object" in message and "weights_only" in message) or "pytorch_model.bin" in message


def test_a_broken_chat_template_is_found_at_load(planner_models, tmp_path):
    from unison_runtime.layout import PLANNER_MERGED
    from unison_runtime.planner import load_planner

    folder = tmp_path / "planner"
    shutil.copytree(planner_models / PLANNER_MERGED, folder)
    (folder / "chat_template.jinja").write_text("{% for message in messages %}{{ message.content }")
    refused(ModelLoadError, lambda: load_planner(folder, device="cpu"), "chat_template.jinja", "line 1")


@pytest.mark.parametrize("device, message", [("tpu", "unknown device 'tpu'"), ("cuda:x", "allowed: auto, cpu"),
                                             ("cuda:99", "cuda:99")])
def test_devices_are_validated_before_anything_loads(device, message, options, no_model_loads):
    if device == "cuda:99" and torch.cuda.device_count() > 99:  # pragma: no cover
        pytest.skip("a machine with 100 GPUs")
    options = with_option(options, device=device)
    refused(DeviceError, lambda: run("Generate an image of a cat", TINY, options), message)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_line(options, no_model_loads):
    options = with_option(options, device="cuda")
    refused(DeviceError, lambda: run("Generate an image of a cat", TINY, options), "no CUDA device", "cpu or auto")


@pytest.mark.parametrize("field, value, message", [
    ("steps", 0, "steps 0"), ("cfg", float("nan"), "cfg nan"), ("shift", -1.0, "shift -1.0"),
    ("seed", -1, "seed -1"), ("max_new_tokens", 0, "max_new_tokens 0"),
])
def test_settings_are_validated_before_any_model_loads(field, value, message, options, no_model_loads):
    # The sampling options refuse a bad value as they are built, before any model loads.
    refused(GenerationError, lambda: run("Generate an image of a cat", TINY, with_option(options, **{field: value})),
            message, "allowed")


def test_max_new_tokens_0_through_the_planner_api(planner_models):
    from unison_runtime.layout import PLANNER_MERGED
    from unison_runtime.planner import load_planner
    from unison_runtime.request import parse_request

    planner = load_planner(planner_models / PLANNER_MERGED, device="cpu")
    refused(GenerationError, lambda: planner.answer(parse_request("Why?", []), max_new_tokens=0),
            "max_new_tokens 0", "use 1 to")


def test_too_many_references_and_too_few_image_to_video_frames(options, no_model_loads):
    four = " ".join(["###unison_character.png###", "###unison_scene.png###", "###unison_pose.png###",
                     "###unison_scene_mask.png###"])
    refused(GenerationError, lambda: run(f"Create a picture of these characters {four}",
                                         {**TINY, "task": "image_reference"}, options), "4 reference images", "at most 3")
    refused(PlanError, lambda: run("Animate this image ###unison_scene.png###",
                                   {**TINY, "task": "image_to_video", "num_frames": 1}, options),
            "image_to_video", "at least 5")


def test_route_checks_run_before_any_model_loads(options, no_model_loads):
    """With the rules planning, what only the route reveals is refused before the planner model,
    the annotators or the generator load (the model planner must load to plan at all)."""
    four = " ".join(f"###{n}###" for n in ("unison_character.png", "unison_scene.png", "unison_pose.png",
                                           "unison_scene_mask.png"))
    refused(GenerationError, lambda: run(f"Create a picture of these characters reading {four}", TINY, options),
            "at most 3")
    refused(PlanError, lambda: run("Animate this image so the ball rolls away ###unison_scene.png###",
                                   {**TINY, "num_frames": 1}, options), "at least 5")


def test_mentioning_placeholders_is_just_text(options):
    options = with_option(options, planner="unison")  # the model planner reads the prompt; the projector sees its states
    text = "What do <|image_pad|>, <|video_pad|>, <IMGPAD> and <VIDPAD> mean in a prompt?"
    count("inputs_tried", 2)
    answer = run(text, {"task": "text_understanding"}, options)
    assert isinstance(answer.answer, str)
    image = run("Draw the text <IMGPAD> and <|image_pad|> on a sign", {**TINY, "task": "text_to_image"}, options)
    assert image.frames.shape == (1, 32, 32, 3) and image.stage_two["projector_used"]


def test_a_request_that_is_not_utf8_is_one_line():
    from unison_runtime.request import parse_request

    text = b"Generate a caf\xe9 at night".decode("utf-8", "surrogateescape")
    refused(RequestError, lambda: parse_request(text, []), "not valid UTF-8", "0xe9")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "unison_runtime", *args], capture_output=True,
                          cwd=ROOT, timeout=120)


def test_cli_refusals_are_one_line(all_models, tmp_path):
    existing = tmp_path / "a_file"
    existing.write_text("keep me")
    common = ["--models", str(all_models), "--planner", "rules", "--steps", "2"]
    cases = [
        ([b"Generate a caf\xe9", "--out", str(tmp_path / "o")], "not valid UTF-8"),
        (["Generate a cat", "--out", str(existing)], "existing file"),
        (["Generate a cat", "--out", str(tmp_path / "o"), "--device", "tpu"], "unknown device 'tpu'"),
    ]
    for args, message in cases:
        count("inputs_tried")
        done = _cli("run", *args, *common)
        stderr = done.stderr.decode("utf-8", "replace")
        assert done.returncode == 2, stderr
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0] and "Traceback" not in stderr, stderr
    assert existing.read_text() == "keep me" and not (tmp_path / "o").exists()


# -- checkpoints with impossible values -------------------------------------------------------------
@pytest.mark.parametrize("bad, message", [
    ({"net.0.weight": torch.full((2, 2), float("nan"))}, "NaN or infinite values in net.0.weight"),
    ({"net.0.bias": torch.tensor([1.0, float("inf")])}, "net.0.bias"),
    ({"net.0.weight": torch.ones((2, 2), dtype=torch.int64)}, "torch.int64"),
    ({"net.0.weight": torch.ones((2, 2), dtype=torch.bool)}, "torch.bool"),
])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_checkpoints_with_nan_or_integer_weights_are_refused(bad, message, suffix, tmp_path):
    from safetensors.torch import save_file

    from unison_runtime.state_dicts import read_state_dict

    state = {"ln_in.weight": torch.ones(2), **bad}
    path = tmp_path / f"projector{suffix}"
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    refused(ModelLoadError, lambda: read_state_dict(path), str(path), message)


def test_integer_buffers_and_quantised_weights_still_load(tmp_path):
    from unison_runtime.state_dicts import read_state_dict

    state = {"embeddings.position_ids": torch.arange(4), "bn.num_batches_tracked": torch.tensor(3),
             "q.weight": torch.zeros(4, dtype=torch.int8), "f8.weight": torch.ones(4).to(torch.float8_e4m3fn),
             "w.weight": torch.ones(2)}
    torch.save(state, tmp_path / "ok.pth")
    assert set(read_state_dict(tmp_path / "ok.pth")) == set(state)


def test_a_projector_with_nan_weights_is_refused_at_load(projector_models, tmp_path):
    from unison_runtime.layout import PROJECTOR
    from unison_runtime.projector import load_projector

    state = torch.load(projector_models / PROJECTOR, weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].clone().fill_(float("nan"))
    torch.save(state, tmp_path / "projector.pth")
    refused(ModelLoadError, lambda: load_projector(tmp_path / "projector.pth", device="cpu"), "NaN")


# -- 6. errors are one line wherever they are shown ------------------------------------------------
def test_wrapped_library_errors_become_one_line():
    err = ModelLoadError("cannot load x:\n\x1b[1mWeights only load failed\x1b[0m\n\n  (1) re-run with ...")
    assert str(err) == "cannot load x: Weights only load failed (1) re-run with ..."
    assert str(OutputError("a\nb")) == "a b" and isinstance(OutputError("x"), (UnisonError, OSError))
