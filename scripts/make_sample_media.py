#!/usr/bin/env python3
"""Write the small sample media the example workflows use (example_workflows/input/).

Simple synthetic scenes (flat shapes compress to a few KB): a bowl, a photo and its mask, a pose
stick figure, a subject (toy robot), a short clip of a moving ball and a depth-like clip. The
files are committed; ComfyUI-Unison copies them into ComfyUI's input folder once per process (the
first time a Unison node is listed or run), never overwriting files a user already has there. Re-run only to change them:

    .venv/bin/python scripts/make_sample_media.py
"""

from __future__ import annotations

import sys
from pathlib import Path

PACK = Path(__file__).resolve().parents[1]
OUT = PACK / "example_workflows" / "input"
W, H = 320, 192
FRAMES = 17


def _canvas(color):
    import numpy as np

    image = np.zeros((H, W, 3), np.uint8)
    image[:] = color
    return image


def _disc(image, cx, cy, r, color):
    import numpy as np

    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    image[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = color
    return image


def _rect(image, x1, y1, x2, y2, color):
    image[y1:y2, x1:x2] = color
    return image


def _line(image, p, q, color, width=4):
    import numpy as np

    steps = int(max(abs(q[0] - p[0]), abs(q[1] - p[1]))) + 1
    for t in np.linspace(0, 1, steps):
        x, y = int(p[0] + (q[0] - p[0]) * t), int(p[1] + (q[1] - p[1]) * t)
        image[max(0, y - width // 2):y + width // 2 + 1, max(0, x - width // 2):x + width // 2 + 1] = color
    return image


def bowl():
    image = _canvas((200, 180, 150))
    _disc(image, 160, 100, 70, (245, 245, 240))
    _disc(image, 160, 100, 55, (190, 60, 30))  # tomato sauce
    _disc(image, 140, 90, 8, (40, 140, 40))  # basil
    return image


def photo():
    image = _canvas((120, 170, 230))  # sky
    _rect(image, 0, 120, W, H, (70, 140, 60))  # grass
    _disc(image, 250, 40, 20, (250, 230, 90))  # sun
    _rect(image, 130, 80, 190, 140, (150, 90, 50))  # a crate (the masked area)
    return image


def photo_mask():
    image = _canvas((0, 0, 0))
    return _rect(image, 120, 70, 200, 150, (255, 255, 255))


def pose():
    image = _canvas((0, 0, 0))
    joints = {"head": (160, 40), "neck": (160, 62), "hip": (160, 120), "lh": (120, 95), "rh": (200, 70),
              "lf": (135, 180), "rf": (190, 178)}
    for a, b, color in (("neck", "hip", (255, 0, 0)), ("neck", "lh", (0, 255, 0)), ("neck", "rh", (0, 0, 255)),
                        ("hip", "lf", (255, 255, 0)), ("hip", "rf", (0, 255, 255))):
        _line(image, joints[a], joints[b], color)
    return _disc(image, *joints["head"], 12, (255, 0, 255))


def subject():
    image = _canvas((255, 255, 255))
    _rect(image, 130, 60, 190, 130, (90, 110, 200))  # body
    _rect(image, 140, 25, 180, 58, (150, 160, 220))  # head
    _disc(image, 152, 40, 4, (255, 220, 0))
    _disc(image, 168, 40, 4, (255, 220, 0))
    _rect(image, 135, 130, 150, 170, (60, 60, 60))
    return _rect(image, 170, 130, 185, 170, (60, 60, 60))


def clip():
    import numpy as np

    frames = []
    for t in range(FRAMES):
        image = _canvas((200, 200, 210))
        _rect(image, 0, 140, W, H, (110, 90, 70))
        frames.append(_disc(image, 40 + t * 14, 120, 20, (40, 90, 200)))
    return np.stack(frames)


def depth_clip():
    import numpy as np

    frames = []
    yy = np.linspace(40, 220, H)[:, None].repeat(W, 1)
    for t in range(FRAMES):
        gray = yy.copy()
        cx = 60 + t * 12
        xx = np.arange(W)[None, :].repeat(H, 0)
        gray[(np.abs(xx - cx) < 18) & (np.arange(H)[:, None] > 70)] = 250
        frames.append(np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2))
    return np.stack(frames)


def main() -> int:
    sys.path.insert(0, str(PACK))
    from unison_runtime import media
    from unison_runtime.facts import FPS

    OUT.mkdir(parents=True, exist_ok=True)
    for name, make in (("unison_bowl.png", bowl), ("unison_photo.png", photo), ("unison_photo_mask.png", photo_mask),
                       ("unison_pose.png", pose), ("unison_subject.png", subject)):
        media.save_png(make(), OUT / name, overwrite=True)
    media.save_mp4(clip(), OUT / "unison_clip.mp4", fps=FPS, overwrite=True)
    media.save_mp4(depth_clip(), OUT / "unison_depth.mp4", fps=FPS, overwrite=True)
    for path in sorted(OUT.iterdir()):
        print(f"{path.relative_to(PACK)}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
