"""Loading Wan2.1-VACE-1.3B (stage two) on diffusers from any of the layouts users bring, through the
model manager (the runtime's own generator backend, `generator.backend`).

Sources (DESIGN §7), combinable; a single file given explicitly wins over a folder (which file plays
which part is `generator.files.resolve_files`, shared with ComfyUI's backend):

- `diffusers_dir`: the `Wan2.1-VACE-1.3B-diffusers` folder (transformer/, vae/, text_encoder/,
  tokenizer/, scheduler/).
- `native_dir`: Wan's native release (`diffusion_pytorch_model.safetensors`, `Wan2.1_VAE.pth`,
  `models_t5_umt5-xxl-enc-bf16.pth`, `google/umt5-xxl/`).
- `transformer_file`, `text_encoder_file`, `vae_file`: single files such as ComfyUI's repackaged
  `wan2.1_vace_1.3B_fp16.safetensors`, `umt5_xxl_fp16.safetensors` /
  `umt5_xxl_fp8_e4m3fn_scaled.safetensors`, `wan_2.1_vae.safetensors`.
- `tokenizer_dir`: a T5 tokenizer folder; without one, the tokenizer comes from the diffusers or
  native folder, else from the `spiece_model` tensor ComfyUI's text-encoder files carry.

Single files are converted with diffusers' own single-file converters, configured from the real
model's config JSONs shipped in `configs/` (nothing is fetched). When a checkpoint's tensor shapes
differ from the shipped 1.3B config (a smaller or larger variant), the differing sizes are read off
the tensors, or from a `config.json` beside the file; a real 1.3B file loads with the shipped config
unchanged. Keys are checked before loading so a missing tensor is named, and a file of the wrong
kind is reported as what it looks like.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from ..facts import ATTENTION_BACKENDS, DEFAULT_OFFLOAD_POLICY  # backends: our names → diffusers'
from ..models import default_device, get_manager, resolve_dtype, torch_dtype
from ..state_dicts import load_errors
from .streaming import load_converted
from .checkpoints import strip_prefix, wan_transformer_key_to_native, wan_vae_key_to_native
from .files import LABELS, check_kind, resolve_files

SHIPPED_CONFIGS = Path(__file__).resolve().parent / "configs"
# The package each non-native backend imports (diffusers falls back or fails only mid-generation).
_BACKEND_PACKAGES = {"flash": ("flash_attn", "flash-attn"), "flash3": ("flash_attn_interface", "flash-attn 3 (Hopper build)"),
                     "sage": ("sageattention", "sageattention")}


@dataclass(eq=False)
class GeneratorModels:
    """The loaded stage-two models. Cached by the model manager; compare by identity."""

    transformer: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    scheduler_config: dict
    attention_backend: str = "native"
    sources: dict = field(default_factory=dict)
    # T5 tokens of negative prompts and VAE latents of all-zero videos: the same every run.
    reuse: dict = field(default_factory=dict, repr=False)

    # Low-VRAM ("sequential") mode: UMT5-XXL (11 GB in bf16) encodes on the CPU; only the
    # transformer and the VAE visit the GPU, one at a time.
    cpu_modules_when_sequential = ("text_encoder",)

    def torch_modules(self) -> dict:
        return {"transformer": self.transformer, "vae": self.vae, "text_encoder": self.text_encoder}

    def working_bytes(self) -> dict:
        """Working memory per module for the default 832×480×81 job (the `auto` policy's sizing)."""
        from .memory import working_bytes

        if ("working_bytes",) not in self.reuse:
            self.reuse[("working_bytes",)] = working_bytes(self)
        return dict(self.reuse[("working_bytes",)])

    @property
    def text_width(self) -> int:
        """Width of the text context (UMT5-XXL: 4096); the projector's output width."""
        return int(self.text_encoder.config.d_model)

    @property
    def vace_layers(self) -> list[int]:
        return list(self.transformer.config.vace_layers)


def load_generator(
    diffusers_dir: str | Path | None = None,
    *,
    native_dir: str | Path | None = None,
    transformer_file: str | Path | None = None,
    text_encoder_file: str | Path | None = None,
    vae_file: str | Path | None = None,
    tokenizer_dir: str | Path | None = None,
    dtype: str = "auto",
    device: str = "auto",
    offload_policy: str = DEFAULT_OFFLOAD_POLICY,
    attention_backend: str = "native",
    compile: bool = False,
) -> GeneratorModels:
    """Load (or fetch from the cache) the generator; a repeated identical call loads nothing.

    `dtype` applies to the transformer and text encoder; the VAE always runs in float32.
    `attention_backend` is applied around each `generate` call ("native" = PyTorch SDPA; "flash",
    "flash3", "sage" need their package, a GPU and a half dtype: checked here, not mid-run).
    `compile` wraps the DiT's repeated blocks in `torch.compile` (the first run pays the compile).
    """
    sources = resolve_files(diffusers_dir, native_dir, transformer_file, text_encoder_file, vae_file, tokenizer_dir)
    resolved = default_device() if device == "auto" else device
    backend = _check_attention_backend(attention_backend, resolved, resolve_dtype(dtype, resolved))

    def loader(load_device: str, dtype_name: str) -> GeneratorModels:
        models = _load_all(sources, load_device, dtype_name, attention_backend)
        if compile:
            compile_blocks(models.transformer)
        return models

    source_key = tuple(f"{role}={kind}:{path}" for role, (kind, path) in sorted(sources.items()))
    return get_manager().get(
        "generator",
        source_key,
        loader,
        dtype=dtype,
        device=device,
        offload_policy=offload_policy,
        options={"attention_backend": backend, "compile": bool(compile)},
        files=[path for _, path in sources.values()],
    )


def compile_blocks(transformer, **compile_options) -> None:
    """`torch.compile` each repeated DiT block in place (diffusers' `compile_repeated_blocks`):
    the blocks share one compiled graph, so compiling costs one block, not thirty."""
    transformer.compile_repeated_blocks(**{"dynamic": False, **compile_options})


def _check_attention_backend(name: str, device: str = "cuda", dtype: str = "bfloat16") -> str:
    """diffusers' name for backend `name`, after checking it can run here (package, GPU, dtype)."""
    if name not in ATTENTION_BACKENDS:
        raise ModelLoadError(f"unknown attention backend {name!r}; allowed: {', '.join(ATTENTION_BACKENDS)}")
    if name in _BACKEND_PACKAGES:
        import importlib.util

        module, package = _BACKEND_PACKAGES[name]
        if importlib.util.find_spec(module) is None:
            raise ModelLoadError(f"attention backend {name!r} needs the {package} package; it is not installed "
                                 "(use 'native')")
        if not device.startswith("cuda"):
            raise ModelLoadError(f"attention backend {name!r} runs on a CUDA GPU only, not on {device!r} (use 'native')")
        if dtype not in ("float16", "bfloat16"):
            raise ModelLoadError(f"attention backend {name!r} needs dtype float16 or bfloat16, not {dtype} "
                                 "(use 'native' for float32)")
    return ATTENTION_BACKENDS[name]


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def _load_all(sources, device: str, dtype_name: str, attention_backend: str) -> GeneratorModels:
    dtype = torch_dtype(dtype_name)
    with load_errors("transformer", sources["transformer"][1]):
        transformer = _load_transformer(*sources["transformer"], dtype).to(device).eval()
    with load_errors("VAE", sources["vae"][1]):
        vae = _load_vae(*sources["vae"]).to(device).eval()
    with load_errors("text encoder", sources["text_encoder"][1]):
        text_encoder = _load_text_encoder(*sources["text_encoder"], dtype).to(device).eval()
    with load_errors("tokenizer", sources["tokenizer"][1]):
        tokenizer = _load_tokenizer(*sources["tokenizer"])
    with load_errors("scheduler config", sources.get("scheduler", (None, "the shipped config"))[1]):
        scheduler_config = _scheduler_config(sources.get("scheduler"))
    if text_encoder.config.d_model != transformer.config.text_dim:
        raise ModelLoadError(
            f"the text encoder's width {text_encoder.config.d_model} does not match the transformer's "
            f"text_dim {transformer.config.text_dim}: these files belong to different models"
        )
    return GeneratorModels(
        transformer=transformer,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler_config=scheduler_config,
        attention_backend=ATTENTION_BACKENDS[attention_backend],
        sources={role: str(path) for role, (_, path) in sources.items()},
    )


def _check_keys(role: str, path: Path, have: set[str], expected: set[str]) -> None:
    missing = sorted(expected - have)
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise ModelLoadError(
            f"{path.name} is missing {len(missing)} {LABELS[role]} tensor(s): {shown} "
            "(an incomplete or truncated checkpoint?)"
        )


def _shipped_config(name: str) -> dict:
    folder = SHIPPED_CONFIGS / name
    file = folder / ("scheduler_config.json" if name == "scheduler" else "config.json")
    return json.loads(file.read_text())


def _keep_fp32(model, dtype) -> None:
    """Match `from_pretrained`: modules diffusers keeps in fp32 stay fp32 under a half dtype."""
    import torch

    keep = getattr(model, "_keep_in_fp32_modules", None) or []
    if dtype == torch.float32 or not keep:
        return
    for name, module in model.named_modules():
        if any(part in name.split(".") for part in keep):
            module.to(torch.float32)
    for name, param in model.named_parameters():
        if name.split(".")[-1] in keep or name in keep:
            param.data = param.data.float()


def _meta_keys(cls, config: dict) -> set[str]:
    import torch

    with torch.device("meta"):
        model = cls.from_config(config)
    return set(model.state_dict())


# -- transformer --------------------------------------------------------------------------------
def _load_transformer(kind: str, path: Path, dtype):
    from diffusers import WanVACETransformer3DModel

    if kind == "diffusers":
        try:
            model = WanVACETransformer3DModel.from_pretrained(str(path), torch_dtype=dtype, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the transformer from {path}: {exc}") from exc
        return model
    state = {strip_prefix(k): v for k, v in load_converted(path, dtype).items()}  # streamed, in `dtype`
    check_kind("transformer", path, state)
    shipped = _shipped_config("transformer")
    overrides = _transformer_overrides(state, path, shipped)
    config = {**shipped, **overrides}
    expected = {wan_transformer_key_to_native(k) for k in _meta_keys(WanVACETransformer3DModel, config)}
    _check_keys("transformer", path, set(state), expected)
    model = WanVACETransformer3DModel.from_single_file(
        state,
        config=str(SHIPPED_CONFIGS),
        subfolder="transformer",
        local_files_only=True,
        torch_dtype=dtype,
        **overrides,
    )
    _keep_fp32(model, dtype)
    return model


_SIZE_KEYS = ("patch_embedding.weight", "head.head.weight", "vace_patch_embedding.weight",
              "text_embedding.0.weight", "time_embedding.0.weight", "blocks.0.ffn.0.weight",
              "vace_blocks.0.after_proj.weight")


def _transformer_overrides(state: dict, path: Path, shipped: dict) -> dict:
    """Config values that differ from the shipped 1.3B config, from a config.json or the tensors."""
    _check_keys("transformer", path, set(state), set(_SIZE_KEYS))  # read below, before the full check
    beside = _config_beside(path)
    pe = state["patch_embedding.weight"].shape
    inner = pe[0]
    num_layers = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k)))
    num_vace = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"vace_blocks\.(\d+)\.", k)))
    derived = {
        "in_channels": pe[1],
        "patch_size": list(pe[2:]),
        "out_channels": state["head.head.weight"].shape[0] // (pe[2] * pe[3] * pe[4]),
        "vace_in_channels": state["vace_patch_embedding.weight"].shape[1],
        "text_dim": state["text_embedding.0.weight"].shape[1],
        "freq_dim": state["time_embedding.0.weight"].shape[1],
        "ffn_dim": state["blocks.0.ffn.0.weight"].shape[0],
        "num_layers": num_layers,
    }
    if "num_heads" in beside or "num_attention_heads" in beside:
        heads = int(beside.get("num_heads", beside.get("num_attention_heads")))
    else:  # every released Wan model uses 128-wide heads
        if inner % shipped["attention_head_dim"]:
            raise ModelLoadError(
                f"{path.name}: cannot infer the head count of a {inner}-wide transformer; put its config.json beside it"
            )
        heads = inner // shipped["attention_head_dim"]
    derived["num_attention_heads"] = heads
    derived["attention_head_dim"] = inner // heads
    if "vace_layers" in beside:
        derived["vace_layers"] = list(beside["vace_layers"])
    elif num_layers == shipped["num_layers"] and num_vace == len(shipped["vace_layers"]):
        derived["vace_layers"] = list(shipped["vace_layers"])
    else:  # Wan's releases space the VACE blocks evenly from layer 0
        derived["vace_layers"] = list(range(0, num_layers, max(1, num_layers // num_vace)))[:num_vace]
    if len(derived["vace_layers"]) != num_vace:
        raise ModelLoadError(
            f"{path.name} has {num_vace} VACE blocks but its config lists vace_layers {derived['vace_layers']}"
        )
    return {k: v for k, v in derived.items() if shipped.get(k) != v}


def _config_beside(path: Path) -> dict:
    """A Wan config.json next to a single file (native or diffusers field names), else {}."""
    file = path.parent / "config.json"
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or not ("vace_layers" in data or "num_heads" in data or "num_attention_heads" in data):
        return {}
    return data


# -- VAE ----------------------------------------------------------------------------------------
def _load_vae(kind: str, path: Path):
    import torch
    from diffusers import AutoencoderKLWan

    if kind == "diffusers":
        try:
            return AutoencoderKLWan.from_pretrained(str(path), torch_dtype=torch.float32, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the VAE from {path}: {exc}") from exc
    state = {strip_prefix(k): v for k, v in load_converted(path, torch.float32).items()}
    check_kind("vae", path, state)
    shipped = _shipped_config("vae")
    if "encoder.conv1.weight" not in state or "conv2.weight" not in state:
        _check_keys("vae", path, set(state), {"encoder.conv1.weight", "conv2.weight"})
    derived = {"base_dim": state["encoder.conv1.weight"].shape[0], "z_dim": state["conv2.weight"].shape[0]}
    overrides = {k: v for k, v in derived.items() if shipped.get(k) != v}
    expected = {wan_vae_key_to_native(k) for k in _meta_keys(AutoencoderKLWan, {**shipped, **overrides})}
    _check_keys("vae", path, set(state), expected)
    return AutoencoderKLWan.from_single_file(
        state,
        config=str(SHIPPED_CONFIGS),
        subfolder="vae",
        local_files_only=True,
        torch_dtype=torch.float32,
        **overrides,
    )


# -- text encoder -------------------------------------------------------------------------------
def _load_text_encoder(kind: str, path: Path, dtype):
    import torch
    from transformers import UMT5Config, UMT5EncoderModel

    from .native_t5 import native_to_hf, umt5_config_from_hf_state_dict

    if kind == "diffusers":
        try:
            return UMT5EncoderModel.from_pretrained(str(path), dtype=dtype, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the text encoder from {path}: {exc}") from exc
    state = load_converted(path, dtype)  # streamed, scaled fp8 dequantised, in `dtype`
    found = check_kind("text_encoder", path, state)
    state.pop("spiece_model", None)
    if found == "umt5_encoder_native":
        state, unknown = native_to_hf(state)
    else:
        if "shared.weight" not in state and "encoder.embed_tokens.weight" in state:
            state["shared.weight"] = state["encoder.embed_tokens.weight"]
        if "shared.weight" in state:
            state["encoder.embed_tokens.weight"] = state["shared.weight"]
    needed = {"shared.weight", "encoder.block.0.layer.0.SelfAttention.q.weight",
              "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
              "encoder.block.0.layer.1.DenseReluDense.wi_0.weight"}
    if not needed <= set(state):
        _check_keys("text_encoder", path, set(state), needed)
    config = UMT5Config(**umt5_config_from_hf_state_dict(state, _shipped_config("text_encoder")))
    with torch.device("meta"):
        model = UMT5EncoderModel(config)
    _check_keys("text_encoder", path, set(state), set(model.state_dict()))
    model.load_state_dict({k: v.to(dtype) for k, v in state.items() if k in model.state_dict()}, assign=True)
    del state
    if model.encoder.embed_tokens.weight.is_meta:  # tied embedding not materialised by assign
        model.encoder.embed_tokens = model.shared
    return model


# -- tokenizer and scheduler ---------------------------------------------------------------------
def _load_tokenizer(kind: str, path: Path):
    from transformers import AutoTokenizer, T5Tokenizer

    if kind in ("diffusers", "dir"):
        try:
            return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load a tokenizer from {path}: {exc}") from exc
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        spiece = f.get_tensor("spiece_model").numpy().tobytes()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "spiece.model").write_bytes(spiece)
        (Path(tmp) / "tokenizer_config.json").write_text(json.dumps({"extra_ids": 0, "model_max_length": 512}))
        try:
            return T5Tokenizer.from_pretrained(tmp, local_files_only=True)
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"the spiece_model in {path.name} is not a usable sentencepiece model: {exc}") from exc


def _scheduler_config(source) -> dict:
    if source is not None:
        file = source[1] / "scheduler_config.json"
        if file.is_file():
            return json.loads(file.read_text())
    return _shipped_config("scheduler")
