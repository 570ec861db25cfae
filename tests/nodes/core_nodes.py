"""Stand-ins for the few core ComfyUI nodes the example workflows use, with the same node IDs,
input names, widget order and output types as ComfyUI 0.8.0 (LoadImage, LoadImageMask,
SaveImage, PreviewAny, CreateVideo, SaveVideo, LoadVideo, UNETLoader, CLIPLoader, VAELoader). They
let the test executor run the shipped API workflows without ComfyUI; the real nodes are exercised by
the COMFYUI_DIR tests.

Outside ComfyUI there is no ComfyUI to load Wan VACE with: the loader stand-ins hand on the file they
name (`CoreFile`), and `StandInHostBackend`, registered as the runtime's host backend for the tests
that run these graphs (`host_backend` fixture), adopts those files as ComfyUI's backend adopts its
MODEL / VAE / CLIP, and runs them on our diffusers generator (the real tiny models, not a stub)."""

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


class CoreFile:
    """What a core loader stand-in outputs: the model file it names (ComfyUI's would load it)."""

    def __init__(self, folder: str, name: str):
        import folder_paths

        self.path = folder_paths.get_full_path(folder, name)
        assert self.path is not None, f"{name} is not in {folder}"


def _files(folder: str) -> list[str]:
    import folder_paths

    return folder_paths.get_filename_list(folder)


class UNETLoader:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"unet_name": (_files("diffusion_models"),),
                             "weight_dtype": (["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"],)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load_unet"

    def load_unet(self, unet_name, weight_dtype):
        return (CoreFile("diffusion_models", unet_name),)


class CLIPLoader:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip_name": (_files("text_encoders"),), "type": (["stable_diffusion", "wan"],)},
                "optional": {"device": (["default", "cpu"],)}}

    RETURN_TYPES = ("CLIP",)
    FUNCTION = "load_clip"

    def load_clip(self, clip_name, type="stable_diffusion", device="default"):
        assert type == "wan", type
        return (CoreFile("text_encoders", clip_name),)


class VAELoader:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"vae_name": (_files("vae"),)}}

    RETURN_TYPES = ("VAE",)
    FUNCTION = "load_vae"

    def load_vae(self, vae_name):
        return (CoreFile("vae", vae_name),)


def stand_in_host_backend():
    """The runtime's host backend for graphs of these stand-ins (see the module doc)."""
    from unison_runtime.generator.backend import DiffusersBackend
    from unison_runtime.sources import GeneratorSource

    class StandInHostBackend(DiffusersBackend):
        name = "ComfyUI (test stand-in)"

        def adopt(self, model, vae, clip):
            assert all(isinstance(v, CoreFile) for v in (model, vae, clip))
            return self.load(GeneratorSource(transformer_file=model.path, text_encoder_file=clip.path,
                                             vae_file=vae.path))

    return StandInHostBackend()


CORE_NODE_CLASSES = {cls.__name__: cls for cls in (LoadImage, LoadImageMask, SaveImage, PreviewAny, CreateVideo, SaveVideo,
                                                   LoadVideo, UNETLoader, CLIPLoader, VAELoader)}
