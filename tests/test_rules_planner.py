"""The rules planner: a table of requests across the 12 tasks, and cross-checking a model's plan."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unison_runtime.errors import RequestError, UnisonError
from unison_runtime.plan import Plan
from unison_runtime.planner.rules import RulesPlanner, cross_check
from unison_runtime.request import parse_request

MEDIA_FILES = (
    "cat.png", "dog.jpg", "face.png", "hero.JPEG", "mask.png", "region.png", "start.png", "end.png",
    "sketch.png", "depth.webp", "pose.mp4", "clip.mp4", "street.MOV", "dance.webm", "walk.gif",
    "car_mask.mp4",
)


@pytest.fixture()
def media_root(tmp_path):
    for name in MEDIA_FILES:
        (tmp_path / name).write_bytes(b"tiny")  # parse_request checks names, never decodes
    return tmp_path


@pytest.fixture()
def plan_of(media_root):
    planner = RulesPlanner()
    return lambda text: planner.plan(parse_request(text, [media_root]))


# Each row: request -> the plan fields that must come out; fields not named must be None.
T2I, T2V = "text_to_image", "text_to_video"
CASES = [
    # -- understanding -------------------------------------------------------------------------
    ("Why is the sky blue?", {"task": "text_understanding"}),
    ("Tell me a joke about penguins", {"task": "text_understanding"}),
    ("Explain how a diffusion model works", {"task": "text_understanding"}),
    ("How do I make pancakes?", {"task": "text_understanding"}),
    ("what is the capital of france", {"task": "text_understanding"}),
    ("What is in ###cat.png###?", {"task": "image_understanding"}),
    ("Describe ###dog.jpg### in one sentence", {"task": "image_understanding"}),
    ("Please describe this photo ###cat.png###", {"task": "image_understanding"}),
    ("###cat.png###", {"task": "image_understanding"}),
    ("Who painted the picture ###hero.JPEG###", {"task": "image_understanding"}),
    ("Is there a dog in ###cat.png### or ###dog.jpg###?", {"task": "image_understanding"}),
    ("Summarize what happens in ###clip.mp4###", {"task": "video_understanding"}),
    ("WHAT IS THE MAN DOING IN ###street.MOV###?", {"task": "video_understanding"}),
    ("Compare ###cat.png### with ###clip.mp4###: how are they different?", {"task": "video_understanding"}),
    ("Describe this image ###cat.png###, then make a video of it", {"task": "image_understanding"}),
    ("What makes ###cat.png### funny?", {"task": "image_understanding"}),
    ("How can I draw a cat?", {"task": "text_understanding"}),
    # -- text to image -------------------------------------------------------------------------
    ("A red fox in the snow", {"task": T2I}),
    ("Generate an image of a lighthouse at dusk", {"task": T2I}),
    ("Draw a cat wearing a tiny hat", {"task": T2I}),
    ("What would a dragon look like? Draw it.", {"task": T2I}),
    ("Can you generate a picture of a castle?", {"task": T2I}),
    ("Create a 1024x768 poster of a jazz festival", {"task": T2I, "width": 1024, "height": 768}),
    ("Make a photo of a mountain lake, 1280 x 720", {"task": T2I, "width": 1280, "height": 720}),
    ("RENDER A 16:9 IMAGE OF A CITY AT NIGHT", {"task": T2I, "width": 1280, "height": 720}),
    ("A vertical poster of a jazz singer", {"task": T2I, "width": 720, "height": 1280}),
    ("Paint a landscape in 4:3", {"task": T2I, "width": 1024, "height": 768}),
    ("Draw a cat in a square image", {"task": T2I, "width": 1024, "height": 1024}),
    ("A logo of a bee, 1:1", {"task": T2I, "width": 1024, "height": 1024}),
    ("a portrait of an old sailor", {"task": T2I}),
    ("A cat sitting on a square box", {"task": T2I}),
    ("An image with a width of 960 pixels and a height of 544 of a tram",
     {"task": T2I, "width": 960, "height": 544}),
    ("Generate a 1080P wallpaper of a galaxy", {"task": T2I, "width": 1920, "height": 1088}),
    ("Make a photo-realistic image of a bowl of ramen, 2048*2048", {"task": T2I, "width": 2048, "height": 2048}),
    ("A 10x10 grid of tiny robots, as an image", {"task": T2I}),
    ("A 4096x2160 picture of a canyon", {"task": T2I, "width": 2048, "height": 1088}),
    # -- text to video -------------------------------------------------------------------------
    ("2-second 768×480 video of a lion", {"task": T2V, "width": 768, "height": 480, "num_frames": 49}),
    ("Generate a video of waves crashing on rocks", {"task": T2V}),
    ("A 3 seconds clip of a hummingbird", {"task": T2V, "num_frames": 73}),
    ("Make a 4s animation of a bouncing ball", {"task": T2V, "num_frames": 97}),
    ("A photo of a red fox in the snow, 3 seconds", {"task": T2V, "num_frames": 73}),
    ("Render 120 frames of a spinning cube", {"task": T2V, "num_frames": 121}),
    ("Make half a minute of footage of waves", {"task": T2V, "num_frames": 241}),
    ("Generate a 480P video of a train", {"task": T2V, "width": 640, "height": 480}),
    ("Make a vertical 720P clip of rain", {"task": T2V, "width": 720, "height": 1280}),
    ("A 9:16 video of a skateboarder, five seconds long", {"task": T2V, "width": 720, "height": 1280, "num_frames": 121}),
    ("A 90s style music video of a band, 16:9", {"task": T2V, "width": 1280, "height": 720}),
    ("Can you generate a video of a cat?", {"task": T2V}),
    ("Footage of a storm over the sea in portrait orientation", {"task": T2V, "width": 720, "height": 1280}),
    ("A timelapse of a flower blooming, 1.5 seconds", {"task": T2V, "num_frames": 37}),
    ("a 1980s style car, 3 seconds", {"task": T2V, "num_frames": 73}),
    ("A video of a cat, 24 frames per second", {"task": T2V}),
    ("Give me a 2 sec gif of a dancing banana", {"task": T2V, "num_frames": 49}),
    ("a dog on a skateboard, widescreen, 6 seconds", {"task": T2V, "width": 1280, "height": 720, "num_frames": 145}),
    ("Make a 60 frame video of a cat", {"task": T2V, "num_frames": 61}),
    ("A clip of a dog running, 12 seconds", {"task": T2V, "num_frames": 241}),
    ("A slow-motion video of a water balloon, 1080p vertical", {"task": T2V, "width": 1088, "height": 1920}),
    # -- image editing (a mask among the media) ----------------------------------------------------
    ("Replace the sky in ###cat.png### using the mask ###region.png###", {"task": "image_edit", "mask_index": 1, "source_index": 0}),
    ("Using ###mask.png###, change the shirt in ###hero.JPEG### to red", {"task": "image_edit", "mask_index": 0, "source_index": 1}),
    ("Remove the person inside ###region.png### as the mask from ###dog.jpg###", {"task": "image_edit", "mask_index": 0, "source_index": 1}),
    ("Edit ###cat.png###: put sunglasses on the cat, mask: ###region.png###", {"task": "image_edit", "mask_index": 1, "source_index": 0}),
    # -- image controllable generation --------------------------------------------------------------
    ("Turn this sketch ###sketch.png### into a watercolor painting", {"task": "image_control", "source_index": 0}),
    ("A knight in armour following the pose in ###cat.png###", {"task": "image_control", "source_index": 0}),
    ("Generate a forest scene from this depth map ###depth.webp###", {"task": "image_control", "source_index": 0}),
    ("Use the canny edges of ###dog.jpg### to draw a robot dog", {"task": "image_control", "source_index": 0}),
    # -- image reference -----------------------------------------------------------------------------
    ("Create an image of this person ###face.png### on the beach", {"task": "image_reference"}),
    ("Draw the same character as ###hero.JPEG### riding a horse", {"task": "image_reference"}),
    ("A poster featuring the dog in ###dog.jpg### as an astronaut", {"task": "image_reference"}),
    ("Use ###face.png### as a reference and paint her as a queen", {"task": "image_reference"}),
    ("###cat.png### in the style of Van Gogh", {"task": "image_reference"}),
    # -- text is not enough: image to video -------------------------------------------------------------
    ("Animate ###cat.png###", {"task": "image_to_video", "frame_ref": "first"}),
    ("Bring this photo ###dog.jpg### to life", {"task": "image_to_video", "frame_ref": "first"}),
    ("Turn this photo ###cat.png### into a video", {"task": "image_to_video", "frame_ref": "first"}),
    ("Make it move: ###start.png###, 3 seconds, 720P", {"task": "image_to_video", "frame_ref": "first", "width": 1280, "height": 720, "num_frames": 73}),
    ("Please make the cat in ###cat.png### dance", {"task": "image_to_video", "frame_ref": "first"}),
    ("Create a 3-second video from this image ###cat.png### ending with a sunset",
     {"task": "image_to_video", "frame_ref": "first", "num_frames": 73}),
    ("Generate a video ending with ###end.png###", {"task": "image_to_video", "frame_ref": "last"}),
    ("A clip of a sunrise where ###end.png### is the last frame", {"task": "image_to_video", "frame_ref": "last"}),
    ("Use ###start.png### as the first frame of a 4s video", {"task": "image_to_video", "frame_ref": "first", "num_frames": 97}),
    ("Create a video that starts from ###start.png### and ends on ###end.png###", {"task": "image_to_video", "frame_ref": "firstlast"}),
    ("A smooth transition video from ###start.png### to ###end.png###", {"task": "image_to_video", "frame_ref": "firstlast"}),
    # -- video reference ---------------------------------------------------------------------------------
    ("Make a 4s video featuring the woman in ###face.png### walking in Paris", {"task": "video_reference", "num_frames": 97}),
    ("A video of this person ###face.png### dancing in the rain", {"task": "video_reference"}),
    ("Generate a clip with the same character as ###hero.JPEG###, 16:9", {"task": "video_reference", "width": 1280, "height": 720}),
    # -- video editing ----------------------------------------------------------------------------------
    ("Remove the car from ###clip.mp4###", {"task": "video_edit", "source_index": 0}),
    ("Replace the dog in ###street.MOV### with a tiger, the mask is ###mask.png###", {"task": "video_edit", "mask_index": 1, "source_index": 0}),
    ("Change the car in ###clip.mp4### into a bus using ###car_mask.mp4###", {"task": "video_edit", "mask_index": 1, "source_index": 0}),
    ("Make ###dance.webm### look like winter", {"task": "video_edit", "source_index": 0}),
    # -- video controllable generation ----------------------------------------------------------------------
    ("A robot dancing following the pose in ###pose.mp4###", {"task": "video_control", "source_index": 0}),
    ("Generate a video of an astronaut with the depth of ###walk.gif###, 2 seconds", {"task": "video_control", "source_index": 0, "num_frames": 49}),
    ("Use the pose sequence from ###dance.webm### to make this person ###face.png### dance", {"task": "video_control", "source_index": 0}),
]

FIELDS = ("width", "height", "num_frames", "frame_ref", "mask_index", "source_index")


@pytest.mark.parametrize("text, expected", CASES, ids=[c[0][:48] for c in CASES])
def test_rules_plan_table(plan_of, text, expected):
    plan = plan_of(text)
    got = {"task": plan.task, **{name: getattr(plan, name) for name in FIELDS}}
    wanted = {"task": expected["task"], **{name: expected.get(name) for name in FIELDS}}
    assert got == wanted, plan.warnings


def test_the_table_covers_every_task_with_enough_cases():
    from unison_runtime.facts import TASKS

    assert len(CASES) >= 60
    covered = {expected["task"] for _, expected in CASES}
    assert covered == set(TASKS)


def test_rules_plans_carry_their_tokens_as_raw(plan_of):
    plan = plan_of("2-second 768×480 video of a lion")
    assert plan.raw == "<BORES>768,480<EORES><BONF>48<EONF><CFV>"
    assert Plan.from_tokens(plan.raw) == plan
    assert plan.reference is False and plan.control is False
    reference = plan_of("Create an image of this person ###face.png### on the beach")
    assert reference.reference is True and reference.raw == "<REF><CFI>"


def test_warnings_explain_guesses(plan_of):
    clamped = plan_of("Make half a minute of footage of waves")
    assert any("clamped to 241" in w for w in clamped.warnings)
    mixed = plan_of("A photo of a red fox in the snow, 3 seconds")
    assert any("'photo'" in w and "planned a video" in w for w in mixed.warnings)
    unused = plan_of("Use the pose sequence from ###dance.webm### to make this person ###face.png### dance")
    assert any("media #2 (image) is not used by video_control" in w for w in unused.warnings)
    no_mask = plan_of("Replace the sky in ###cat.png### with fireworks")
    assert no_mask.task == "image_reference"
    assert any("needs a mask" in w for w in no_mask.warnings)
    fitted = plan_of("A 4096x2160 picture of a canyon")
    assert any("beyond 2048" in w for w in fitted.warnings)


def test_first_and_last_need_two_images(plan_of):
    plan = plan_of("Animate ###cat.png### from the first frame to the last frame")
    assert plan.frame_ref == "first"


def test_rules_planner_is_deterministic(plan_of):
    text = "Make a vertical 720P clip of rain, 3 seconds"
    assert plan_of(text) == plan_of(text)


def test_rules_planner_cannot_answer_or_give_hidden_states(media_root):
    planner = RulesPlanner()
    assert planner.mode == "rules"
    request = parse_request("What is in ###cat.png###?", [media_root])
    with pytest.raises(UnisonError, match="cannot answer questions; load a Qwen2.5-VL planner"):
        planner.answer(request, max_new_tokens=16, temperature=0.0, seed=0)
    with pytest.raises(UnisonError, match="has no hidden states; load a Qwen2.5-VL planner"):
        planner.hidden_states(request)


def test_plan_accepts_plain_text_without_media_and_refuses_other_types():
    planner = RulesPlanner()
    assert planner.plan("A 3 seconds clip of a hummingbird").num_frames == 73
    with pytest.raises(RequestError):
        planner.plan(42)


# -- cross_check ------------------------------------------------------------------------------------------

def test_cross_check_only_warns_and_the_plan_stands(media_root):
    request = parse_request("A 3 seconds 1280x720 clip of a hummingbird", [media_root])
    model_plan = Plan.from_tokens("<BORES>832,480<EORES><BONF>48<EONF><CFV>")
    checked = cross_check(model_plan, request)
    assert checked == model_plan  # size and frames as planned
    assert any("1280x720" in w and "832x480 is kept" in w for w in checked.warnings)
    assert any("73 frames" in w and "49 is kept" in w for w in checked.warnings)


def test_cross_check_cannot_turn_a_measurement_into_a_size(media_root):
    # Item 8: "100 by 200 cm" used to become the output size.
    request = parse_request("Generate an image of a table 100 by 200 cm in a kitchen", [media_root])
    model_plan = Plan.from_tokens("<CFI>")
    checked = cross_check(model_plan, request)
    assert checked == model_plan and checked.resolved_size() == (832, 480)


def test_cross_check_keeps_an_agreeing_plan_untouched(media_root):
    request = parse_request("Generate a 1080P video of fireworks, 4s", [media_root])
    model_plan = Plan.from_tokens("<BORES>1920,1080<EORES><BONF>96<EONF><CFV>")
    checked = cross_check(model_plan, request)
    assert checked == model_plan and checked.warnings == model_plan.warnings


def test_cross_check_warns_about_the_frame_reference(media_root):
    request = parse_request("Generate a video ending with ###end.png###", [media_root])
    model_plan = Plan.from_tokens("<BOFIDX>0<EOFIDX><CFV>")
    checked = cross_check(model_plan, request)
    assert checked.frame_ref == "first"
    assert any("last frame" in w and "first is kept" in w for w in checked.warnings)


def test_cross_check_leaves_values_a_task_cannot_use(media_root):
    request = parse_request("Draw a fox, 3 seconds, 1280x720", [media_root])
    checked = cross_check(Plan.from_tokens("<CFI>"), request)
    assert checked.task == "text_to_image" and checked.num_frames is None
    assert checked.width is None and not any("frames" in w for w in checked.warnings)
    answer = cross_check(Plan.understanding([]), parse_request("What is 2+2, in 1280x720?", [media_root]))
    assert answer.task == "text_understanding" and answer.width is None


def test_cross_check_keeps_the_model_plans_task_and_indices(media_root):
    request = parse_request("Replace the dog in ###street.MOV### with a tiger, 2 seconds", [media_root])
    model_plan = Plan.from_tokens("<BOEDIT>0<EOEDIT><CFV>", media_count=1)
    checked = cross_check(model_plan, request)
    assert (checked.task, checked.source_index, checked.num_frames) == ("video_edit", 0, None)


# -- robustness ---------------------------------------------------------------------------------------------

WORDS = [
    "a", "the", "this", "video", "image", "photo", "clip", "animate", "edit", "replace", "mask", "pose",
    "depth", "reference", "person", "same", "character", "describe", "what", "?", "make", "draw", "first",
    "last", "frame", "frames", "ending", "with", "starting", "from", "to", "seconds", "4s", "90s", "sec",
    "half a minute", "480p", "1080P", "16:9", "9:16", "1:1", "vertical", "square", "image", "1280x720",
    "99999x99999", "width", "height", "of", "16", "0", "3", "120", "1.5", "9" * 40, "-", ",", ".", "\n",
    "###cat.png###", "###mask.png###", "###clip.mp4###", "###end.png###", "###car_mask.mp4###",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=25).map(" ".join).filter(str.strip))
def test_any_request_gives_a_valid_plan(media_root, text):
    request = parse_request(text, [media_root])
    plan = RulesPlanner().plan(request)
    assert Plan.from_dict(plan.to_dict(), media_count=len(request.media)) == plan
    if not plan.is_understanding:
        assert Plan.from_tokens(plan.raw) == Plan.from_tokens(plan.to_tokens())
    for model_tokens in ("<CFV>", "<BORES>832,480<EORES><BONF>80<EONF><CFV>", "<BOFIDX>1<EOFIDX><CFV>", "<CFI>"):
        checked = cross_check(Plan.from_tokens(model_tokens), request)
        assert checked.task == Plan.from_tokens(model_tokens).task


def test_a_long_request_is_planned_quickly(media_root):
    text = ("Make a video of this person ###face.png### with 3 seconds and 1280x720 and the mask " * 250)[:19_000]
    text = text[: text.rfind("###face.png###") + len("###face.png###")]
    start = time.perf_counter()
    RulesPlanner().plan(parse_request(text, [media_root]))
    assert time.perf_counter() - start < 2.0


# -- the reference's own run.sh examples (issue 13 item 11) ----------------------------------------------

RUN_SH = [
    ("I have an image ###image_edit_source.png### and a mask ###image_edit_mask.png###. Apply the mask to "
     "the source image and alter the content to show them having tea party.", "<BOEDIT>1,0<EOEDIT><CFI>"),
    ("###image_ref.png### Please generate an ID photo for this woman, depicting her working in front of a "
     "computer in her room.", "<REF><CFI>"),
    ("Based on the provided last frame ###video_i2v.jpg###, generate a video that showcases a magnificent "
     "natural landscape.", "<BOFIDX>1<EOFIDX><CFV>"),
    ("End the video on this frame ###video_i2v.jpg###", "<BOFIDX>1<EOFIDX><CFV>"),
    ("Based on the provided face ID ###video_ref.png###, generate a video featuring a close-up, eye-level "
     "shot of a foreign man.", "<REF><CFV>"),
    ("Here is the mask <VIDPAD>. Make the bird in this video ###video_edit_source.mp4### appear cleaner and "
     "neater, presenting it in white.", "<BOEDIT>0<EOEDIT><CFV>"),
    ("###video_ctrl.mp4### Following the provided pose information, please create a video showing a "
     "construction worker.", "<CTRL><CFV>"),
    ("Please create a video with a width of 768 pixels and a height of 480 pixels, that is 2 seconds long, "
     "of a lion walking around in its habitat.", "<BORES>768,480<EORES><BONF>48<EONF><CFV>"),
]


@pytest.mark.parametrize("text, tokens", RUN_SH)
def test_rules_plan_the_reference_examples(tmp_path, text, tokens):
    for name in ("image_edit_source.png", "image_edit_mask.png", "image_ref.png", "video_i2v.jpg",
                 "video_ref.png", "video_edit_source.mp4", "video_ctrl.mp4"):
        (tmp_path / name).write_bytes(b"tiny")
    assert RulesPlanner().plan(parse_request(text, [tmp_path])).to_tokens() == tokens


@pytest.mark.parametrize("text", ["Write a haiku about autumn.", "Translate 'good morning' into French.",
                                  "There are 100 books in a library. On Monday, 40 books are borrowed. "
                                  "How many books are now in the library?"])
def test_rules_answer_text_orders_in_words(text):
    assert RulesPlanner().plan(text).task == "text_understanding"
