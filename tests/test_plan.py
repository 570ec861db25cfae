"""The plan model and its token grammar (DESIGN §2-3)."""

from __future__ import annotations

import itertools
import re
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unison_runtime.errors import PlanError
from unison_runtime.facts import DEFAULT_HEIGHT, DEFAULT_VIDEO_FRAMES, DEFAULT_WIDTH, MAX_FRAMES, MAX_SIDE, TASKS
from unison_runtime.plan import PLAN_TOKENS, Plan, looks_like_plan, snap_frames, snap_size

ROOT = Path(__file__).resolve().parents[1]
GENERATION_TASKS = [t for t in TASKS if not t.endswith("understanding")]

# -- the grammar, one row per task (the released model's order: parameters, then the task token) --

TASK_TOKENS = [
    ("<CFI>", "text_to_image"),
    ("<BORES>1280,720<EORES><CFI>", "text_to_image"),
    ("<BOEDIT>1,0<EOEDIT><CFI>", "image_edit"),
    ("<CTRL><CFI>", "image_control"),
    ("<REF><CFI>", "image_reference"),
    ("<CFV>", "text_to_video"),
    ("<BORES>1280,720<EORES><BONF>72<EONF><CFV>", "text_to_video"),
    ("<BOFIDX>0<EOFIDX><CFV>", "image_to_video"),
    ("<REF><CFV>", "video_reference"),
    ("<BOEDIT>1,0<EOEDIT><CFV>", "video_edit"),
    ("<BOEDIT>0<EOEDIT><CFV>", "video_edit"),
    ("<CTRL><CFV>", "video_control"),
]


@pytest.mark.parametrize("tokens, task", TASK_TOKENS)
def test_each_task_token_combination_selects_its_task(tokens, task):
    plan = Plan.from_tokens(tokens)
    assert plan.task == task
    assert plan.reference == (task in ("image_reference", "video_reference"))
    assert plan.control == (task in ("image_control", "video_control"))
    assert plan.to_tokens() == tokens  # every row is canonical
    assert plan.raw == tokens


def test_tasks_are_the_twelve_of_the_paper():
    assert len(TASKS) == len(set(TASKS)) == 12
    assert {t for t in TASKS if t.endswith("understanding")} == {
        "text_understanding", "image_understanding", "video_understanding"}


def test_bonf_counts_one_more_frame_than_it_says():
    plan = Plan.from_tokens("<BONF>72<EONF><CFV>")
    assert plan.num_frames == 73
    assert plan.resolved_num_frames() == 73
    assert plan.to_tokens() == "<BONF>72<EONF><CFV>"


def test_edit_indices_are_mask_then_source():
    plan = Plan.from_tokens("<BOEDIT>2,0<EOEDIT><CFV>", media_count=3)
    assert (plan.mask_index, plan.source_index) == (2, 0)
    single = Plan.from_tokens("<BOEDIT>1<EOEDIT><CFV>")
    assert (single.mask_index, single.source_index) == (None, 1)
    empty = Plan.from_tokens("<BOEDIT><EOEDIT><CFI>")
    assert empty.task == "image_edit" and empty.source_index is None
    assert empty.to_tokens() == "<BOEDIT><EOEDIT><CFI>"


@pytest.mark.parametrize("index, frame_ref", [("0", "first"), ("1", "last"), ("0,1", "firstlast"), (" 0 , 1 ", "firstlast")])
def test_frame_index_maps_to_frame_ref(index, frame_ref):
    plan = Plan.from_tokens(f"<BOFIDX>{index}<EOFIDX><CFV>")
    assert plan.task == "image_to_video" and plan.frame_ref == frame_ref


def test_omitted_values_stay_none_and_resolve_to_defaults():
    video = Plan.from_tokens("<CFV>")
    assert (video.width, video.height, video.num_frames) == (None, None, None)
    assert video.resolved_size() == (DEFAULT_WIDTH, DEFAULT_HEIGHT) == (832, 480)
    assert video.resolved_num_frames() == DEFAULT_VIDEO_FRAMES == 81
    assert video.to_tokens() == "<CFV>"
    image = Plan.from_tokens("<BORES>1024,768<EORES><CFI>")
    assert image.resolved_size() == (1024, 768)
    assert image.resolved_num_frames() == 1


def test_order_whitespace_and_end_of_turn_are_tolerated():
    canonical = "<BORES>1280,720<EORES><BONF>72<EONF><CFV>"
    messy = "\n <CFV>\n<BONF> 72 <EONF>  <BORES> 1280 , 720 <EORES>\n<|im_end|>\n<|endoftext|>"
    assert Plan.from_tokens(messy) == Plan.from_tokens(canonical)
    assert Plan.from_tokens(messy).to_tokens() == canonical


def test_every_order_of_the_tokens_gives_the_same_plan():
    parts = ["<BORES>640,480<EORES>", "<BONF>48<EONF>", "<REF>", "<CFV>"]
    plans = {Plan.from_tokens("".join(order)) for order in itertools.permutations(parts)}
    assert len(plans) == 1
    (plan,) = plans
    assert (plan.task, plan.width, plan.height, plan.num_frames) == ("video_reference", 640, 480, 49)


# -- validation ------------------------------------------------------------------------------------

def test_sizes_snap_to_multiples_of_16_with_a_warning():
    plan = Plan.from_tokens("<BORES>1920,1080<EORES><CFI>")
    assert (plan.width, plan.height) == (1920, 1088)
    assert any("1080" in w and "1088" in w for w in plan.warnings)
    assert plan.to_tokens() == "<BORES>1920,1088<EORES><CFI>"


def test_frame_counts_snap_to_4k_plus_1_with_a_warning():
    plan = Plan.from_tokens("<BONF>49<EONF><CFV>")  # 50 frames -> 49 (nearest 4k+1)
    assert plan.num_frames == 49
    assert any("50" in w and "49" in w for w in plan.warnings)
    # 51 and 52 frames: down, as Wan generates them (its VAE keeps (n - 1) // 4 + 1 latent frames)
    assert Plan.from_tokens("<BONF>50<EONF><CFV>").num_frames == 49
    assert Plan.from_tokens("<BONF>51<EONF><CFV>").num_frames == 49


def test_canonical_values_carry_no_warnings():
    assert Plan.from_tokens("<BORES>1280,720<EORES><BONF>96<EONF><CFV>").warnings == ()


@pytest.mark.parametrize("tokens, expected", [
    ("<BORES>4096,2160<EORES><CFI>", "width 4096 is out of range"),
    ("<BORES>1280,8<EORES><CFI>", "height 8 is out of range"),
    ("<BORES>0,0<EORES><CFI>", "out of range"),
    ("<BONF>720<EONF><CFV>", "num_frames 721 is out of range"),
    ("<BORES>12a,720<EORES><CFI>", "expected width,height"),
    ("<BORES>-5,720<EORES><CFI>", "expected width,height"),
    ("<BORES>1280<EORES><CFI>", "expected width,height"),
    ("<BORES>1280,720,3<EORES><CFI>", "expected width,height"),
    ("<BONF>3.5<EONF><CFV>", "expected a frame count"),
    ("<BONF><EONF><CFV>", "expected a frame count"),
    ("<BOFIDX>2<EOFIDX><CFV>", "allowed 0 (first frame)"),
    ("<BOEDIT>x<EOEDIT><CFI>", "mask,source"),
    ("<BOEDIT>1,1<EOEDIT><CFI>", "both 1"),
    ("<BORES>1280,720<CFI>", "<BORES> is not closed"),
    ("<BORES>1280,720", "<BORES> is not closed"),
    ("1280,720<EORES><CFI>", "unexpected text"),
    ("<EORES><CFI>", "<EORES> without a matching <BORES>"),
    ("<BORES><BONF>1<EONF><EORES><CFV>", "<BORES> is not closed"),
    ("<CFI><CFV>", "two task tokens"),
    ("<CFI><CFI>", "appears twice"),
    ("<BONF>1<EONF><BONF>2<EONF><CFV>", "appears twice"),
    ("<REF><CTRL><CFI>", "conflicting task tokens"),
    ("<REF><BOEDIT>1,0<EOEDIT><CFV>", "conflicting task tokens"),
    ("<BOFIDX>0<EOFIDX><CTRL><CFV>", "conflicting task tokens"),
    ("<BOFIDX>0<EOFIDX><CFI>", "needs the video task token <CFV>"),
    ("<BORES>1280,720<EORES>", "no task token"),
    ("<IMGPAD><CFI>", "unexpected token <IMGPAD>"),
    ("<CFI> a cat", "unexpected text"),
    ("A cat sitting on a mat.", "no plan tokens"),
    ("", "no plan tokens"),
])
def test_invalid_plans_raise_plan_error_naming_the_problem(tokens, expected):
    with pytest.raises(PlanError) as info:
        Plan.from_tokens(tokens)
    assert expected in str(info.value)


def test_parameters_a_task_cannot_use_are_dropped_with_a_warning():
    plan = Plan.from_tokens("<BONF>72<EONF><CFI>")
    assert plan.task == "text_to_image" and plan.num_frames is None
    assert any("dropped num_frames" in w for w in plan.warnings)


def test_indices_are_checked_against_the_media_count():
    assert Plan.from_tokens("<BOEDIT>1,0<EOEDIT><CFI>", media_count=2).mask_index == 1
    with pytest.raises(PlanError, match="mask_index 2 is out of range.*2 media item"):
        Plan.from_tokens("<BOEDIT>2,0<EOEDIT><CFI>", media_count=2)
    with pytest.raises(PlanError, match="no media"):
        Plan.from_tokens("<BOEDIT>0<EOEDIT><CFV>", media_count=0)


def test_non_text_input_is_a_plan_error():
    for value in (None, 3, b"<CFI>", ["<CFI>"]):
        with pytest.raises(PlanError):
            Plan.from_tokens(value)


def test_looks_like_plan_tells_plans_from_prose():
    assert looks_like_plan("<BONF>72<EONF><CFV>")
    assert looks_like_plan("<REF>")
    assert not looks_like_plan("The image shows a cat on a mat.")
    assert not looks_like_plan("<IMGPAD> is an image")
    assert not looks_like_plan(None)


# -- dict / JSON ---------------------------------------------------------------------------------------

def test_to_dict_is_json_with_the_documented_keys():
    plan = Plan.from_tokens("<BORES>1280,720<EORES><BONF>72<EONF><CFV>")
    data = json.loads(json.dumps(plan.to_dict()))
    assert set(data) == {"task", "width", "height", "num_frames", "frame_ref", "mask_index",
                         "source_index", "reference", "control", "raw", "warnings"}
    again = Plan.from_dict(data)
    assert again == plan and again.raw == plan.raw


@pytest.mark.parametrize("data, expected", [
    ({"task": "painting"}, "unknown task 'painting'"),
    ({}, "needs a 'task'"),
    ({"task": "text_to_image", "colour": "red"}, "unknown plan key"),
    ({"task": "text_to_image", "width": "big", "height": 480}, "width must be a whole number"),
    ({"task": "text_to_image", "width": 1280}, "width and height go together"),
    ({"task": "text_to_image", "width": 5000, "height": 480}, "width 5000 is out of range"),
    ({"task": "text_to_video", "num_frames": 0}, "num_frames 0 is out of range"),
    ({"task": "text_to_video", "num_frames": True}, "whole number"),
    ({"task": "image_reference", "reference": False}, "contradicts task image_reference"),
    ({"task": "text_to_image", "control": True}, "contradicts task text_to_image"),
    ({"task": "text_to_image", "control": "yes"}, "true or false"),
    ({"task": "text_to_video", "frame_ref": "first"}, "frame_ref applies only to image_to_video"),
    ({"task": "image_to_video", "frame_ref": "middle"}, "frame_ref 'middle' is not allowed"),
    ({"task": "text_to_image", "mask_index": 0, "source_index": 1}, "mask_index applies only"),
    ({"task": "video_reference", "source_index": 0}, "source_index applies only"),
    ({"task": "image_edit", "mask_index": 1}, "needs a source_index"),
    ({"task": "video_edit", "source_index": -1}, "negative"),
    ({"task": "text_to_image", "warnings": "oops"}, "warnings must be a list"),
])
def test_from_dict_validates_like_from_tokens(data, expected):
    with pytest.raises(PlanError) as info:
        Plan.from_dict(data)
    assert expected in str(info.value)


def test_from_dict_snaps_like_from_tokens():
    from_json = Plan.from_dict({"task": "text_to_video", "width": 1000, "height": 562, "num_frames": 50})
    from_tokens = Plan.from_tokens("<BORES>1000,562<EORES><BONF>49<EONF><CFV>")
    assert from_json == from_tokens
    assert sorted(from_json.warnings) == sorted(from_tokens.warnings)
    assert (from_json.width, from_json.height, from_json.num_frames) == (1008, 560, 49)


def test_from_dict_checks_media_count():
    with pytest.raises(PlanError, match="source_index 3 is out of range"):
        Plan.from_dict({"task": "video_edit", "source_index": 3}, media_count=1)


def test_image_to_video_without_a_frame_ref_means_first():
    assert Plan.from_dict({"task": "image_to_video"}).frame_ref == "first"


# -- overrides -------------------------------------------------------------------------------------------

def test_with_overrides_returns_a_new_validated_plan():
    plan = Plan.from_tokens("<BORES>1280,720<EORES><BONF>72<EONF><CFV>")
    bigger = plan.with_overrides(width=1920, height=1080, num_frames=97)
    assert (bigger.width, bigger.height, bigger.num_frames) == (1920, 1088, 97)
    assert (plan.width, plan.num_frames) == (1280, 73)  # the original is unchanged
    with pytest.raises(PlanError, match="out of range"):
        plan.with_overrides(num_frames=500)
    with pytest.raises(PlanError, match="unknown plan field"):
        plan.with_overrides(steps=30)


def test_changing_the_task_makes_flags_follow_and_drops_what_no_longer_applies():
    edit = Plan.from_tokens("<BORES>1280,720<EORES><BOEDIT>1,0<EOEDIT><CFV>")
    reference = edit.with_overrides(task="video_reference")
    assert reference.reference is True and reference.control is False
    assert (reference.mask_index, reference.source_index) == (None, None)
    assert (reference.width, reference.height) == (1280, 720)
    assert any("dropped mask_index, source_index" in w for w in reference.warnings)
    animate = edit.with_overrides(task="image_to_video")
    assert animate.frame_ref == "first"
    image = Plan.from_tokens("<BONF>72<EONF><CFV>").with_overrides(task="text_to_image")
    assert image.num_frames is None and any("dropped num_frames" in w for w in image.warnings)
    control = reference.with_overrides(task="video_control", source_index=0)
    assert control.control is True and control.source_index == 0


def test_overrides_check_indices_against_the_media_count():
    plan = Plan.from_tokens("<BOEDIT>1,0<EOEDIT><CFI>")
    with pytest.raises(PlanError, match="out of range"):
        plan.with_overrides(mask_index=4, media_count=2)


def test_a_control_plans_source_index_has_no_token():
    plan = Plan.from_dict({"task": "video_control", "source_index": 1})
    assert plan.to_tokens() == "<CTRL><CFV>"
    assert Plan.from_tokens(plan.to_tokens()).source_index is None


# -- understanding and views ----------------------------------------------------------------------------

@pytest.mark.parametrize("kinds, task", [
    ((), "text_understanding"), (("image",), "image_understanding"),
    (("image", "image"), "image_understanding"), (("image", "video"), "video_understanding"),
    (("video",), "video_understanding"),
])
def test_understanding_picks_the_richest_media(kinds, task):
    plan = Plan.understanding(kinds)
    assert plan.task == task and plan.is_understanding and not plan.is_video


def test_understanding_plans_have_no_tokens_and_reject_unknown_kinds():
    with pytest.raises(PlanError, match="answers it in words"):
        Plan.understanding(["image"]).to_tokens()
    with pytest.raises(PlanError, match="unknown media kind"):
        Plan.understanding(["audio"])


def test_is_video_marks_exactly_the_video_generation_tasks():
    video = {t for t in TASKS if Plan.from_dict({"task": t, "source_index": 0} if "edit" in t else {"task": t}).is_video}
    assert video == {"text_to_video", "image_to_video", "video_reference", "video_edit", "video_control"}


def test_equality_ignores_raw_and_warnings():
    a = Plan.from_tokens("<CFV>")
    b = Plan.from_tokens("  <CFV> <|im_end|>")
    assert a == b and hash(a) == hash(b) and a.raw != b.raw
    assert Plan.from_tokens("<CFI>") != a


def test_plans_are_immutable():
    plan = Plan.from_tokens("<CFI>")
    with pytest.raises(AttributeError):
        plan.width = 64


# -- snapping helpers ------------------------------------------------------------------------------------

@given(st.integers(min_value=-10**30, max_value=10**30) | st.floats(allow_nan=False, allow_infinity=False))
def test_snap_size_is_the_nearest_allowed_size(value):
    snapped = snap_size(value)
    assert snapped % 16 == 0 and 16 <= snapped <= MAX_SIDE
    if 16 <= value <= MAX_SIDE:
        assert abs(snapped - value) <= 8


@given(st.integers(min_value=-10**30, max_value=10**30))
def test_snap_frames_is_the_4k_plus_1_at_or_below(value):
    snapped = snap_frames(value)
    assert snapped % 4 == 1 and 1 <= snapped <= MAX_FRAMES
    if 1 <= value <= MAX_FRAMES:
        assert 0 <= value - snapped <= 3


def test_snap_helpers_reject_non_numbers():
    for bad in ("832", None, float("nan"), True):
        with pytest.raises(PlanError):
            snap_size(bad)
        with pytest.raises(PlanError):
            snap_frames(bad)


# -- properties: round trips and robustness -----------------------------------------------------------

sizes = st.integers(min_value=1, max_value=MAX_SIDE // 16).map(lambda k: k * 16)
frame_counts = st.integers(min_value=0, max_value=(MAX_FRAMES - 1) // 4).map(lambda k: 4 * k + 1)
indices = st.integers(min_value=0, max_value=5)


@st.composite
def valid_plans(draw):
    """Any plan the grammar can express (control source indices have no token, so none here)."""
    task = draw(st.sampled_from(GENERATION_TASKS))
    values = {"task": task}
    if draw(st.booleans()):
        values["width"], values["height"] = draw(sizes), draw(sizes)
    if task in ("text_to_video", "image_to_video", "video_reference", "video_edit", "video_control") and draw(st.booleans()):
        values["num_frames"] = draw(frame_counts)
    if task == "image_to_video":
        values["frame_ref"] = draw(st.sampled_from(["first", "last", "firstlast"]))
    if task in ("image_edit", "video_edit"):
        shape = draw(st.sampled_from(["both", "source", "none"]))
        if shape != "none":
            values["source_index"] = draw(indices)
        if shape == "both":
            values["mask_index"] = draw(indices.filter(lambda i: i != values["source_index"]))
    return Plan.from_dict(values)


@given(valid_plans())
def test_tokens_round_trip_every_valid_plan(plan):
    text = plan.to_tokens()
    again = Plan.from_tokens(text)
    assert again == plan
    assert again.to_tokens() == text  # canonical text round-trips exactly
    assert again.warnings == ()
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


@given(valid_plans(), st.randoms(use_true_random=False), st.sampled_from(["", " ", "\n", " \n\t"]))
def test_token_order_and_spacing_do_not_matter(plan, random, spacer):
    # Shuffle whole parameters (a begin/end pair with its numbers stays together).
    groups = re.findall(r"<BO\w+>[^<]*<EO\w+>|<\w+>", plan.to_tokens())
    assert "".join(groups) == plan.to_tokens()
    random.shuffle(groups)
    assert Plan.from_tokens(spacer + spacer.join(groups) + spacer + "<|im_end|>") == plan


TOKEN_SOUP = st.lists(
    st.sampled_from(list(PLAN_TOKENS) + ["<IMGPAD>", "<|im_end|>", "<|endoftext|>", "0", "1", "72", ",", " ",
                                         "1280,720", "99999999999999999999", "-3", "\n", "<", ">", "x"]),
    max_size=14).map("".join)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), TOKEN_SOUP), st.none() | st.integers(min_value=0, max_value=3))
def test_any_text_gives_a_plan_or_a_plan_error(text, media_count):
    try:
        plan = Plan.from_tokens(text, media_count=media_count)
    except PlanError as err:
        assert str(err)
        return
    assert plan.task in TASKS and not plan.is_understanding
    assert Plan.from_tokens(plan.to_tokens(), media_count=media_count) == plan


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(["task", "width", "height", "num_frames", "frame_ref", "mask_index",
                                        "source_index", "reference", "control", "raw", "warnings", "extra"]),
                       st.none() | st.booleans() | st.integers(-5, 3000) | st.text(max_size=12)
                       | st.sampled_from(TASKS) | st.sampled_from(["first", "last", "firstlast"])
                       | st.floats() | st.lists(st.text(max_size=5), max_size=2)))
def test_any_dict_gives_a_plan_or_a_plan_error(data):
    try:
        plan = Plan.from_dict(data)
    except PlanError:
        return
    assert plan.task in TASKS


def test_parsing_a_megabyte_is_fast():
    import time

    for text in ("<BORES>" + " " * 1_000_000, "<" * 1_000_000, " " * 1_000_000 + "<|im_end|>x",
                 "<A" * 500_000, "<BONF>" + "9" * 1_000_000 + "<EONF><CFV>"):
        start = time.perf_counter()
        with pytest.raises(PlanError):
            Plan.from_tokens(text)
        assert time.perf_counter() - start < 2.0


def test_runtime_modules_import_without_heavy_libraries():
    code = ("import sys; import unison_runtime.plan, unison_runtime.request, unison_runtime.planner.rules, "
            "unison_runtime.planner.cli; heavy = {'torch', 'numpy', 'transformers'} & set(sys.modules); "
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
