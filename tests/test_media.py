"""media: file I/O (PNG, MP4, GIF, masks) and the layout conversions between ComfyUI, numpy and
the runtime's [C, T, H, W] tensors."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from unison_runtime import media
from unison_runtime.errors import MediaError


def gradient_frames(t: int, h: int, w: int) -> np.ndarray:
    """Distinct frames: red across, green down, blue by frame index."""
    y, x = np.mgrid[0:h, 0:w]
    red, green = x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1)
    frames = [np.stack([red, green, np.full_like(x, 20 * i)], -1) for i in range(t)]
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def assert_close_pixels(decoded: np.ndarray, original: np.ndarray) -> None:
    """H.264 at CRF 18 with 4:2:0 chroma: close on average, no pixel far off, frames in order."""
    assert decoded.shape == original.shape
    error = np.abs(decoded.astype(int) - original.astype(int))
    assert error.mean() < 6 and error.max() < 40
    frame_means = decoded.reshape(len(decoded), -1).mean(1)
    np.testing.assert_allclose(frame_means, original.reshape(len(original), -1).mean(1), atol=2)


def solid_frames(values: list[int], h: int = 16, w: int = 16) -> np.ndarray:
    return np.stack([np.full((h, w, 3), v, np.uint8) for v in values])


# -- conversions -----------------------------------------------------------------------------
uint8_videos = st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1)).map(
    lambda a: np.random.default_rng(a[3]).integers(0, 256, (a[0], a[1], a[2], 3), dtype=np.uint8)
)


@settings(max_examples=40, deadline=None)
@given(uint8_videos)
def test_uint8_round_trips_are_exact(array):
    frames = media.frames_from_uint8(array)
    assert frames.shape == (3, *array.shape[:3]) and frames.dtype == torch.float32
    assert frames.min() >= -1 and frames.max() <= 1
    np.testing.assert_array_equal(media.to_uint8_frames(frames), array)
    # ComfyUI's layout in the middle loses nothing on the uint8 grid either.
    comfy = media.frames_to_comfy(frames)
    np.testing.assert_array_equal(media.to_uint8_frames(media.comfy_to_frames(comfy)), array)


def test_uint8_to_frames_maps_the_range_ends():
    frames = media.frames_from_uint8(np.array([[[[0, 255, 128]]]], np.uint8))
    assert frames[:, 0, 0, 0].tolist() == pytest.approx([-1.0, 1.0, 128 / 127.5 - 1], abs=1e-6)


def test_comfy_layout_conversions_move_axes():
    image = torch.rand(2, 5, 7, 3)
    frames = media.comfy_to_frames(image)
    assert frames.shape == (3, 2, 5, 7)
    # the channel c of batch item b at (y, x) is the same pixel, rescaled to [-1, 1]
    assert frames[1, 1, 4, 6].item() == pytest.approx(image[1, 4, 6, 1].item() * 2 - 1, abs=1e-7)
    back = media.frames_to_comfy(frames)
    assert back.shape == image.shape
    torch.testing.assert_close(back, image, atol=1e-6, rtol=0)


def test_masks_round_trip_exactly_and_binarise():
    comfy = torch.tensor([[[0.0, 0.4, 0.5], [0.51, 0.9, 1.0]]])  # [1, 2, 3]
    masks = media.comfy_mask_to_masks(comfy)
    assert masks.shape == (1, 1, 2, 3)
    assert masks.flatten().tolist() == [0, 0, 0, 1, 1, 1]
    binary = (torch.rand(4, 6, 5) > 0.5).float()
    assert torch.equal(media.masks_to_comfy(media.comfy_mask_to_masks(binary)), binary)


def test_a_2d_comfy_mask_is_one_frame():
    assert media.comfy_mask_to_masks(torch.ones(3, 4)).shape == (1, 1, 3, 4)


def test_pil_and_lists_become_uint8_frames():
    array = gradient_frames(2, 6, 8)
    pil = [Image.fromarray(a) for a in array]
    np.testing.assert_array_equal(media.pil_to_array(pil[0]), array[0])
    np.testing.assert_array_equal(media.to_uint8_frames(pil), array)
    np.testing.assert_array_equal(media.to_uint8_frames(array[1]), array[1:2])
    grey = pil[1].convert("L")  # any PIL mode is converted to RGB
    np.testing.assert_array_equal(media.to_uint8_frames(grey), np.asarray(grey.convert("RGB"))[None])


def test_slight_overshoot_is_clipped():
    frames = torch.full((3, 1, 2, 2), 1.03)
    assert media.to_uint8_frames(frames).max() == 255
    assert media.frames_to_comfy(-frames).min() == 0.0


@pytest.mark.parametrize(
    "call, value, message",
    [
        (media.comfy_to_frames, torch.rand(2, 4, 4, 4), "3 channels"),
        (media.comfy_to_frames, torch.rand(4, 4, 3), r"\[B,H,W,3\]"),
        (media.comfy_to_frames, torch.rand(1, 4, 4, 3) * 255, r"values in \[0, 1\]"),
        (media.comfy_to_frames, np.zeros((1, 4, 4, 3), np.float32), "must be a torch tensor"),
        (media.frames_to_comfy, torch.rand(4, 3, 4, 4), "3 channels"),
        (media.frames_to_comfy, torch.zeros(3, 0, 4, 4), "non-empty"),
        (media.frames_to_comfy, torch.full((3, 1, 4, 4), float("nan")), "NaN"),
        (media.to_uint8_frames, torch.zeros(3, 1, 4, 4, dtype=torch.uint8), "float tensor"),
        (media.to_uint8_frames, torch.rand(3, 1, 4, 4) * 255, r"values in \[-1, 1\]"),
        (media.to_uint8_frames, np.zeros((1, 4, 4, 3), np.float32), "must be uint8"),
        (media.to_uint8_frames, np.zeros((1, 4, 4, 4), np.uint8), r"\[T,H,W,3\]"),
        (media.to_uint8_frames, [], "no frames"),
        (media.to_uint8_frames, "frames.png", "cannot read frames from str"),
        (media.comfy_mask_to_masks, torch.rand(1, 1, 4, 4), r"\[B,H,W\]"),
        (media.comfy_mask_to_masks, torch.full((1, 4, 4), 2.0), r"values in \[0, 1\]"),
        (media.masks_to_comfy, torch.ones(2, 1, 4, 4), "1 channels"),
        (media.frames_from_uint8, torch.zeros(1, 4, 4, 3), "numpy uint8 array"),
        (media.pil_to_array, np.zeros((4, 4, 3), np.uint8), "PIL image"),
    ],
)
def test_bad_layouts_and_ranges_are_media_errors(call, value, message):
    with pytest.raises(MediaError, match=message):
        call(value)


# -- images and masks ------------------------------------------------------------------------
def test_png_save_and_load_are_exact(tmp_path):
    array = np.random.default_rng(3).integers(0, 256, (1, 9, 13, 3), dtype=np.uint8)
    path = media.save_png(media.frames_from_uint8(array), tmp_path / "x.png")
    np.testing.assert_array_equal(media.pil_to_array(media.load_image(path)), array[0])
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]  # no temp file left behind


def test_save_png_refuses_several_frames(tmp_path):
    with pytest.raises(MediaError, match="one image but got 2 frames"):
        media.save_png(gradient_frames(2, 4, 4), tmp_path / "x.png")
    assert not any(tmp_path.iterdir())


def test_existing_files_are_not_overwritten(tmp_path):
    png, mp4 = tmp_path / "user.png", tmp_path / "user.mp4"
    png.write_bytes(b"precious")
    mp4.write_bytes(b"precious")
    with pytest.raises(MediaError, match="already exists"):
        media.save_png(solid_frames([1]), png)
    with pytest.raises(MediaError, match="already exists"):
        media.save_mp4(solid_frames([1, 2]), mp4)
    assert png.read_bytes() == b"precious" and mp4.read_bytes() == b"precious"
    media.save_png(solid_frames([77]), png, overwrite=True)
    assert media.pil_to_array(media.load_image(png))[0, 0].tolist() == [77, 77, 77]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["user.mp4", "user.png"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_written_files_get_ordinary_permissions(tmp_path):
    (tmp_path / "plain").touch()
    expected = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    png = media.save_png(solid_frames([1]), tmp_path / "x.png")
    mp4 = media.save_mp4(solid_frames([1, 2]), tmp_path / "x.mp4", fps=np.float32(12))
    assert stat.S_IMODE(png.stat().st_mode) == expected
    assert stat.S_IMODE(mp4.stat().st_mode) == expected


def test_file_appearing_during_the_write_survives(tmp_path, monkeypatch):
    target = tmp_path / "race.png"
    real = media._write_atomically

    def write_then_race(path, overwrite, write):
        def racing_write(tmp):
            write(tmp)
            path.write_bytes(b"someone else")  # appears after the up-front existence check
        return real(path, overwrite, racing_write)

    monkeypatch.setattr(media, "_write_atomically", write_then_race)
    with pytest.raises(MediaError, match="already exists"):
        media.save_png(solid_frames([5]), target)
    assert target.read_bytes() == b"someone else"
    assert [p.name for p in tmp_path.iterdir()] == ["race.png"]


@pytest.mark.parametrize("name, message", [("x.jpg", r"expected a \.png"), ("missing/x.png", "folder does not exist")])
def test_bad_png_targets(tmp_path, name, message):
    with pytest.raises(MediaError, match=message):
        media.save_png(solid_frames([1]), tmp_path / name)


def test_load_image_converts_to_rgb_and_applies_exif_rotation(tmp_path):
    array = gradient_frames(1, 4, 6)[0]
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    Image.fromarray(array).save(tmp_path / "photo.png", exif=exif)
    loaded = media.load_image(tmp_path / "photo.png")
    assert loaded.mode == "RGB" and loaded.size == (4, 6)  # width, height swapped
    np.testing.assert_array_equal(np.asarray(loaded), np.rot90(array, k=-1))
    Image.fromarray(array[..., 0]).save(tmp_path / "grey.png")
    assert media.load_image(tmp_path / "grey.png").mode == "RGB"


def test_load_mask_thresholds_grey_levels(tmp_path):
    grey = np.array([[0, 1, 127], [128, 200, 255]], np.uint8)
    Image.fromarray(grey).save(tmp_path / "m.png")
    Image.fromarray(np.stack([grey] * 3, -1)).save(tmp_path / "rgb.png")
    expected = [[0, 1, 1], [1, 1, 1]]  # VACE's test: any grey above 0 is the region
    for name in ("m.png", "rgb.png"):
        mask = media.load_mask(tmp_path / name)
        assert mask.dtype == np.float32 and mask.tolist() == expected


def test_load_mask_uses_a_non_opaque_alpha_channel(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)  # black everywhere, so grey levels would say "keep"
    rgba[..., 3] = [[255, 0], [200, 100]]
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert media.load_mask(tmp_path / "a.png").tolist() == [[0, 1], [1, 1]]  # ComfyUI: 1 - alpha > 0
    rgba[..., :3], rgba[..., 3] = 255, 255  # fully opaque: alpha says nothing, grey level decides
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    assert media.load_mask(tmp_path / "opaque.png").tolist() == [[1, 1], [1, 1]]


@pytest.mark.parametrize("loader", [media.load_image, media.load_mask])
def test_unreadable_images_are_media_errors(tmp_path, loader):
    with pytest.raises(MediaError, match="file not found"):
        loader(tmp_path / "nope.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(MediaError, match=r"not a readable image.*\.png"):
        loader(tmp_path / "text.png")
    with pytest.raises(MediaError, match="not a file"):
        loader(tmp_path)


# -- videos ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    frames = gradient_frames(10, 32, 48)
    path = media.save_mp4(frames, tmp_path_factory.mktemp("video") / "clip.mp4", fps=12)
    return path, frames


def test_mp4_round_trip(mp4):
    path, frames = mp4
    decoded = media.load_video(path)
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    assert media.video_fps(path) == pytest.approx(12)
    assert_close_pixels(decoded, frames)
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"


def test_mp4_from_runtime_tensor_with_fractional_fps(tmp_path):
    frames = gradient_frames(3, 16, 16)
    path = media.save_mp4(media.frames_from_uint8(frames), tmp_path / "t.mp4", fps=23.976)
    assert media.video_fps(path) == pytest.approx(24000 / 1001, rel=1e-3)
    assert_close_pixels(media.load_video(path), frames)


def test_mp4_odd_sizes_are_padded_by_edge_repetition(tmp_path):
    frames = gradient_frames(2, 15, 21)
    decoded = media.load_video(media.save_mp4(frames, tmp_path / "odd.mp4"))
    assert decoded.shape == (2, 16, 22, 3)
    assert_close_pixels(decoded[:, :15, :21], frames)
    # the added row and column repeat the last real ones (not black)
    assert_close_pixels(decoded[:, 15:, :21], frames[:, 14:])
    assert_close_pixels(decoded[:, :15, 21:], frames[:, :, 20:])


def test_max_frames_samples_evenly(mp4):
    path, _ = mp4
    full = media.load_video(path)
    picked = media.load_video(path, max_frames=4)
    # evenly spaced from first to last: 0, 3, 6, 9
    np.testing.assert_array_equal(picked, full[[0, 3, 6, 9]])
    np.testing.assert_array_equal(media.load_video(path, max_frames=50), full)


def test_sample_fps_keeps_frames_at_the_requested_rate(mp4):
    path, _ = mp4
    full = media.load_video(path)
    np.testing.assert_array_equal(media.load_video(path, sample_fps=4), full[[0, 3, 6, 9]])
    np.testing.assert_array_equal(media.load_video(path, sample_fps=5), full[[0, 2, 5, 7]])  # 2.4-frame steps
    np.testing.assert_array_equal(media.load_video(path, sample_fps=60), full)  # never duplicates
    np.testing.assert_array_equal(media.load_video(path, sample_fps=4, max_frames=2), full[[0, 9]])


def write_webm(path, frames: np.ndarray, fps: int = 10) -> None:
    """VP8 in WebM: a container that does not state its frame count."""
    import av

    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())


@pytest.fixture(scope="module")
def webm(tmp_path_factory):
    path = tmp_path_factory.mktemp("webm") / "clip.webm"
    write_webm(path, solid_frames([10 * i for i in range(9)]))
    return path


def test_webm_without_a_stated_frame_count_is_sampled(webm):
    full = media.load_video(webm)
    assert full.shape == (9, 16, 16, 3) and media.video_fps(webm) == pytest.approx(10)
    np.testing.assert_allclose(full[:, 8, 8, 0], [10 * i for i in range(9)], atol=4)
    np.testing.assert_array_equal(media.load_video(webm, max_frames=3), full[[0, 4, 8]])


@pytest.mark.parametrize("wrong_count", [4, 20])
def test_a_miscounted_container_still_gives_the_right_frames(webm, monkeypatch, wrong_count):
    full = media.load_video(webm)
    monkeypatch.setattr(media, "_count_packets", lambda container, stream: wrong_count)
    np.testing.assert_array_equal(media.load_video(webm, max_frames=3), full[[0, 4, 8]])
    np.testing.assert_array_equal(media.load_video(webm, sample_fps=5), full[[0, 2, 4, 6, 8]])


def test_gif_is_read_as_video(tmp_path):
    values = [0, 60, 120, 180, 240]
    images = [Image.fromarray(f) for f in solid_frames(values, 10, 14)]
    path = tmp_path / "anim.gif"
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    decoded = media.load_video(path)
    assert decoded.shape == (5, 10, 14, 3)
    assert decoded[:, 5, 5, 0].tolist() == values
    assert media.video_fps(path) == pytest.approx(10)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_frames": 0}, "max_frames must be a positive integer"),
    ({"max_frames": 2.5}, "max_frames must be a positive integer"),
    ({"sample_fps": -1}, "sample_fps must be a positive number"),
])
def test_bad_sampling_arguments(mp4, kwargs, message):
    with pytest.raises(MediaError, match=message):
        media.load_video(mp4[0], **kwargs)


def test_unreadable_videos_are_media_errors(tmp_path):
    with pytest.raises(MediaError, match="file not found"):
        media.load_video(tmp_path / "none.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 64)
    with pytest.raises(MediaError, match=r"not a readable video.*\.mp4"):
        media.load_video(tmp_path / "junk.mp4")
    with pytest.raises(MediaError, match="not a readable video"):
        media.video_fps(tmp_path / "junk.mp4")


def test_video_without_frames_is_a_media_error(tmp_path):
    import av

    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w", format="mp4") as container:  # a header, no samples
        stream = container.add_stream("libx264", rate=24)
        stream.width = stream.height = 16
        container.start_encoding()
    assert path.stat().st_size > 0
    # ffmpeg drops a track without samples, so this reads as "no video stream"
    with pytest.raises(MediaError, match="no video (stream|frames)"):
        media.load_video(path)


def test_audio_only_file_has_no_video_stream(tmp_path):
    import av

    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            container.mux(packet)
    with pytest.raises(MediaError, match="no video stream"):
        media.load_video(path)


@pytest.mark.parametrize("fps", [0, -3, float("nan"), "24"])
def test_bad_fps_is_refused_before_writing(tmp_path, fps):
    with pytest.raises(MediaError, match="fps must be a positive number"):
        media.save_mp4(solid_frames([1, 2]), tmp_path / "x.mp4", fps=fps)
    assert not any(tmp_path.iterdir())


def test_extension_lists():
    assert media.IMAGE_EXTENSIONS == (".png", ".jpg", ".jpeg", ".webp")
    assert media.VIDEO_EXTENSIONS == (".mp4", ".avi", ".mov", ".webm", ".gif")


def test_a_decompression_bomb_is_a_media_error(tmp_path, monkeypatch):
    from PIL import Image

    from unison_runtime.media import load_image

    path = tmp_path / "big.png"
    Image.new("RGB", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64x64 is then > 2x the limit: a "bomb"
    with pytest.raises(MediaError, match="too large"):
        load_image(path)
