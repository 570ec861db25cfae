"""Small synthetic sample media (no downloads): what the demo and the example workflows feed in.

Each picture is drawn from simple shapes so it is deterministic and tiny, yet has the structure
each task needs (a subject to mask, a stick-figure pose for control, a moving object for video).
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_SIZE = (96, 64)  # width, height
SAMPLE_FRAMES = 9


def _canvas(rgb=(90, 140, 200)):
    import numpy as np

    w, h = SAMPLE_SIZE
    image = np.zeros((h, w, 3), np.uint8)
    image[:] = rgb
    image[h * 2 // 3:] = (70, 120, 60)  # ground
    return image


def _subject(image, cx: int, cy: int, r: int, rgb=(220, 180, 40)):
    import cv2

    cv2.circle(image, (cx, cy), r, rgb, -1)
    return image


def _pose(image, cx: int, cy: int, swing: int = 0):
    """A stick figure in white on black: the look of an OpenPose-style control image."""
    import cv2

    color, t = (255, 255, 255), 2
    cv2.circle(image, (cx, cy - 18), 5, color, t)
    cv2.line(image, (cx, cy - 13), (cx, cy + 6), color, t)
    cv2.line(image, (cx, cy - 8), (cx - 10, cy - 2 + swing), color, t)
    cv2.line(image, (cx, cy - 8), (cx + 10, cy - 2 - swing), color, t)
    cv2.line(image, (cx, cy + 6), (cx - 7, cy + 20), color, t)
    cv2.line(image, (cx, cy + 6), (cx + 7, cy + 20), color, t)
    return image


def write_sample_media(folder: str | Path, overwrite: bool = False) -> dict[str, Path]:
    """Write the sample files into `folder` (existing files are kept unless `overwrite`)."""
    import numpy as np

    from ..media import save_mp4, save_png

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    w, h = SAMPLE_SIZE
    scene = _subject(_canvas(), w // 2, h // 2, 14)
    mask = np.zeros((h, w, 3), np.uint8)
    _subject(mask, w // 2, h // 2, 16, (255, 255, 255))
    character = _subject(np.full((h, w, 3), 255, np.uint8), w // 2, h // 2, 20, (200, 60, 60))
    pose = _pose(np.zeros((h, w, 3), np.uint8), w // 2, h // 2)
    clip = np.stack([_subject(_canvas(), 20 + 7 * t, h // 2, 10) for t in range(SAMPLE_FRAMES)])
    pose_clip = np.stack([_pose(np.zeros((h, w, 3), np.uint8), w // 2, h // 2, swing=(t % 4) * 3 - 4)
                          for t in range(SAMPLE_FRAMES)])
    wanted = {
        "unison_scene.png": (save_png, scene),
        "unison_scene_mask.png": (save_png, mask),
        "unison_character.png": (save_png, character),
        "unison_pose.png": (save_png, pose),
        "unison_clip.mp4": (save_mp4, clip),
        "unison_pose_clip.mp4": (save_mp4, pose_clip),
    }
    written = {}
    for name, (save, pixels) in wanted.items():
        path = folder / name
        if overwrite or not path.exists():
            save(pixels, path, overwrite=overwrite)
        written[name] = path
    return written
