"""Request parsing and media path confinement."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unison_runtime.errors import RequestError
from unison_runtime.request import (
    IMAGE_EXTENSIONS, MAX_REQUEST_CHARS, VIDEO_EXTENSIONS, MediaItem, Request, parse_request,
)


@pytest.fixture()
def root(tmp_path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    for name in ("cat.png", "dog.JPG", "clip.mp4", "pose.MOV", "mask.png"):
        (folder / name).write_bytes(b"not decoded here")
    (folder / "sub").mkdir()
    (folder / "sub" / "bird.webp").write_bytes(b"x")
    return folder


def test_markers_become_pad_tokens_in_order(root):
    text = "Put the cat ###cat.png### into ###clip.mp4###, masked by ###mask.png###."
    request = parse_request(text, [root])
    assert request.text == text
    assert request.prompt == "Put the cat <IMGPAD> into <VIDPAD>, masked by <IMGPAD>."
    assert request.media_kinds == ("image", "video", "image")
    assert [item.path for item in request.media] == [root / "cat.png", root / "clip.mp4", root / "mask.png"]
    assert request.media[1] == MediaItem(path=root / "clip.mp4", kind="video", marker="###clip.mp4###")


def test_a_typed_pad_stays_a_pad_the_planner_counts_but_no_media_item(root):
    # run.sh example 9: the typed <VIDPAD> is how the reference asks for a mask to be made.
    request = parse_request("Here is the mask <VIDPAD>. Make the bird in ###clip.mp4### white, "
                            "like <IMGPAD> ###cat.png###", [root])
    assert request.prompt == "Here is the mask <VIDPAD>. Make the bird in <VIDPAD> white, like <IMGPAD> <IMGPAD>"
    assert request.media_kinds == ("video", "image")
    assert request.slots == (None, 0, None, 1)
    assert [request.pad_token(i) for i in range(4)] == ["<VIDPAD>", "<VIDPAD>", "<IMGPAD>", "<IMGPAD>"]
    plain = parse_request("###cat.png### and ###clip.mp4###", [root])
    assert plain.pads == () and plain.slots == (0, 1)


def test_typed_pads_and_given_media_are_counted_in_order_of_appearance():
    import numpy as np

    from unison_runtime.request import GivenMedia

    image = GivenMedia("image", np.zeros((1, 4, 4, 3), np.uint8))
    mask = GivenMedia("mask", np.zeros((1, 4, 4), np.float32))
    request = parse_request("edit {image1} with <IMGPAD> as mask", [], given={"image1": image, "mask1": mask})
    assert request.prompt == "edit <IMGPAD> with <IMGPAD> as mask <IMGPAD>"  # mask1 appended
    assert request.slots == (0, None, 1) and [m.role for m in request.media] == ["image", "mask"]


def test_qwen_vision_tokens_and_plan_tokens_typed_in_a_request_are_no_media(root):
    request = parse_request("Draw <|image_pad|>, <|vision_start|> and <BOEDIT>0,1<EOEDIT><CFV> on a sign", [root])
    assert "<|image_pad|>" not in request.prompt and "<|vision_start|>" not in request.prompt
    assert request.prompt.replace("\u2060", "") == request.text  # only broken by a word joiner
    assert "<BOEDIT>0,1<EOEDIT><CFV>" in request.prompt  # the reference's tokenizer reads them too...
    assert request.media == () and request.slots == ()  # ...but they are no media, and no plan


def test_a_request_without_media_needs_no_roots():
    request = parse_request("A red fox in the snow", [])
    assert request == Request(text="A red fox in the snow", prompt="A red fox in the snow", media=())
    assert request.media_kinds == ()


@pytest.mark.parametrize("name, kind", [("dog.JPG", "image"), ("pose.MOV", "video"), ("sub/bird.webp", "image")])
def test_kind_comes_from_the_extension_in_any_case(root, name, kind):
    assert parse_request(f"###{name}###", [root]).media_kinds == (kind,)


def test_every_documented_extension_is_accepted(root):
    for extension in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS:
        (root / f"file{extension.upper()}").write_bytes(b"x")
        kind = "image" if extension in IMAGE_EXTENSIONS else "video"
        assert parse_request(f"look ###file{extension.upper()}###", root).media_kinds == (kind,)


def test_relative_paths_try_each_root_in_order(root, tmp_path):
    second = tmp_path / "second"
    second.mkdir()
    (second / "only_here.png").write_bytes(b"x")
    (second / "cat.png").write_bytes(b"x")
    request = parse_request("###only_here.png### and ###cat.png###", [root, second])
    assert [item.path for item in request.media] == [second / "only_here.png", root / "cat.png"]


def test_absolute_paths_inside_a_root_are_fine(root):
    request = parse_request(f"###{root / 'cat.png'}###", [root])
    assert request.media[0].path == root / "cat.png"


def test_whitespace_inside_a_marker_is_ignored(root):
    assert parse_request("### cat.png ###", [root]).media[0].path == root / "cat.png"


@pytest.mark.parametrize("path", ["../outside.png", "sub/../../outside.png"])
def test_dot_dot_escapes_are_refused_naming_the_roots(root, path):
    (root.parent / "outside.png").write_bytes(b"x")
    with pytest.raises(RequestError) as info:
        parse_request(f"###{path}###", [root])
    assert "outside the allowed folders" in str(info.value) and str(root) in str(info.value)


def test_absolute_paths_outside_are_refused_without_revealing_existence(root, tmp_path):
    (tmp_path / "secret.png").write_bytes(b"x")
    messages = []
    for path in (tmp_path / "secret.png", tmp_path / "missing.png"):
        with pytest.raises(RequestError) as info:
            parse_request(f"###{path}###", [root])
        messages.append(str(info.value).replace(path.name, "NAME"))
    assert messages[0] == messages[1]
    assert "outside the allowed folders" in messages[0]


def test_symlinks_that_escape_are_refused(root, tmp_path):
    (tmp_path / "secret.png").write_bytes(b"x")
    (root / "link.png").symlink_to(tmp_path / "secret.png")
    (root / "linkdir").symlink_to(tmp_path)
    for marker in ("link.png", "linkdir/secret.png"):
        with pytest.raises(RequestError, match="outside the allowed folders"):
            parse_request(f"###{marker}###", [root])


def test_symlinks_inside_the_roots_are_followed(root):
    (root / "alias.png").symlink_to(root / "cat.png")
    assert parse_request("###alias.png###", [root]).media[0].path == root / "cat.png"


@pytest.mark.parametrize("text, expected", [
    ("###missing.png###", "not found"),
    ("###sub.png###", "not a file"),
    ("###notes.txt###", ".png, .jpg, .jpeg, .webp"),
    ("###noextension###", ".mp4, .avi, .mov, .webm, .gif"),
    ("a cat ###cat.png", "unterminated media marker"),
    ("a cat ###cat.png### and ###", "unterminated media marker"),
    ("######", "empty or malformed media marker"),
    ("###   ###", "empty or malformed media marker"),
    ("###cat\n.png###", "empty or malformed media marker"),
    ("###cat\x00.png###", "empty or malformed media marker"),
    ("###" + "a" * 5000 + ".png###", "cannot be read"),
    ("", "the request is empty"),
    ("   \n\t", "the request is empty"),
])
def test_bad_requests_raise_request_errors(root, text, expected):
    (root / "sub.png").mkdir()
    with pytest.raises(RequestError) as info:
        parse_request(text, [root])
    assert expected in str(info.value)


def test_media_without_any_allowed_root_is_refused():
    with pytest.raises(RequestError, match="no media folder is allowed"):
        parse_request("animate ###cat.png###", [])


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read anything")
def test_unreadable_files_are_refused(root):
    (root / "cat.png").chmod(0)
    try:
        with pytest.raises(RequestError, match="cannot be read"):
            parse_request("###cat.png###", [root])
    finally:
        (root / "cat.png").chmod(0o644)


def test_a_symlink_loop_is_a_request_error(root):
    (root / "loop.png").symlink_to(root / "loop.png")
    with pytest.raises(RequestError):
        parse_request("###loop.png###", [root])


def test_over_long_requests_are_refused_at_once(root):
    at_limit = "a" * (MAX_REQUEST_CHARS - 13) + "###cat.png###"
    assert parse_request(at_limit, [root]).media_kinds == ("image",)
    for text in ("a" * 1_000_000, "###" * 350_000, "###a" * 250_000):
        start = time.perf_counter()
        with pytest.raises(RequestError, match="20,000"):
            parse_request(text, [root])
        assert time.perf_counter() - start < 1.0


def test_non_text_requests_are_request_errors(root):
    with pytest.raises(RequestError, match="must be text"):
        parse_request(b"###cat.png###", [root])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list("ab #./\n") + ["cat.png", "clip.mp4", "###", "..", "/etc/"]), max_size=20).map("".join))
def test_any_text_gives_a_request_or_a_request_error(tmp_path_factory, text):
    root = tmp_path_factory.getbasetemp() / "fuzz_root"
    root.mkdir(exist_ok=True)
    for name in ("cat.png", "clip.mp4"):
        (root / name).write_bytes(b"x")
    try:
        request = parse_request(text, [root])
    except RequestError as err:
        assert str(err)
        return
    assert request.prompt.count("<IMGPAD>") + request.prompt.count("<VIDPAD>") == len(request.media)
    assert all(item.path.is_relative_to(root.resolve()) for item in request.media)


def test_a_file_that_cannot_be_opened_is_a_request_error(root, monkeypatch):
    """Same as the chmod test above, for runs as root (who can read anything)."""
    import unison_runtime.request as request_module

    def refuse(path, mode="r", *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(request_module, "open", refuse, raising=False)
    with pytest.raises(RequestError, match="cannot be read: Permission denied"):
        parse_request("###cat.png###", [root])
