"""The task router: each task's route, overrides, and missing/unsupported media."""

import pytest

from unison_runtime.errors import PlanError
from unison_runtime.facts import MEDIA_LIMIT_OF_TASK
from unison_runtime.plan import Plan
from unison_runtime.router import MediaInfo, Overrides
from unison_runtime.router import route as route_with

IMG = MediaInfo("image", 640, 480, name="photo.png")
MASK = MediaInfo("image", 640, 480, name="photo_mask.png", role="mask")  # given as a mask (a node's mask socket)
NAMED_MASK = MediaInfo("image", 640, 480, name="photo_mask.png")  # a file merely named like a mask
VID = MediaInfo("video", 320, 240, num_frames=50, name="clip.mp4")
POSE_VID = MediaInfo("video", 512, 512, num_frames=300, name="pose.mp4")


def route(plan, media, overrides=None):
    """`router.route` with the overrides written as a dict (`Overrides.from_mapping`)."""
    return route_with(plan, media, Overrides.from_mapping(overrides) if overrides is not None else None)


def plan(tokens, media=()):
    return Plan.from_tokens(tokens, media_count=len(media))


@pytest.mark.parametrize("tokens, media, expected", [
    ("<BORES>768,480<EORES><BONF>48<EONF><CFV>", [],
     dict(task="text_to_video", width=768, height=480, num_frames=49, annotator=None)),
    ("<CFV>", [], dict(task="text_to_video", width=832, height=480, num_frames=81)),
    ("<CFI>", [], dict(task="text_to_image", width=832, height=480, num_frames=1)),
    ("<BOEDIT>1,0<EOEDIT><CFI>", [IMG, MASK],
     dict(task="image_edit", source_index=0, mask_index=1, annotator="mask", width=640, height=480)),
    ("<BOEDIT>0,1<EOEDIT><CFI>", [MASK, IMG],
     dict(task="image_edit", source_index=1, mask_index=0, annotator="mask")),
    ("<CTRL><CFI>", [IMG], dict(task="image_control", control_index=0, annotator="control", num_frames=1)),
    ("<REF><CFI>", [IMG], dict(task="image_reference", reference_indices=(0,), annotator="reference")),
    ("<BOFIDX>0<EOFIDX><CFV>", [IMG], dict(task="image_to_video", frame_indices=(0,), annotator="firstframe")),
    ("<BOFIDX>1<EOFIDX><CFV>", [IMG], dict(task="image_to_video", annotator="lastframe")),
    ("<REF><CFV>", [IMG], dict(task="video_reference", reference_indices=(0,), num_frames=81)),
    # video edit without a mask: the salient object is edited; frames follow the source (snapped 4k+1)
    ("<BOEDIT>0<EOEDIT><CFV>", [VID],
     dict(task="video_edit", source_index=0, mask_index=None, annotator="salient", num_frames=49,
          width=320, height=240)),
    ("<BOEDIT>1,0<EOEDIT><CFV>", [VID, MASK], dict(task="video_edit", mask_index=1, annotator="mask")),
    # long control videos are resampled over the clip to the planned length (81 by default), as the reference
    ("<CTRL><CFV>", [POSE_VID], dict(task="video_control", control_index=0, num_frames=81, width=512)),
])
def test_route_per_task(tokens, media, expected):
    chosen = route(plan(tokens, media), media)
    assert chosen.needs_generator
    for name, value in expected.items():
        assert getattr(chosen, name) == value, name


@pytest.mark.parametrize("task, media", [
    ("text_understanding", []), ("image_understanding", [IMG]), ("video_understanding", [VID, IMG]),
])
def test_understanding_needs_no_generator(task, media):
    chosen = route(Plan.understanding([m.kind for m in media]), media)
    assert chosen.task == task
    assert not chosen.needs_generator
    assert "answered" in chosen.describe()


def test_edit_without_indices_takes_the_item_given_as_a_mask_never_guessing_from_names():
    chosen = route(Plan(task="image_edit"), [MASK, IMG])
    assert (chosen.source_index, chosen.mask_index) == (1, 0)
    # a name is no role: without indices the first image is the source, the other the mask
    chosen = route(Plan(task="image_edit"), [NAMED_MASK, IMG])
    assert (chosen.source_index, chosen.mask_index) == (0, 1)


def test_overrides_are_a_typed_value_checked_up_front():
    with pytest.raises(PlanError, match="allowed"):
        Overrides(task="paint_a_house")
    with pytest.raises(PlanError, match="frame_ref"):
        Overrides(frame_ref="middle")
    with pytest.raises(PlanError, match="media index"):
        Overrides(mask_index=-1)
    with pytest.raises(PlanError, match="Overrides"):
        route_with(plan("<CFI>"), [], {"width": 64})


@pytest.mark.parametrize("field, value, check", [
    ("width", 320, lambda r: r.width == 320),
    ("height", 256, lambda r: r.height == 256),
    ("num_frames", 17, lambda r: r.num_frames == 17),
    ("task", "text_to_image", lambda r: r.task == "text_to_image" and r.num_frames == 1),
    ("frame_ref", "last", lambda r: r.annotator == "lastframe"),
])
def test_each_override_replaces_the_planned_value(field, value, check):
    base = plan("<BOFIDX>0<EOFIDX><CFV>", [IMG]) if field == "frame_ref" else plan("<CFV>")
    media = [IMG] if field == "frame_ref" else []
    chosen = route(base, media, {field: value})
    assert check(chosen)
    assert any("overridden" in w for w in chosen.plan.warnings)


def test_index_overrides_swap_source_and_mask():
    chosen = route(plan("<BOEDIT>1,0<EOEDIT><CFI>", [IMG, MASK]), [IMG, MASK],
                   {"mask_index": 0, "source_index": 1})
    assert (chosen.source_index, chosen.mask_index) == (1, 0)


def test_none_means_as_planned():
    base = plan("<BORES>768,480<EORES><CFV>")
    assert route(base, [], {"width": None, "task": None}).width == 768


@pytest.mark.parametrize("overrides, message", [
    ({"width": 5000}, "width"),
    ({"num_frames": 0}, "frame"),
    ({"task": "paint_a_house"}, "task"),
    ({"colour": "red"}, "allowed"),
    ({"mask_index": 7}, "mask_index"),
])
def test_bad_overrides_are_named(overrides, message):
    base = plan("<BOEDIT>1,0<EOEDIT><CFV>", [VID, MASK])
    with pytest.raises(PlanError, match=message):
        route(base, [VID, MASK], overrides)


@pytest.mark.parametrize("tokens, media, missing", [
    ("<BOEDIT>0<EOEDIT><CFI>", [IMG], "mask"),
    ("<CTRL><CFV>", [], "control"),
    ("<REF><CFI>", [], "reference"),
    ("<BOFIDX>0<EOFIDX><CFV>", [], "image"),
    ("<BOEDIT>0<EOEDIT><CFV>", [], "source"),
])
def test_missing_media_is_named(tokens, media, missing):
    with pytest.raises(PlanError, match=missing):
        route(Plan.from_tokens(tokens), media)


def test_unsupported_media_kind_is_named():
    # an image edit whose "source" is a video
    with pytest.raises(PlanError, match="video"):
        route(plan("<BOEDIT>1,0<EOEDIT><CFI>", [VID, MASK]), [VID, MASK])


def test_firstlast_needs_two_images():
    with pytest.raises(PlanError, match="2 image"):
        route(plan("<BOFIDX>0,1<EOFIDX><CFV>", [IMG]), [IMG])
    chosen = route(plan("<BOFIDX>0,1<EOFIDX><CFV>", [IMG, IMG]), [IMG, IMG])
    assert chosen.frame_indices == (0, 1) and chosen.annotator == "firstlastframe"


def test_route_serialises():
    chosen = route(plan("<BOEDIT>1,0<EOEDIT><CFI>", [IMG, MASK]), [IMG, MASK])
    data = chosen.to_dict()
    assert data["plan"]["task"] == "image_edit" and data["mask_index"] == 1
    assert "mask = media #2" in chosen.describe()


def test_flag_overrides_follow_the_task_and_contradictions_are_named():
    chosen = route(plan("<CFI>"), [IMG], {"task": "image_control"})
    assert chosen.plan.control is True and chosen.annotator == "control" and chosen.control_index == 0
    chosen = route(plan("<CFV>"), [IMG], {"task": "video_reference", "reference": True})
    assert chosen.plan.reference is True and chosen.reference_indices == (0,)
    # A flag for another task's family is a value that does not apply: left out, with a note.
    ignored = route(plan("<CFI>"), [], {"control": True})
    assert ignored.task == "text_to_image" and ignored.plan.control is False
    assert "control=on ignored: text_to_image does not use it" in ignored.notes
    with pytest.raises(PlanError, match="control"):  # a flag contradicting the task it applies to
        route(plan("<CFI>"), [IMG], {"task": "image_control", "control": False})


def test_overrides_a_task_does_not_read_are_left_out_with_one_note_each():
    """A saved graph's frame reference on a video edit, a mask index on a text-to-video: it runs."""
    chosen = route(plan("<BOEDIT>0<EOEDIT><CFV>", [VID, MASK]), [VID, MASK],
                   {"frame_ref": "last", "reference": True, "width": 320})
    assert chosen.task == "video_edit" and chosen.width == 320 and chosen.plan.frame_ref is None
    assert chosen.notes[:2] == ("frame_ref=last ignored: video_edit does not use it",
                                "reference=on ignored: video_edit does not use it")
    answered = route(plan("<CFV>"), [], {"task": "text_understanding", "num_frames": 33})
    assert not answered.needs_generator and answered.notes == ("num_frames=33 ignored: text_understanding does not use it",)
    kept = route(plan("<CFV>"), [], {"num_frames": 33})
    assert kept.num_frames == 33 and not any("ignored" in n for n in kept.notes)


def test_a_source_only_video_edit_never_takes_an_unrelated_image_as_mask():
    face = MediaInfo("image", 64, 64, name="face.png")
    assert route(plan("<BOEDIT>0<EOEDIT><CFV>", [VID]), [VID]).annotator == "salient"
    # the image is neither taken as the mask nor dropped without a word: a name is no role
    for other in (face, NAMED_MASK):
        with pytest.raises(PlanError, match=r"video_edit uses one source video and one mask; .* #2 \(image\) "
                                            "would be left unused"):
            route(plan("<BOEDIT>0<EOEDIT><CFV>", [VID, other]), [VID, other])
    # an item given as a mask is the mask
    chosen = route(plan("<BOEDIT>0<EOEDIT><CFV>", [VID, MASK]), [VID, MASK])
    assert chosen.mask_index == 1 and chosen.annotator == "mask"


@pytest.mark.parametrize("task, media, unused", [
    ("text_to_image", [IMG], "#1 (image)"),
    ("text_to_video", [IMG, VID], "#1 (image), #2 (video)"),
    ("image_edit", [IMG, MASK, IMG], "#3 (image)"),
    ("image_control", [IMG, IMG], "#2 (image)"),
    ("video_control", [VID, VID], "#2 (video)"),
    ("video_reference", [IMG, VID], "#2 (video)"),
    ("image_to_video", [IMG, IMG], "#2 (image)"),
])
def test_media_a_task_cannot_use_is_refused_in_one_line_naming_the_limit(task, media, unused):
    with pytest.raises(PlanError) as refused:
        route(plan("<CFI>"), media, {"task": task})
    message = str(refused.value)
    assert message.startswith(f"{task} uses {MEDIA_LIMIT_OF_TASK[task]}; the request has {len(media)} media")
    assert f"{unused} would be left unused" in message and "\n" not in message


def test_every_item_used_is_not_refused():
    assert route(plan("<CFI>"), [IMG, IMG], {"task": "image_to_video", "frame_ref": "firstlast"}).frame_indices == (0, 1)
    assert route(plan("<CFI>"), [IMG, IMG, IMG], {"task": "image_reference"}).reference_indices == (0, 1, 2)
    assert route(plan("<CFI>"), [IMG, MASK], {"task": "image_edit"}).mask_index == 1
