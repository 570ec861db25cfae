"""Salient-object masks from U²-Net (VACE's `salient` annotator, used for video editing without
a given mask). Preprocessing follows the reference: RGB resized to 320×320, ImageNet mean/std;
the fused map d0 is min-max normalised, resized back bilinearly, then thresholded; for a video
only the first frame is looked at and its mask used for every frame, as VACE does."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AnnotatorError, ModelLoadError
from ..models import get_manager, torch_dtype
from ..state_dicts import read_state_dict
from .masks import MaskResult, as_frames

if TYPE_CHECKING:
    import numpy as np

INPUT_SIZE = 320
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
BATCH = 8  # frames per forward pass: bounds activation memory on long videos


def load_u2net(path: str | Path, *, device: str = "auto", dtype: str = "float32", offload_policy: str = "keep"):
    """Load `u2net.pt` (a state dict, optionally under "state_dict" or with "module." prefixes)
    through the model manager (kind "u2net"). U²-Net is small; float32 is the default because
    its batch norms are not trained for half precision."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "u2net.pt"
    if not path.is_file():
        raise ModelLoadError(f"U²-Net weights not found at {path}; expected the file u2net.pt")
    if path.suffix.lower() == ".onnx":  # rembg's format: running it would need onnxruntime, not a dependency
        raise ModelLoadError(f"{path} is rembg's ONNX U²-Net, which this pack cannot run; use the PyTorch "
                             "u2net.pt (ali-vilab/VACE-Annotators salient/u2net.pt) or u2net.pth")

    def loader(device_name: str, dtype_name: str):
        from .u2net import U2Net, infer_width_divisor

        state = read_state_dict(path, strip_ddp=True)
        if "stage1.rebnconvin.conv_s1.weight" not in state:
            raise ModelLoadError(f"{path} is not a U²-Net state dict (no stage1.rebnconvin.conv_s1.weight)")
        model = U2Net(width_divisor=infer_width_divisor(state))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ModelLoadError(
                f"{path} does not match the U²-Net architecture: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        return model.eval().to(device=device_name, dtype=torch_dtype(dtype_name))

    return get_manager().get("u2net", str(path.resolve()), loader, dtype=dtype, device=device,
                             offload_policy=offload_policy)


def _normalised_maps(frames: "np.ndarray", model):
    """U²-Net's fused map d0 at 320×320, min-max normalised per frame: `[T, 1, 320, 320]` float."""
    import torch
    import torch.nn.functional as F

    param = next(model.parameters())
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    maps = []
    with get_manager().use(model), torch.inference_mode():
        for start in range(0, len(frames), BATCH):
            x = torch.from_numpy(frames[start:start + BATCH]).permute(0, 3, 1, 2).float().div(255.0)
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
            x = ((x - mean) / std).to(device=param.device, dtype=param.dtype)
            fused = model(x)[0].float().cpu()
            low = fused.amin(dim=(1, 2, 3), keepdim=True)
            span = (fused.amax(dim=(1, 2, 3), keepdim=True) - low).clamp_min(1e-8)  # a flat map stays 0
            maps.append((fused - low) / span)
    return torch.cat(maps)


def saliency_maps(frames: "np.ndarray", model) -> "np.ndarray":
    """Per-frame saliency `[T, H, W]` float32 in 0..1 (each frame min-max normalised)."""
    import numpy as np
    import torch.nn.functional as F

    frames = as_frames(frames)
    _, h, w, _ = frames.shape
    maps = F.interpolate(_normalised_maps(frames, model), size=(h, w), mode="bilinear", align_corners=False)
    return maps[:, 0].clamp(0, 1).numpy().astype(np.float32)


def salient_mask(frames: "np.ndarray", model, threshold: float = 0.0) -> MaskResult:
    """VACE's salient mask: U²-Net on the first frame only, its normalised map as 8-bit levels
    (truncated) resized bilinearly to the frame size; the region is the levels above
    `threshold` × 255 (VACE: above 0), and that one mask applies to every frame.

    `threshold` 1 or more keeps nothing, reported as `found=False`.
    """
    import cv2
    import numpy as np

    if threshold < 0:
        raise AnnotatorError(f"salient threshold must be >= 0, got {threshold}")
    frames = as_frames(frames)
    t, h, w, _ = frames.shape
    levels = (_normalised_maps(frames[:1], model)[0, 0].numpy() * 255).astype(np.uint8)
    levels = cv2.resize(levels, (w, h))  # cv2's default, bilinear, as VACE
    region = (levels > threshold * 255).astype(np.uint8)
    masks = np.repeat(region[None], t, axis=0)
    if not masks.any():
        return MaskResult(masks, found=False,
                          message=f"no salient pixel above threshold {threshold:g} on the first frame")
    return MaskResult(masks)
