"""Original-release SAM2 and GroundingDINO checkpoints, converted in memory to the transformers
models the annotators run (`Sam2VideoModel`, `GroundingDinoForObjectDetection`).

- SAM2: facebookresearch's `sam2[.1]_hiera_*.pt` (`{"model": state_dict}`) or kijai's
  `.safetensors` of the same keys. The size (tiny / small / base_plus / large) is read from the
  weights, SAM2 vs SAM2.1 from the presence of `no_obj_embed_spatial`. A checkpoint of another
  size needs its transformers config beside it as `<file stem>.json`.
- GroundingDINO: IDEA-Research's `groundingdino_*.pth` plus its config `.py` (read with
  `ast.literal_eval`, never executed) or `.json`; the BERT text encoder's config and tokenizer come
  from a `bert-base-uncased` folder (storyicon's `models/bert-base-uncased`) or the HF cache.

Key names follow transformers' conversion scripts (`convert_sam2_video_to_hf.py`,
`convert_grounding_dino_to_hf.py`), written here as reversible (original, transformers) pairs so
the same table also writes original-format files from a transformers model (`to_original_*`,
used by `make-demo-models`).
"""

from __future__ import annotations

import ast
import json
import logging
import re
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from ..models import get_manager, torch_dtype
from ..state_dicts import read_state_dict

log = logging.getLogger(__name__)


# -- reversible renaming ----------------------------------------------------------------------------
def _pattern(template: str) -> tuple[str, str]:
    """(regex, replacement) for a template where `{0}`, `{1}` stand for layer numbers and a
    leading `^` anchors at the start of the key."""
    anchored = template.startswith("^")
    body = template[1:] if anchored else template
    regex = ("^" if anchored else "") + re.sub(r"\\\{(\d)\\\}", r"(?P<n\1>\\d+)", re.escape(body))
    replacement = re.sub(r"\{(\d)\}", r"\\g<n\1>", body)
    return regex, replacement


def _rename(key: str, rules, inverse: bool) -> str:
    """Apply every (original, transformers) rule in order (or the reverse rules in reverse order)."""
    for original, converted in (reversed(rules) if inverse else rules):
        source, target = (converted, original) if inverse else (original, converted)
        regex, _ = _pattern(source)
        _, replacement = _pattern(target)
        key = re.sub(regex, replacement, key, count=1)
    return key


def _chain(prefix: str) -> list[tuple[str, str]]:
    """A 3-layer MLP whose `layers.0/1/2` became `proj_in / layers.0 / proj_out` (order matters)."""
    return [(f"{prefix}layers.0.", f"{prefix}proj_in."), (f"{prefix}layers.1.", f"{prefix}layers.0."),
            (f"{prefix}layers.2.", f"{prefix}proj_out.")]


# -- SAM2 ---------------------------------------------------------------------------------------------
# Generic renames first, specific ones after: the inverse runs them in reverse order.
SAM2_RULES = [
    (".norm", ".layer_norm"),
    ("out_proj.", "o_proj."),
    ("^image_encoder.trunk.", "vision_encoder.backbone."),
    ("^image_encoder.neck.", "vision_encoder.neck."),
    ("vision_encoder.neck.convs.{0}.conv.", "vision_encoder.neck.convs.{0}."),
    ("backbone.patch_embed.proj.", "backbone.patch_embed.projection."),
    ("backbone.blocks.{0}.mlp.layers.0.", "backbone.blocks.{0}.mlp.proj_in."),
    ("backbone.blocks.{0}.mlp.layers.1.", "backbone.blocks.{0}.mlp.proj_out."),
    ("^sam_prompt_encoder.", "prompt_encoder."),
    ("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
     "prompt_encoder.shared_embedding.positional_embedding"),
    ("prompt_encoder.mask_downscaling.0.", "prompt_encoder.mask_embed.conv1."),
    ("prompt_encoder.mask_downscaling.1.", "prompt_encoder.mask_embed.layer_norm1."),
    ("prompt_encoder.mask_downscaling.3.", "prompt_encoder.mask_embed.conv2."),
    ("prompt_encoder.mask_downscaling.4.", "prompt_encoder.mask_embed.layer_norm2."),
    ("prompt_encoder.mask_downscaling.6.", "prompt_encoder.mask_embed.conv3."),
    ("^sam_mask_decoder.", "mask_decoder."),
    ("mask_decoder.output_upscaling.0.", "mask_decoder.upscale_conv1."),
    ("mask_decoder.output_upscaling.1.", "mask_decoder.upscale_layer_norm."),
    ("mask_decoder.output_upscaling.3.", "mask_decoder.upscale_conv2."),
    ("transformer.layers.{0}.mlp.layers.0.", "transformer.layers.{0}.mlp.proj_in."),
    ("transformer.layers.{0}.mlp.layers.1.", "transformer.layers.{0}.mlp.proj_out."),
    *_chain("iou_prediction_head."),
    *_chain("pred_obj_score_head."),
    *_chain("output_hypernetworks_mlps.{1}."),
    ("memory_encoder.fuser.", "memory_encoder.memory_fuser."),
    (".dwconv.", ".depthwise_conv."),
    (".pwconv{0}.", ".pointwise_conv{0}."),
    (".gamma", ".scale"),
    ("memory_encoder.pix_feat_proj.", "memory_encoder.feature_projection."),
    ("memory_encoder.o_proj.", "memory_encoder.projection."),
    ("^maskmem_tpos_enc", "memory_temporal_positional_encoding"),
    ("^no_mem_embed", "no_memory_embedding"),
    ("^no_mem_pos_enc", "no_memory_positional_encoding"),
    ("^no_obj_ptr", "no_object_pointer"),
    ("^no_obj_embed_spatial", "occlusion_spatial_embedding_parameter"),
    ("^obj_ptr_tpos_proj.", "temporal_positional_encoding_projection_layer."),
    ("^obj_ptr_proj.", "object_pointer_proj."),
    *_chain("^object_pointer_proj."),
]
_POINTS = re.compile(r"^prompt_encoder\.point_embeddings\.(\d+)\.weight$")
_DOWNSAMPLER = re.compile(r"^memory_encoder\.mask_downsampler\.encoder\.(\d+)\.(.+)$")
_DOWNSAMPLER_HF = re.compile(r"^memory_encoder\.mask_downsampler\.(?:layers\.(\d+)\.(conv|layer_norm)|final_conv)\.(.+)$")
SHARED_POSITIONS = ("shared_image_embedding.positional_embedding", "prompt_encoder.shared_embedding.positional_embedding")

# (embed dim, blocks) of the released Hiera trunks -> the transformers sizes that differ from tiny's
# (the values of transformers' conversion script).
SAM2_SIZES = {
    (96, 12): ("tiny", {}, {}),
    (96, 16): ("small", {"blocks_per_stage": [1, 2, 11, 2], "global_attention_blocks": [7, 10, 13]}, {}),
    (112, 24): ("base_plus", {
        "hidden_size": 112, "embed_dim_per_stage": [112, 224, 448, 896], "num_attention_heads_per_stage": [2, 4, 8, 16],
        "blocks_per_stage": [2, 3, 16, 3], "global_attention_blocks": [12, 16, 20],
        "window_positional_embedding_background_size": [14, 14]}, {"backbone_channel_list": [896, 448, 224, 112]}),
    (144, 48): ("large", {
        "hidden_size": 144, "embed_dim_per_stage": [144, 288, 576, 1152], "num_attention_heads_per_stage": [2, 4, 8, 16],
        "blocks_per_stage": [2, 6, 36, 4], "global_attention_blocks": [23, 33, 43],
        "window_positional_embedding_background_size": [7, 7], "window_size_per_stage": [8, 4, 16, 8]},
        {"backbone_channel_list": [1152, 576, 288, 144]}),
}


def sam2_to_transformers(state: dict) -> dict:
    """Original SAM2 key names (and tensor layout) -> `Sam2VideoModel`'s."""
    import torch

    out, points = {}, {}
    downsampler = [int(m.group(1)) for k in state if (m := _DOWNSAMPLER.match(k))]
    final = max(downsampler, default=-1)
    for key, value in state.items():
        key = _rename(key, SAM2_RULES, inverse=False)
        if (m := _POINTS.match(key)) is not None:
            points[int(m.group(1))] = value
            continue
        if (m := _DOWNSAMPLER.match(key)) is not None:
            index, rest = int(m.group(1)), m.group(2)
            part = "final_conv" if index == final else f"layers.{index // 3}.{('conv', 'layer_norm')[index % 3]}"
            key = f"memory_encoder.mask_downsampler.{part}.{rest}"
        out[key] = value
    if points:
        out["prompt_encoder.point_embed.weight"] = torch.cat([points[i] for i in sorted(points)], dim=0)
    if SHARED_POSITIONS[1] in out:
        out[SHARED_POSITIONS[0]] = out[SHARED_POSITIONS[1]]
    return out


def sam2_to_original(state: dict) -> dict:
    """`Sam2VideoModel` key names -> the original release's (the inverse of `sam2_to_transformers`)."""
    layers = [int(m.group(1)) for k in state if (m := _DOWNSAMPLER_HF.match(k)) and m.group(1) is not None]
    final = 3 * (max(layers, default=-1) + 1)
    out = {}
    for key, value in state.items():
        if key == SHARED_POSITIONS[0]:  # the release keeps one copy, the prompt encoder's
            if SHARED_POSITIONS[1] in state:
                continue
            key = SHARED_POSITIONS[1]  # transformers 4.5x saves the shared module once, under this name
        if key == "prompt_encoder.point_embed.weight":
            for i in range(value.shape[0]):
                out[_rename(f"prompt_encoder.point_embeddings.{i}.weight", SAM2_RULES, inverse=True)] = value[i:i + 1].clone()
            continue
        if (m := _DOWNSAMPLER_HF.match(key)) is not None:
            index = final if m.group(1) is None else 3 * int(m.group(1)) + (m.group(2) == "layer_norm")
            key = f"memory_encoder.mask_downsampler.encoder.{index}.{m.group(3)}"
        out[_rename(key, SAM2_RULES, inverse=True)] = value
    return out


def sam2_config(path: Path, state: dict):
    """The `Sam2VideoConfig` of an original checkpoint: `<stem>.json` beside it, else its size."""
    from transformers import Sam2HieraDetConfig, Sam2VideoConfig, Sam2VisionConfig

    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        try:
            return Sam2VideoConfig.from_dict(json.loads(sidecar.read_text()))
        except (ValueError, TypeError) as err:
            raise ModelLoadError(f"{sidecar} is not a transformers Sam2VideoConfig ({err})") from err
    pos = state.get("image_encoder.trunk.pos_embed")
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"image_encoder\.trunk\.blocks\.(\d+)\.", k))}
    signature = (int(pos.shape[1]) if pos is not None else 0, len(blocks))
    if signature not in SAM2_SIZES:
        known = ", ".join(f"{name} (dim {d}, {n} blocks)" for (d, n), (name, *_r) in SAM2_SIZES.items())
        raise ModelLoadError(
            f"{path}: a SAM2 trunk of dim {signature[0]} with {signature[1]} blocks is not a released size "
            f"({known}); put its transformers config beside it as {sidecar.name}")
    _, hiera, vision = SAM2_SIZES[signature]
    # SAM2.1 adds an occlusion embedding and a time encoding of object pointers: read them off the weights.
    return Sam2VideoConfig(
        vision_config=Sam2VisionConfig(backbone_config=Sam2HieraDetConfig(**hiera), **vision),
        enable_temporal_pos_encoding_for_object_pointers="obj_ptr_tpos_proj.weight" in state,
        enable_occlusion_spatial_embedding="no_obj_embed_spatial" in state)


def sam2_image_processor(size: int):
    """SAM2's image processor for `size`-pixel inputs (masks at the Hiera stride, size / 4)."""
    import transformers

    # transformers 4.x has only the torchvision-backed ("Fast") class; 5.x drops the suffix.
    cls = getattr(transformers, "Sam2ImageProcessor", None) or transformers.Sam2ImageProcessorFast
    return cls(size={"height": size, "width": size}, mask_size={"height": size // 4, "width": size // 4})


def load_original_sam2(path: str | Path, *, device: str = "auto", dtype: str = "float32",
                       offload_policy: str = "keep"):
    """A `Segmenter` (video model) from an original SAM2 checkpoint file, through the model manager."""
    from .loaded import Segmenter

    path = Path(path).expanduser()

    def loader(device_name: str, dtype_name: str):
        import transformers

        state = read_state_dict(path)
        config = sam2_config(path, state)
        model = _from_state_dict(transformers.Sam2VideoModel, config, sam2_to_transformers(state), path, "SAM2",
                                 dtype_name)
        size = config.image_size
        processor = transformers.Sam2VideoProcessor(
            image_processor=sam2_image_processor(size),
            video_processor=transformers.Sam2VideoVideoProcessor(size={"height": size, "width": size}))
        return Segmenter(model.eval().to(device_name), processor, True)

    return get_manager().get("sam2", str(path.resolve()), loader, dtype=dtype, device=device,
                             offload_policy=offload_policy, options={"video": True, "original": True})


# -- GroundingDINO ------------------------------------------------------------------------------------
_SWIN = "model.backbone.conv_encoder.model."
GDINO_RULES = [
    ("^backbone.0.patch_embed.proj.", _SWIN + "embeddings.patch_embeddings.projection."),
    ("^backbone.0.patch_embed.norm.", _SWIN + "embeddings.norm."),
    *[(f"^backbone.0.norm{i}.", f"{_SWIN}hidden_states_norms.stage{i + 1}.") for i in (1, 2, 3)],
    ("^backbone.0.layers.{0}.", _SWIN + "encoder.layers.{0}."),
    ("blocks.{0}.norm1.", "blocks.{0}.layernorm_before."),
    ("blocks.{0}.norm2.", "blocks.{0}.layernorm_after."),
    ("blocks.{0}.attn.relative_position_bias_table", "blocks.{0}.attention.self.relative_position_bias_table"),
    ("blocks.{0}.attn.qkv.", "blocks.{0}.attention.self.qkv."),
    ("blocks.{0}.attn.proj.", "blocks.{0}.attention.output.dense."),
    ("blocks.{0}.mlp.fc1.", "blocks.{0}.intermediate.dense."),
    ("blocks.{0}.mlp.fc2.", "blocks.{0}.output.dense."),
    ("^transformer.encoder.layers.{0}.", "model.encoder.layers.{0}.deformable_layer."),
    ("deformable_layer.norm1.", "deformable_layer.self_attn_layer_norm."),
    ("deformable_layer.norm2.", "deformable_layer.final_layer_norm."),
    ("deformable_layer.linear1.", "deformable_layer.fc1."),
    ("deformable_layer.linear2.", "deformable_layer.fc2."),
    ("^transformer.encoder.text_layers.{0}.", "model.encoder.layers.{0}.text_enhancer_layer."),
    ("text_enhancer_layer.norm1.", "text_enhancer_layer.layer_norm_before."),
    ("text_enhancer_layer.norm2.", "text_enhancer_layer.layer_norm_after."),
    ("text_enhancer_layer.linear1.", "text_enhancer_layer.fc1."),
    ("text_enhancer_layer.linear2.", "text_enhancer_layer.fc2."),
    ("^transformer.encoder.fusion_layers.{0}.", "model.encoder.layers.{0}.fusion_layer."),
    ("fusion_layer.gamma_v", "fusion_layer.vision_param"),
    ("fusion_layer.gamma_l", "fusion_layer.text_param"),
    ("fusion_layer.layer_norm_v.", "fusion_layer.layer_norm_vision."),
    ("fusion_layer.layer_norm_l.", "fusion_layer.layer_norm_text."),
    *[(f"fusion_layer.attn.{o}.", f"fusion_layer.attn.{c}.") for o, c in (
        ("v_proj", "vision_proj"), ("l_proj", "text_proj"), ("values_v_proj", "values_vision_proj"),
        ("values_l_proj", "values_text_proj"), ("out_v_proj", "out_vision_proj"), ("out_l_proj", "out_text_proj"))],
    ("^transformer.decoder.layers.{0}.", "model.decoder.layers.{0}."),
    *[(f"decoder.layers.{{0}}.{o}", f"decoder.layers.{{0}}.{c}") for o, c in (
        ("cross_attn.", "encoder_attn."), ("norm1.", "encoder_attn_layer_norm."), ("ca_text.", "encoder_attn_text."),
        ("catext_norm.", "encoder_attn_text_layer_norm."), ("norm2.", "self_attn_layer_norm."),
        ("linear1.", "fc1."), ("linear2.", "fc2."), ("norm3.", "final_layer_norm."))],
    ("^transformer.decoder.ref_point_head.", "model.decoder.reference_points_head."),
    ("^transformer.decoder.bbox_embed.", "model.decoder.bbox_embed."),
    ("^transformer.decoder.norm.", "model.decoder.layer_norm."),
    ("^transformer.enc_output.", "model.enc_output."),
    ("^transformer.enc_output_norm.", "model.enc_output_norm."),
    ("^transformer.enc_out_bbox_embed.", "model.encoder_output_bbox_embed."),
    ("^transformer.level_embed", "model.level_embed"),
    ("^transformer.tgt_embed.", "model.query_position_embeddings."),
    ("^bert.", "model.text_backbone."),
    ("^input_proj.", "model.input_proj_vision."),
    ("^feat_map.", "model.text_projection."),
]
_FUSED = re.compile(r"^(.*)\.(?:qkv\.|in_proj_)(weight|bias)$")
_SPLIT_IN_PROJ = re.compile(
    r"^(model\.(?:encoder\.layers\.\d+\.text_enhancer_layer\.self_attn|decoder\.layers\.\d+\.(?:self_attn|encoder_attn_text)))"
    r"\.(query|key|value)\.(weight|bias)$")
_SPLIT_QKV = re.compile(r"^(model\.backbone\..*\.blocks\.\d+\.attention\.self)\.(query|key|value)\.(weight|bias)$")
# In the original file but not the transformers model: buffers, BERT's unused pooler, parameter-free heads.
# The decoder's box heads are the top-level `bbox_embed` (shared), so their second copy is dropped too.
GDINO_IGNORED = (re.compile(r"relative_position_index$|attn_mask$|position_ids$|^bert\.pooler\.|^label_enc\."
                            r"|^transformer\.decoder\.bbox_embed\."),)
# In the transformers model but not taken from the original: the Swin classification head's norm
# (unused for detection) and the relative position indices (computed from the window size; transformers
# 4.5x keeps them as saved buffers).
GDINO_UNUSED = ("swin.layernorm.", "relative_position_index")
GDINO_QKV = ("query", "key", "value")


def grounding_dino_to_transformers(state: dict) -> dict:
    """Original GroundingDINO key names -> `GroundingDinoForObjectDetection`'s (fused q/k/v split)."""
    out = {}
    for key, value in state.items():
        key = key[len("module."):] if key.startswith("module.") else key
        if any(p.search(key) for p in GDINO_IGNORED):
            continue
        key = _rename(key, GDINO_RULES, inverse=False)
        if (m := _FUSED.match(key)) is not None:
            for name, part in zip(GDINO_QKV, value.chunk(3, dim=0)):
                out[f"{m.group(1)}.{name}.{m.group(2)}"] = part.clone()
            continue
        out[key] = value
    return out


def grounding_dino_to_original(state: dict) -> dict:
    """`GroundingDinoForObjectDetection` key names -> the original release's, `module.` prefixed as
    IDEA-Research's checkpoints are."""
    import torch

    out, fused = {}, {}
    for key, value in state.items():
        if any(u in key for u in GDINO_UNUSED):
            continue
        m = _SPLIT_IN_PROJ.match(key) or _SPLIT_QKV.match(key)
        if m is not None:
            suffix = f".qkv.{m.group(3)}" if m.re is _SPLIT_QKV else f".in_proj_{m.group(3)}"
            fused.setdefault(m.group(1) + suffix, {})[m.group(2)] = value
            continue
        out[key] = value
    for key, parts in fused.items():
        out[key] = torch.cat([parts[n] for n in GDINO_QKV], dim=0)
    original = {_rename(k, GDINO_RULES, inverse=True): v for k, v in out.items()}
    for key in [k for k in original if k.startswith("bbox_embed.")]:  # the release stores the shared heads twice
        original["transformer.decoder." + key] = original[key]
    return {"module." + k: v for k, v in original.items()}


def read_config_py(path: Path) -> dict[str, Any]:
    """The literal assignments of an original config (`.py` via `ast.literal_eval`, never run;
    or `.json`). Non-literal assignments are skipped."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ModelLoadError(f"cannot read GroundingDINO config {path}: {err}") from err
    if Path(path).suffix.lower() == ".json":
        try:
            return dict(json.loads(text))
        except (ValueError, TypeError) as err:
            raise ModelLoadError(f"{path} is not a JSON object ({err})") from err
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as err:
        raise ModelLoadError(f"{path} is not a GroundingDINO config: {err}") from err
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return values


def find_config(checkpoint: Path) -> Path:
    """The config beside a GroundingDINO checkpoint: same name (any case) with `.cfg.py` / `.py` /
    `.json`, else the one naming the same backbone (swint / swinb), else the only one."""
    folder, stem = checkpoint.parent, checkpoint.stem.lower()
    configs = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".py", ".json")
                     and not p.name.startswith("__"))

    def bare(p: Path) -> str:
        return p.name.lower().removesuffix(".json").removesuffix(".py").removesuffix(".cfg")

    for pick in ([p for p in configs if bare(p) == stem],
                 [p for p in configs if any(t in stem and t in bare(p) for t in ("swint", "swinb"))],
                 configs if len(configs) == 1 else []):
        if pick:
            return pick[0]
    raise ModelLoadError(f"no GroundingDINO config for {checkpoint.name} in {folder} (expected e.g. "
                         f"GroundingDINO_SwinT_OGC.cfg.py beside groundingdino_swint_ogc.pth)")


def find_bert(checkpoint: Path, text_encoder: str) -> Path | str:
    """The BERT folder the config names: a path, `bert-base-uncased` beside the checkpoint or one level
    up (storyicon's `models/bert-base-uncased`), else the name for the HF cache."""
    from .. import layout

    name = Path(text_encoder).name or layout.BERT_FOLDER
    for candidate in (Path(text_encoder).expanduser(), checkpoint.parent / name, checkpoint.parent.parent / name):
        if (candidate / "config.json").is_file():
            return candidate
    return text_encoder


def grounding_dino_config(cfg: dict, state: dict, text_config):
    """`GroundingDinoConfig` from the original config values; the Swin sizes are read from the weights."""
    from transformers import GroundingDinoConfig, SwinConfig

    depths = [len({int(m.group(1)) for k in state if (m := re.match(rf"(?:module\.)?backbone\.0\.layers\.{i}\.blocks\.(\d+)\.", k))})
              for i in range(4)]
    heads, window = [], 7
    for i in range(4):
        table = next(v for k, v in state.items() if re.search(rf"backbone\.0\.layers\.{i}\.blocks\.0\.attn\.relative_position_bias_table$", k))
        heads.append(int(table.shape[1]))
        window = int((int(table.shape[0]) ** 0.5 + 1) // 2)
    embed = next(v for k, v in state.items() if k.endswith("backbone.0.patch_embed.proj.weight"))
    backbone = SwinConfig(
        embed_dim=int(embed.shape[0]), patch_size=int(embed.shape[-1]), depths=depths, num_heads=heads,
        window_size=window, image_size=384 if "384" in str(cfg.get("backbone", "")) else 224,
        out_features=["stage2", "stage3", "stage4"])
    d = int(cfg.get("hidden_dim", 256))
    ffn = int(cfg.get("dim_feedforward", 2048))  # GroundingDINO's FFN width: not a limit
    return GroundingDinoConfig(
        backbone_config=backbone, text_config=text_config, d_model=d, num_queries=int(cfg.get("num_queries", 900)),
        encoder_layers=int(cfg.get("enc_layers", 6)), decoder_layers=int(cfg.get("dec_layers", 6)),
        encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, encoder_attention_heads=int(cfg.get("nheads", 8)),
        decoder_attention_heads=int(cfg.get("nheads", 8)), num_feature_levels=int(cfg.get("num_feature_levels", 4)),
        encoder_n_points=int(cfg.get("enc_n_points", 4)), decoder_n_points=int(cfg.get("dec_n_points", 4)),
        max_text_len=int(cfg.get("max_text_len", 256)),
        positional_embedding_temperature=int(cfg.get("pe_temperatureH", 20)),
        two_stage=cfg.get("two_stage_type", "standard") == "standard",
        embedding_init_target=bool(cfg.get("embed_init_tgt", True)),
        decoder_bbox_embed_share=bool(cfg.get("dec_pred_bbox_embed_share", True)),
        activation_function=str(cfg.get("transformer_activation", "relu")))


def load_original_grounding_dino(path: str | Path, *, device: str = "auto", dtype: str = "float32",
                                 offload_policy: str = "keep"):
    """A `Detector` from an original GroundingDINO checkpoint + config, through the model manager."""
    from .loaded import Detector

    path = Path(path).expanduser()
    cfg_path = find_config(path)
    cfg = read_config_py(cfg_path)
    bert = find_bert(path, str(cfg.get("text_encoder_type", "bert-base-uncased")))

    def loader(device_name: str, dtype_name: str):
        import transformers

        try:
            text_config = transformers.BertConfig.from_pretrained(bert, local_files_only=True)
            tokenizer = transformers.AutoTokenizer.from_pretrained(bert, local_files_only=True)
        except OSError as err:
            raise ModelLoadError(
                f"GroundingDINO {path.name} needs its BERT text encoder ({bert}): put the bert-base-uncased "
                f"Hugging Face folder beside it or in models/bert-base-uncased ({err})") from err
        state = read_state_dict(path, strip_ddp=True)
        model = _from_state_dict(transformers.GroundingDinoForObjectDetection,
                                 grounding_dino_config(cfg, state, text_config),
                                 grounding_dino_to_transformers(state), path, "GroundingDINO", dtype_name, GDINO_UNUSED)
        processor = transformers.GroundingDinoProcessor(
            image_processor=transformers.GroundingDinoImageProcessor(), tokenizer=tokenizer)
        return Detector(model.eval().to(device_name), processor)

    return get_manager().get("grounding_dino", str(path.resolve()), loader, dtype=dtype, device=device,
                             offload_policy=offload_policy, options={"config": str(cfg_path), "bert": str(bert)})


# -- shared -------------------------------------------------------------------------------------------
def _from_state_dict(model_cls, config, state: dict, path: Path, what: str, dtype_name: str,
                     unused: tuple[str, ...] = ()):
    """The model from converted weights (in the hub files' key names, which `from_pretrained` maps to
    each transformers version's own). A missing weight is an error (it would run at random init), an
    extra one only a log line (a newer release may carry training-only tensors)."""
    try:
        model, info = model_cls.from_pretrained(None, config=config, state_dict=state, dtype=torch_dtype(dtype_name),
                                                output_loading_info=True)
    except (RuntimeError, ValueError) as err:  # shape mismatches: config and weights disagree
        raise ModelLoadError(f"{path} does not fit the {what} it describes ({str(err).splitlines()[0]})") from err
    missing = [k for k in info.get("missing_keys", ()) if not any(u in k for u in unused)]
    if missing:
        shown = ", ".join(sorted(missing)[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ModelLoadError(f"{path} is not a complete original {what} checkpoint: missing {shown}")
    if info.get("unexpected_keys"):
        log.info("%s: %d weights not used by the transformers %s", path.name, len(info["unexpected_keys"]), what)
    return model
