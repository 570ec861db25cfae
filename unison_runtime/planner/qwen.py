"""The Qwen2.5-VL planner (stage one) in `unison` mode (Unison LoRA) and `instruct` mode.

Layouts accepted (DESIGN §7): a merged folder; or a stock base folder plus the peft LoRA folder,
applied at load (tokenizer from the adapter folder when it has one, embeddings resized to it,
optionally merged in memory). A checkpoint whose file holds an `lm_head.weight` different from
the embeddings is loaded untied whatever its config.json says, so users never hand-edit it.
Every load goes through the model manager (kind "planner") and reads local files only.

`QwenPlanner.plan` prompts with the plain user turn (a typed pad is a pad: the model's indices
count it, `in_media_indices` maps them to the media), decodes greedily with the folder's
repetition penalty, as the reference does, under the plan grammar (`planner.constrained`), and
may cross-check the result against the request (`planner.rules`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError, PlanError
from ..file_memo import memo_on_files
from ..plan import END_OF_TURN, strip_end_of_turn
from ..state_dicts import safetensors_header, weight_index
from . import prompting
from .constrained import UNISON_TOKENS

MODES = ("unison", "instruct")
MODEL_TYPE = "qwen2_5_vl"
EMBED_KEYS = ("model.embed_tokens.weight", "model.language_model.embed_tokens.weight")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json")
GREEDY = {"do_sample": False, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "repetition_penalty": 1.0,
          "num_beams": 1}


# -- loading -----------------------------------------------------------------------------------
def load_language_model(model_dir, adapter_dir=None, mode: str = "unison", dtype: str = "auto",
                        device: str = "auto", offload_policy: str = "auto",
                        merge_adapter: bool = True) -> "LoadedQwen":
    """Load (or fetch from the model manager) Qwen2.5-VL with its processor; `mode` "unison"
    requires the Unison plan tokens. `planner.load_planner` wraps it in the mode's planner."""
    from ..models import get_manager

    if mode not in MODES:
        raise ModelLoadError(f"unknown planner mode {mode!r}; allowed: {', '.join(MODES)}")
    model_dir = check_model_folder(model_dir)
    adapter_dir = check_adapter_folder(adapter_dir) if adapter_dir is not None else None
    tokenizer_dir = adapter_dir if adapter_dir and has_tokenizer(adapter_dir) else model_dir
    if mode == "unison":
        require_unison_tokens(tokenizer_dir, adapter_given=adapter_dir is not None)

    def loader(device_name: str, dtype_name: str) -> LoadedQwen:
        return _load(model_dir, adapter_dir, tokenizer_dir, device_name, dtype_name, merge_adapter)

    source = (str(model_dir),) + ((str(adapter_dir),) if adapter_dir else ())
    options = {"merge_adapter": bool(merge_adapter)} if adapter_dir else {}
    return get_manager().get("planner", source, loader, dtype=dtype, device=device,
                             offload_policy=offload_policy, options=options)


@dataclass
class LoadedQwen:
    """What the manager caches: the model with its processor (shared by both modes)."""

    model: Any
    processor: Any
    untied_head: bool
    source: str

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    def torch_modules(self) -> dict[str, Any]:
        return {"model": self.model}


def _load(model_dir: Path, adapter_dir: Path | None, tokenizer_dir: Path, device: str,
          dtype_name: str, merge_adapter: bool) -> LoadedQwen:
    from transformers import AutoConfig, AutoProcessor, AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    from ..models import torch_dtype

    untied = head_is_untied(model_dir)
    try:
        config = AutoConfig.from_pretrained(str(model_dir), local_files_only=True)
        _set_tied(config, not untied)
        model, info = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            str(model_dir), config=config, dtype=torch_dtype(dtype_name), local_files_only=True,
            attn_implementation=attention_backend(device), output_loading_info=True)
        processor = AutoProcessor.from_pretrained(str(model_dir), local_files_only=True)
        if tokenizer_dir != model_dir:
            processor.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelLoadError(f"could not load the planner from {model_dir}: {exc}") from exc
    _check_loading_info(info, model_dir, untied)
    if adapter_dir is not None:
        model = apply_adapter(model, adapter_dir, len(processor.tokenizer), merge_adapter)
    return LoadedQwen(model=model.to(device).eval(), processor=processor, untied_head=untied,
                      source=str(model_dir))


def attention_backend(device: str) -> str:
    """flash-attn on a GPU when it is installed, PyTorch's SDPA otherwise."""
    import importlib.util

    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def _set_tied(config, tied: bool) -> None:
    # transformers 5 reads the root flag but also promotes a text_config flag; set both.
    config.tie_word_embeddings = tied
    text_config = getattr(config, "text_config", None)
    if text_config is not None:
        text_config.tie_word_embeddings = tied


def _check_loading_info(info: dict, model_dir: Path, untied: bool) -> None:
    missing = [k for k in info.get("missing_keys", ()) if untied or not k.startswith("lm_head")]
    if missing:
        shown = ", ".join(sorted(missing)[:5])
        raise ModelLoadError(f"{model_dir} is missing {len(missing)} planner weight(s) ({shown}...); "
                             "is it a complete Qwen2.5-VL checkpoint?")


# -- adapter -----------------------------------------------------------------------------------
def apply_adapter(model, adapter_dir: Path, vocab_size: int, merge: bool):
    """Apply a peft LoRA folder to `model`: resize embeddings, load its weights, maybe merge.

    The state dict is loaded by hand (not `PeftModel.from_pretrained`) so that adapters saved
    before transformers moved the language model under `model.language_model` load too: peft 0.21
    fails on such keys when `embed_tokens`/`lm_head` are `modules_to_save`.
    """
    import warnings

    from peft import PeftConfig, get_peft_model, set_peft_model_state_dict

    state = read_adapter_state(adapter_dir)
    rows = _adapter_vocab_rows(state) or vocab_size
    if rows != model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(rows, mean_resizing=False)
    with warnings.catch_warnings():
        # peft notes that the tied embeddings become untied: that is what the adapter does.
        warnings.simplefilter("ignore", UserWarning)
        try:
            config = PeftConfig.from_pretrained(str(adapter_dir), local_files_only=True)
            config.inference_mode = True
            peft_model = get_peft_model(model, config)
            result = set_peft_model_state_dict(peft_model, state)
        except (ValueError, RuntimeError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"the LoRA adapter in {adapter_dir} does not fit this planner: {exc}") from exc
    if result.unexpected_keys:
        raise ModelLoadError(f"the LoRA adapter in {adapter_dir} has weights this model lacks, e.g. "
                             f"{sorted(result.unexpected_keys)[0]}; was it trained for Qwen2.5-VL?")
    unloaded = [k for k in result.missing_keys if "lora_" in k or "modules_to_save" in k]
    if unloaded:
        raise ModelLoadError(f"the LoRA adapter in {adapter_dir} lacks {len(unloaded)} of its own weights, "
                             f"e.g. {sorted(unloaded)[0]}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return peft_model.merge_and_unload() if merge else peft_model


def read_adapter_state(adapter_dir: Path) -> dict:
    """The adapter's tensors with keys in the current transformers module naming."""
    from ..state_dicts import read_state_dict

    path = adapter_dir / "adapter_model.safetensors"
    raw = read_state_dict(path if path.is_file() else adapter_dir / "adapter_model.bin")
    return {current_key(k): v for k, v in raw.items()}


_PEFT_PREFIX = "base_model.model."


def current_key(key: str) -> str:
    """A legacy Qwen2.5-VL key (`model.layers...`, `visual...`) in transformers-5 naming."""
    prefix = _PEFT_PREFIX if key.startswith(_PEFT_PREFIX) else ""
    rest = key[len(prefix):]
    if rest.startswith("visual."):
        rest = "model." + rest
    elif rest.startswith("model.") and not re.match(r"model\.(language_model|visual)\.", rest):
        rest = "model.language_model." + rest[len("model."):]
    return prefix + rest


def _adapter_vocab_rows(state: dict) -> int | None:
    for key, tensor in state.items():
        if key.endswith("embed_tokens.weight") and tensor.dim() == 2:
            return int(tensor.shape[0])
    return None


# -- folder checks (cheap: JSON and safetensors headers only) -----------------------------------
@memo_on_files
def check_model_folder(model_dir) -> Path:
    folder = Path(model_dir).expanduser()
    if not folder.is_dir():
        raise ModelLoadError(f"planner folder not found: {folder}")
    config_path = folder / "config.json"
    if not config_path.is_file():
        hint = (" It looks like a LoRA adapter: pass it as adapter_dir with the base model as model_dir."
                if (folder / "adapter_config.json").is_file() else "")
        raise ModelLoadError(f"{folder} has no config.json; expected a Qwen2.5-VL model folder.{hint}")
    model_type = _read_json(config_path).get("model_type")
    if model_type != MODEL_TYPE:
        raise ModelLoadError(f"{folder} holds a {model_type!r} model; the planner needs Qwen2.5-VL "
                             f"(model_type {MODEL_TYPE!r}), e.g. Qwen2.5-VL-3B-Instruct")
    weight_index(folder)  # validates every weight file's header
    check_chat_template(folder)
    return folder.resolve()


def check_chat_template(folder: Path) -> None:
    """A folder's chat_template.jinja must compile, so a broken one is reported at load, naming
    the file and line, not as a Jinja traceback at the first plan."""
    import jinja2
    from transformers.utils.chat_template_utils import _compile_jinja_template  # what renders it

    path = folder / "chat_template.jinja"
    if not path.is_file():
        return
    try:
        _compile_jinja_template(path.read_text(encoding="utf-8"))
    except (jinja2.TemplateError, UnicodeDecodeError) as err:
        line = f" line {err.lineno}" if getattr(err, "lineno", None) else ""
        raise ModelLoadError(f"{path} is not a valid chat template (Jinja error at{line or ' start'}: "
                             f"{str(err).splitlines()[0]}); restore the file from the model's release") from err


@memo_on_files
def check_adapter_folder(adapter_dir) -> Path:
    folder = Path(adapter_dir).expanduser()
    config_path = folder / "adapter_config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"no LoRA adapter at {folder} (adapter_config.json missing)")
    peft_type = _read_json(config_path).get("peft_type")
    if peft_type != "LORA":
        raise ModelLoadError(f"{folder} holds a {peft_type!r} adapter; the Unison adapter is a LoRA")
    check_chat_template(folder)
    weights = folder / "adapter_model.safetensors"
    if weights.is_file():
        safetensors_header(weights)
    elif not (folder / "adapter_model.bin").is_file():
        raise ModelLoadError(f"{folder} has no adapter_model.safetensors (or adapter_model.bin)")
    return folder.resolve()


def has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in TOKENIZER_FILES)


def require_unison_tokens(tokenizer_dir: Path, adapter_given: bool) -> None:
    missing = [t for t in UNISON_TOKENS if t not in token_strings(tokenizer_dir)]
    if missing:
        advice = ("the adapter folder's tokenizer lacks them too; use the one saved with the LoRA"
                  if adapter_given else
                  "pass the Unison LoRA as adapter_dir, or point model_dir at a merged Unison model")
        raise ModelLoadError(f"the tokenizer in {tokenizer_dir} lacks the Unison plan tokens "
                             f"({', '.join(missing[:3])}...): {advice}; or use mode='instruct'")


@memo_on_files
def token_strings(folder: Path) -> frozenset[str]:
    """Every token string the folder's tokenizer files define (vocabulary and added tokens)."""
    found: set[str] = set()
    tokenizer_json = folder / "tokenizer.json"
    if tokenizer_json.is_file():
        data = _read_json(tokenizer_json)
        found.update(t.get("content", "") for t in data.get("added_tokens", []))
        vocab = (data.get("model") or {}).get("vocab") or {}
        found.update(vocab if isinstance(vocab, dict) else ())
    config = folder / "tokenizer_config.json"
    if config.is_file():
        data = _read_json(config)
        found.update(t.get("content", "") for t in (data.get("added_tokens_decoder") or {}).values())
        for key in ("additional_special_tokens", "extra_special_tokens"):
            value = data.get(key) or []
            found.update(v if isinstance(v, str) else v.get("content", "") for v in value)
    for name in ("added_tokens.json", "vocab.json"):
        if (folder / name).is_file():
            found.update(_read_json(folder / name))
    return frozenset(found)


def head_is_untied(folder: Path) -> bool:
    """True when the weights hold an `lm_head.weight` that differs from the input embeddings."""
    from safetensors import safe_open

    tensors = weight_index(folder)
    embed = next((k for k in EMBED_KEYS if k in tensors), None)
    if "lm_head.weight" not in tensors:
        return False
    if embed is None:
        return True
    (head_file, _), (embed_file, _) = tensors["lm_head.weight"], tensors[embed]
    with safe_open(str(head_file), "pt") as head, safe_open(str(embed_file), "pt") as emb:
        # A few rows settle it for real checkpoints; equal rows fall back to a full compare.
        if not head.get_slice("lm_head.weight")[:8].equal(emb.get_slice(embed)[:8]):
            return True
        return not head.get_tensor("lm_head.weight").equal(emb.get_tensor(embed))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} is not a JSON object")
    return data


class CancelCheck:
    """A logits processor that only calls `check()`: transformers runs it once per new token,
    so a cancel raised there stops generation within one token."""

    def __init__(self, check) -> None:
        self.check = check

    def __call__(self, input_ids, scores):
        self.check()
        return scores


# -- plan indices --------------------------------------------------------------------------------
def in_media_indices(plan, request):
    """`plan` (indices counting every pad the model saw, typed ones too) with indices into
    `request.media`. A typed pad no media fills is dropped from the plan with a warning: as the
    mask, the edit then has no given mask (run.sh example 9: the route makes one); as the source,
    the route chooses it from the request's media (the reference's video edit takes its first)."""
    slots = request.slots
    if all(slot is not None for slot in slots):
        return plan
    changes, notes = {}, []
    for name, role in (("mask_index", "mask"), ("source_index", "source")):
        slot = getattr(plan, name)
        if slot is None:
            continue
        changes[name] = slots[slot]
        if slots[slot] is None:
            notes.append(f"the plan's {role} is pad #{slot + 1}, the {request.pad_token(slot)} typed in the "
                         f"request: no media fills it, so the plan leaves the {role} out")
    if changes.get("source_index", plan.source_index) is None and changes.get("mask_index") is not None:
        notes.append(f"the plan's mask (media #{changes['mask_index'] + 1}) goes with its source: left out too")
        changes["mask_index"] = None
    return replace(plan, **changes, warnings=(*plan.warnings, *notes)) if changes else plan


# -- the planner -------------------------------------------------------------------------------
@dataclass
class QwenPlanner:
    """Qwen2.5-VL planner; same interface as `RulesPlanner` (`mode`, `plan`, `answer`, ...).

    Tunables: `constrained` (grammar-constrained plan decoding), `allow_prose` (the first token
    may start an answer instead of a plan), `max_plan_tokens`, `budget` (media sizes for answers),
    `cross_check` (warn where the request seems to state other values; off: the plan stands).
    """

    loaded: LoadedQwen
    constrained: bool = True
    allow_prose: bool = True
    max_plan_tokens: int = 64
    prose_tokens: int = 16
    cross_check: bool = False  # opt-in, warnings only: see planner.rules.cross_check
    budget: prompting.MediaBudget = field(default_factory=prompting.MediaBudget)

    mode = "unison"

    @property
    def hidden_size(self) -> int:
        config = self.loaded.model.config
        return int(getattr(getattr(config, "text_config", config), "hidden_size"))

    # -- plan ----------------------------------------------------------------------------------
    def plan(self, request):
        """The model's plan for `request` (or an understanding plan); with `cross_check` on, the
        rules add warnings where the request seems to state other values (the plan stands)."""
        text = self._generate_plan_text(request)
        return self._checked(self._parse(text, request), request)

    def _checked(self, model_plan, request):
        from .rules import cross_check

        return cross_check(model_plan, request) if self.cross_check else model_plan

    def _generate_plan_text(self, request) -> str:
        from .constrained import unison_plan_grammar

        messages = prompting.plain_turn(request.prompt)
        grammar = None
        if self.constrained:
            grammar = unison_plan_grammar(self.loaded.tokenizer, self._end_ids(),
                                          media_count=len(request.slots), allow_prose=self.allow_prose,
                                          prose_tokens=self.prose_tokens)
        return self._generate_text(messages, grammar, self.max_plan_tokens)

    def _parse(self, text: str, request):
        from ..plan import Plan, looks_like_plan

        cleaned = text.strip()
        if not looks_like_plan(cleaned):
            return replace(Plan.understanding(request.media_kinds), raw=text)
        count = len(request.slots)  # the model's indices count every pad it saw, typed ones too
        try:
            return in_media_indices(Plan.from_tokens(cleaned, media_count=count, clamp=True), request)
        except PlanError as exc:  # only reachable unconstrained
            try:  # an index past the pads the model saw: drop it
                plan = Plan.from_tokens(cleaned, clamp=True)
                dropped = {k: None for k in ("mask_index", "source_index")
                           if getattr(plan, k) is not None and getattr(plan, k) >= count}
                if dropped:
                    note = ", ".join(f"{k} {getattr(plan, k)} (media #{getattr(plan, k) + 1})" for k in dropped)
                    plan = replace(plan, **dropped, warnings=(*plan.warnings, f"dropped {note}: the request "
                                                              f"has {count} media item(s)"))
                    Plan.from_tokens(plan.to_tokens(), media_count=count)
                    return in_media_indices(plan, request)
            except PlanError:
                pass
            fallback = Plan.understanding(request.media_kinds)  # not a plan: answer instead
            return replace(fallback, raw=text, warnings=(f"the planner's output was not a valid plan "
                                                         f"({exc}); answering instead",))

    # -- answer --------------------------------------------------------------------------------
    def answer(self, request, max_new_tokens: int = 256, temperature: float | None = None, seed: int = 0,
               check_cancel=None) -> str:
        """Answer in words, with the request's images and videos attached. Decoding follows the
        model folder's generation_config.json, as the reference does, unless `temperature` is
        given (0: greedy). `check_cancel()` runs before every generated token; whatever it
        raises (a cancel) stops the answer."""
        import torch

        from ..models import get_manager
        from . import check_max_new_tokens

        check_max_new_tokens(max_new_tokens)
        messages = prompting.media_turn(request)
        images, videos, fps = self._load_media(request)
        text = prompting.render(self.loaded.processor, messages, add_generation_prompt=True)
        inputs = self._processor_inputs(text, images, videos, fps)
        settings = dict(max_new_tokens=max_new_tokens, **(self._folder_decoding() if temperature is None else {}))
        if temperature is not None and temperature > 0:
            settings.update(do_sample=True, temperature=temperature, top_k=0, top_p=1.0)
        with get_manager().use(self.loaded), torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(seed)
            processors = [CancelCheck(check_cancel)] if check_cancel is not None else []
            ids = self._generate_ids(inputs, settings, processors, suppress=self._plan_token_ids())
        return self.loaded.tokenizer.decode(ids, skip_special_tokens=True).strip()

    def _folder_decoding(self) -> dict:
        """The decoding knobs of the model folder's generation_config.json (unset ones: greedy)."""
        config = getattr(self.loaded.model, "generation_config", None)
        return {k: getattr(config, k) for k in GREEDY if getattr(config, k, None) is not None}

    def _load_media(self, request):
        from .. import media
        from ..media_budget import check_media_budget

        check_media_budget(request.media, max_frames=self.budget.video_max_frames)  # before decoding
        images, videos, fps = [], [], []
        for item in request.media:
            if item.given is not None:  # pixels handed over by a node
                self._add_given(item, images, videos, fps)
            elif item.kind == "image":
                images.append(media.load_image(item.path))
            else:
                frames = media.load_video(item.path, max_frames=self.budget.video_max_frames,
                                          sample_fps=self.budget.video_fps)
                videos.append(list(frames))
                _, _, total = media.video_header(item.path)
                fps.append(_shown_fps(media.video_fps(item.path), total, len(frames)))
        return images, videos, fps

    def _add_given(self, item, images: list, videos: list, fps: list) -> None:
        from PIL import Image

        from ..media import sample_indices
        from ..facts import FPS

        frames = item.given.frames()
        if item.kind == "image":
            images.append(Image.fromarray(frames[0]))
            return
        rate = item.given.fps or FPS
        step = max(1.0, rate / self.budget.video_fps)
        picks = sorted(sample_indices(len(frames), step, self.budget.video_max_frames))  # as for files
        videos.append(list(frames[picks]))
        fps.append(_shown_fps(rate, len(frames), len(picks)))

    def _processor_inputs(self, text: str, images: list, videos: list, fps: list) -> dict:
        budget = self.budget
        kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt"}
        if images:
            kwargs["images"] = images
            kwargs["images_kwargs"] = _pixel_bounds(self.loaded.processor.image_processor,
                                                    budget.image_min_pixels, budget.image_max_pixels)
        if videos:
            kwargs["videos"] = videos
            kwargs["videos_kwargs"] = {
                **_pixel_bounds(self.loaded.processor.video_processor,
                                budget.video_min_pixels, budget.video_max_pixels),
                # the real rate of the frames shown, so their temporal positions are right
                "video_metadata": [{"fps": f, "total_num_frames": len(v)} for f, v in zip(fps, videos)],
                **({"fps": list(fps)} if _transformers_major() < 5 else {}),  # where 4.5x reads the rate
                "do_sample_frames": False,
                # the reference (qwen-vl-utils) caps pixels per frame; transformers will default to it
                "cap_pixels_per_frame": True}
        return dict(self.loaded.processor(**kwargs))

    # -- hidden states -------------------------------------------------------------------------
    def hidden_states(self, request):
        """Last hidden state of the plain request turn (no generation prompt), first token
        dropped, float32: [1, L-1, hidden] (the projector's input, DESIGN §4)."""
        import torch

        from ..models import get_manager

        text = prompting.render(self.loaded.processor, prompting.plain_turn(request.prompt),
                                add_generation_prompt=False)
        inputs = self.loaded.tokenizer(text, return_tensors="pt", add_special_tokens=False)
        with get_manager().use(self.loaded), torch.no_grad():
            model = self.loaded.model
            out = model(**_to(inputs, _device_of(model)), output_hidden_states=True, return_dict=True)
        return out.hidden_states[-1][:, 1:, :].float().cpu()

    # -- generation helpers --------------------------------------------------------------------
    def _generate_text(self, messages: list[dict], grammar, max_new_tokens: int) -> str:
        """Greedy generation from a plain-text turn with the folder's repetition penalty, as the
        reference's generate() decodes a plan (Qwen's generation_config.json: top_k 1, which is
        greedy, and repetition_penalty 1.05); decoded without skipping special tokens."""
        import torch

        from ..models import get_manager
        from .constrained import logits_processor

        text = prompting.render(self.loaded.processor, messages, add_generation_prompt=True)
        inputs = dict(self.loaded.tokenizer(text, return_tensors="pt", add_special_tokens=False))
        processors = []
        if grammar is not None:
            processors.append(logits_processor(grammar, inputs["input_ids"].shape[1]))
        with get_manager().use(self.loaded), torch.random.fork_rng(devices=self._rng_devices()):
            penalty = self._folder_decoding().get("repetition_penalty", 1.0)
            ids = self._generate_ids(inputs, {"max_new_tokens": max_new_tokens, "repetition_penalty": penalty},
                                     processors=processors)
        return strip_end_of_turn(self.loaded.tokenizer.decode(ids, skip_special_tokens=False))

    def _generate_ids(self, inputs: dict, settings: dict, processors=(), suppress=()) -> list[int]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        model = self.loaded.model
        # Every knob set: generate() fills unset ones from the folder's generation_config.json,
        # whose sampling would make the plan random (callers pass the knobs they take from it).
        config = GenerationConfig(**{**GREEDY, "eos_token_id": self._end_ids(),
                                     "pad_token_id": self._end_ids()[-1],
                                     "suppress_tokens": list(suppress) or None, **settings})
        inputs = _to(inputs, _device_of(model))
        with torch.no_grad():
            output = model.generate(**inputs, generation_config=config,
                                    logits_processor=LogitsProcessorList(list(processors)))
        return output[0, inputs["input_ids"].shape[1]:].tolist()

    def _end_ids(self) -> list[int]:
        added = self.loaded.tokenizer.get_added_vocab()
        ids = [added[t] for t in END_OF_TURN if t in added]
        if not ids:
            raise ModelLoadError(f"the tokenizer of {self.loaded.source} has no {END_OF_TURN[0]} token")
        return ids

    def _plan_token_ids(self) -> list[int]:
        vocab = self.loaded.tokenizer.get_added_vocab()
        return [vocab[t] for t in UNISON_TOKENS if t in vocab]

    def _rng_devices(self) -> list:
        device = _device_of(self.loaded.model)
        return [device] if device.type == "cuda" else []


def _transformers_major() -> int:
    import transformers

    return int(transformers.__version__.split(".")[0])


def _device_of(model):
    return next(model.parameters()).device


def _pixel_bounds(processor, low: int | None, high: int | None) -> dict:
    """Size kwargs for the pixel bounds a budget sets; an unset bound is the processor's own
    (nothing set: no kwargs, the processor's defaults as the reference uses them)."""
    if low is None and high is None:
        return {}
    own = dict(getattr(processor, "size", None) or {})
    size = {"shortest_edge": own.get("shortest_edge") if low is None else low,
            "longest_edge": own.get("longest_edge") if high is None else high}
    return {"size": {k: v for k, v in size.items() if v is not None}}


def _shown_fps(rate: float, total: int, shown: int) -> float:
    """The rate of `shown` frames spread over the whole clip: shown / duration (qwen-vl-utils'
    rule), the duration being the clip's frame count over its rate."""
    return shown * rate / max(total, shown, 1)


def _to(inputs, device) -> dict:
    return {k: (v.to(device) if hasattr(v, "to") else v) for k, v in dict(inputs).items()}


__all__ = ["load_language_model", "QwenPlanner", "LoadedQwen", "MODES"]
