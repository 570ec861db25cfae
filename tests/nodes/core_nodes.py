"""Stand-ins for the few core ComfyUI nodes the example workflows use, with the same node IDs,
input names, widget order and output types as ComfyUI 0.8.0 (LoadImage, LoadImageMask,
SaveImage, PreviewAny, CreateVideo, SaveVideo, LoadVideo). They let the test executor run the shipped
API workflows without ComfyUI; the real nodes are exercised by the COMFYUI_DIR tests."""

from __future__ import annotations

import os


def _input_files() -> list[str]:
    from nodes import comfy_glue

    folder = comfy_glue.input_dir()
    return sorted(f for f in os.listdir(folder) if os.path.isfile(os.path.join(folder, f))) if folder.is_dir() else []


def _image_tensor(name: str):
    import numpy as np
    import torch
    from PIL import Image

    from nodes import comfy_glue

    image = Image.open(comfy_glue.input_dir() / name).convert("RGB")
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)[None]


class LoadImage:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (_input_files(), {"image_upload": True})}}

    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load_image"

    def load_image(self, image):
        import torch

        tensor = _image_tensor(image)
        return (tensor, torch.zeros(1, tensor.shape[1], tensor.shape[2]))


class LoadImageMask:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (_input_files(), {"image_upload": True}),
                             "channel": (["alpha", "red", "green", "blue"],)}}

    RETURN_TYPES = ("MASK",)
    FUNCTION = "load_image"

    def load_image(self, image, channel):
        index = {"red": 0, "green": 1, "blue": 2}.get(channel, 0)
        return (_image_tensor(image)[..., index],)


class SaveImage:
    saved: list = []

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "ComfyUI"})}}

    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True

    def save_images(self, images, filename_prefix):
        assert images.ndim == 4 and images.shape[-1] == 3, images.shape
        SaveImage.saved.append(images)
        return {"ui": {"images": [{"filename": f"{filename_prefix}_{i:05}.png"} for i in range(images.shape[0])]}}


class PreviewAny:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"source": ("*", {})}}

    RETURN_TYPES = ()
    FUNCTION = "main"
    OUTPUT_NODE = True

    def main(self, source=None):
        return {"ui": {"text": (source if isinstance(source, str) else str(source),)}}


class FakeVideo:
    def __init__(self, images, fps):
        self.images, self.fps = images, fps


class CreateVideo:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",), "fps": ("FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0})},
                "optional": {"audio": ("AUDIO",)}}

    RETURN_TYPES = ("VIDEO",)
    FUNCTION = "execute"

    def execute(self, images, fps, audio=None):
        assert images.ndim == 4 and images.shape[-1] == 3, images.shape
        return (FakeVideo(images, fps),)


class SaveVideo:
    saved: list = []

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"video": ("VIDEO",), "filename_prefix": ("STRING", {"default": "video/ComfyUI"}),
                             "format": (["auto", "mp4"],), "codec": (["auto", "h264"],)}}

    RETURN_TYPES = ()
    FUNCTION = "execute"
    OUTPUT_NODE = True

    def execute(self, video, filename_prefix, format, codec):
        SaveVideo.saved.append(video)
        return {"ui": {"images": [{"filename": f"{filename_prefix}_00001.mp4"}], "animated": (True,)}}


class LoadVideo:
    """A file of the input folder as a VIDEO whose get_components() gives its frames and frame rate."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"file": (_input_files(), {"video_upload": True})}}

    RETURN_TYPES = ("VIDEO",)
    FUNCTION = "execute"

    def execute(self, file):
        import torch

        from nodes import comfy_glue
        from nodes.native import StandInVideo
        from unison_runtime.media import load_video, video_fps

        path = comfy_glue.input_dir() / file
        return (StandInVideo(torch.from_numpy(load_video(path)).float() / 255.0, video_fps(path)),)


CORE_NODE_CLASSES = {cls.__name__: cls for cls in (LoadImage, LoadImageMask, SaveImage, PreviewAny, CreateVideo, SaveVideo,
                                                   LoadVideo)}
