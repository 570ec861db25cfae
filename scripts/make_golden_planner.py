"""Write tests/fixtures/golden/example9.{json,npz}: the Unison reference's run.sh example 9 (a typed
`<VIDPAD>` as the mask to be made) run through the reference's own `inference.py` on the tiny
demo planner (see tests/fixtures/golden/RECIPE.md, "Planner: run.sh example 9").

Nothing of the reference is copied here: `main()` and `get_parser()` are read from a local
checkout's `inference.py` with `ast` and executed as written, with the device string "cuda" read
as "cpu" (no GPU here). Stage two (Wan/VACE: `WanVaceProj`, `process_vace_data`, `cache_*`) is
replaced by recorders of what the reference hands it; `ProjMLP` is the reference's own class,
built at the tiny models' widths. Run it with the pack's Python; the reference's step runs in a
Python with the transformers the reference pins (4.52.4):

    python scripts/make_golden_planner.py --unison /path/to/Unison --reference-python /path/to/python
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# run.sh, example 9, exactly as written there.
EXAMPLE_9 = ("Here is the mask <VIDPAD>. Make the bird in this video ###./assets/video_edit_source.mp4### "
             "appear cleaner and neater, presenting it in white.")
SEED = 0  # the demo planner and projector the tests build (tests/conftest.py)


def reference_folder(demo: Path, out: Path) -> Path:
    """The merged planner as a reference user holds it: the demo's merged weights with
    `tie_word_embeddings` edited to false (the reference README's step), and the tokenizer and
    processor as transformers 4.52 / LLaMA-Factory 0.9.3 write them: the base tokenizer plus the
    14 tokens added with `add_special_tokens(additional_special_tokens=...,
    replace_additional_special_tokens=False)` (LLaMA-Factory's `new_special_tokens`)."""
    from transformers import Qwen2_5_VLProcessor, Qwen2TokenizerFast, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    from unison_runtime import layout
    from unison_runtime.demo_models import planner as demo_planner

    merged, base = demo / layout.PLANNER_MERGED, demo / layout.PLANNER_BASE
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(merged / "model.safetensors", out / "model.safetensors")
    shutil.copy(merged / "generation_config.json", out / "generation_config.json")
    config = json.loads((merged / "config.json").read_text())
    config["tie_word_embeddings"] = False
    (out / "config.json").write_text(json.dumps(config, indent=2))

    tokenizer = Qwen2TokenizerFast(tokenizer_file=str(base / "tokenizer.json"), errors="replace",
                                   unk_token=None, bos_token=None, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", model_max_length=32768)
    tokenizer.add_special_tokens({"additional_special_tokens": list(demo_planner.QWEN_SPECIAL_TOKENS)})
    added = tokenizer.add_special_tokens({"additional_special_tokens": list(demo_planner.UNISON_TOKENS)},
                                         replace_additional_special_tokens=False)
    assert added == 14, added
    pixels = {"min_pixels": demo_planner.MIN_PIXELS, "max_pixels": demo_planner.MAX_PIXELS}
    processor = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(**pixels), tokenizer=tokenizer,
                                    video_processor=Qwen2VLVideoProcessor(**pixels),
                                    chat_template=demo_planner.CHAT_TEMPLATE)
    processor.save_pretrained(str(out))
    return out


def reference_main(inference: Path, namespace: dict):
    """`main` (and `get_parser`) of the reference's inference.py, executed as written in
    `namespace`; the only change is the device string "cuda" read as "cpu"."""
    tree = ast.parse(inference.read_text())
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in ("get_parser", "main")]

    class OnCpu(ast.NodeTransformer):
        def visit_Constant(self, node):
            return ast.copy_location(ast.Constant("cpu"), node) if node.value == "cuda" else node

    module = ast.fix_missing_locations(OnCpu().visit(ast.Module(body=nodes, type_ignores=[])))
    exec(compile(module, str(inference), "exec"), namespace)
    return namespace["main"]


DECODINGS = {
    "as_written": "the reference's generate() untouched (the folder's generation_config: top_k 1, "
                  "repetition_penalty 1.05)",
    "grammar": "the same, under the pack's plan grammar (no prose, 2 media slots)",
    "forced": "the same, forced to write the plan example 9 asks for",
}
FORCED_PLAN = "<BOEDIT>0,1<EOEDIT><CFV>"  # mask = the typed <VIDPAD> (slot 0), source = the video


def run_reference(unison: Path, folder: Path, projector_path: Path, text_width: int, decoding: str) -> dict:
    """Run the reference's main() on example 9 with the plan decoded as `decoding` says; return
    what it computed and what it handed to stage two."""
    import argparse as argparse_module
    import os
    import re

    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from unison_runtime.planner.constrained import ACCEPT, logits_processor, sequence, unison_plan_grammar

    seen: dict = {"decoding": DECODINGS[decoding], "calls": [], "printed": []}
    processor = AutoProcessor.from_pretrained(str(folder))
    tokenizer = processor.tokenizer
    end = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]

    def recording_generate(generate):
        """The model's generate(), recording the ids it is given and writes; the first call is
        the plan, decoded as `decoding` says."""

        def wrapped(*args, **kwargs):
            ids = kwargs["input_ids"]
            first = "plan_prompt_ids" not in seen
            if first and decoding == "grammar":
                grammar = unison_plan_grammar(tokenizer, end, media_count=2, allow_prose=False)
                kwargs["logits_processor"] = [logits_processor(grammar, ids.shape[1])]
            elif first and decoding == "forced":
                forced = tokenizer.encode(FORCED_PLAN, add_special_tokens=False) + end[:1]
                kwargs["logits_processor"] = [logits_processor(sequence(forced, ACCEPT), ids.shape[1])]
            seen["generating"] = True
            out = generate(*args, **kwargs)
            seen["generating"] = False
            key = "plan" if first else "answer"
            seen[f"{key}_prompt_ids"] = ids[0].tolist()
            seen[f"{key}_ids"] = out[0, ids.shape[1]:].tolist()
            # the reference's own decoding of its output (inference.py, after generate)
            text = processor.batch_decode([out[0, ids.shape[1]:]], skip_special_tokens=False,
                                          clean_up_tokenization_spaces=False)[0]
            seen[f"{key}_text"] = text.replace("<|im_end|>", "").strip()
            return out

        return wrapped

    def hidden_hook(module, args, kwargs, output):
        if seen.get("generating"):
            return
        ids = args[0] if args else kwargs["input_ids"]
        seen["hidden_prompt_ids"] = ids[0].tolist()
        seen["last_hidden_state"] = output.last_hidden_state.detach().float().numpy()

    from make_golden_fixtures import reference_definition  # beside this script

    real_projmlp = reference_definition(unison / "module.py", "ProjMLP")

    def ProjMLP(input_dim, t5_dim):  # the reference's class at the tiny widths
        projector = real_projmlp(input_dim, text_width, hidden_dim=input_dim)

        def record(module, args, output):
            if seen.get("projector_rerun"):
                return
            # inference.py never calls eval(): its projector runs with dropout (p=0.1) active, so
            # its output is random. Recorded: that fact, and the output in eval mode (the pack's).
            seen["projector_training"] = module.training
            seen["projector_in"] = args[0].detach().numpy()
            seen["projector_rerun"] = True
            module.eval()
            with torch.no_grad():
                seen["projector_out"] = module(args[0]).numpy()
            module.train(seen["projector_training"])
            seen["projector_rerun"] = False

        projector.register_forward_hook(record)
        return projector

    class WanVaceProj:  # stage two, recorded
        def __init__(self, config, checkpoint_dir, device_id):
            self.model = types.SimpleNamespace(text_len=512)

        def prepare_source(self, src_video, src_mask, src_ref, num_frames, size, device):
            seen["prepare_source"] = {"src_video": src_video, "src_mask": src_mask, "src_ref": src_ref,
                                      "num_frames": num_frames, "size": list(size)}
            return src_video, src_mask, src_ref

        def generate(self, prompt, state, *rest, size, frame_num, seed):
            seen["generate"] = {"prompt": prompt, "size": list(size), "frame_num": frame_num,
                                "text_len": self.model.text_len, "state_shape": list(state.shape)}
            return torch.zeros(3, frame_num, 2, 2)

    def process_vace_data(**kwargs):
        seen["calls"].append(kwargs)
        return {"src_video": f"processed/{kwargs['task']}/src_video.mp4",
                "src_mask": f"processed/{kwargs['task']}/src_mask.mp4"}

    def from_pretrained(*args, **kwargs):
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(*args, **kwargs)
        model.model.register_forward_hook(hidden_hook, with_kwargs=True)
        model.generate = recording_generate(model.generate)
        return model

    namespace = {
        "os": os, "re": re, "argparse": argparse_module, "torch": torch, "nn": torch.nn,
        "wan": types.ModuleType("wan"), "AutoProcessor": AutoProcessor,
        "Qwen2_5_VLForConditionalGeneration": types.SimpleNamespace(from_pretrained=from_pretrained),
        "WAN_CONFIGS": {"vace-1.3B": types.SimpleNamespace()}, "ProjMLP": ProjMLP,
        "WanVaceProj": WanVaceProj, "process_vace_data": process_vace_data,
        "cache_video": lambda **kw: seen.setdefault("saved", "video"),
        "cache_image": lambda **kw: seen.setdefault("saved", "image"),
        "print": lambda *args: seen["printed"].append(" ".join(map(str, args))),
    }
    main = reference_main(unison / "inference.py", namespace)
    with tempfile.TemporaryDirectory() as save:
        sys.argv = ["inference.py", "--qwenvl_path", str(folder), "--vace_path", "unused",
                    "--proj_path", str(projector_path), "--prompt", EXAMPLE_9,
                    "--save_path", str(Path(save) / "result.mp4")]
        torch.manual_seed(0)  # the folder's config samples (top_k 1 makes it greedy)
        try:
            main()
        except Exception as exc:  # the reference's own failure, recorded as it happened
            seen["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return seen


def reference_step(unison: Path, demo: Path, out: Path) -> None:
    """In the reference's environment: its folder, then one run per decoding, recorded in `out`."""
    import torch
    import transformers

    from unison_runtime import layout
    from unison_runtime.demo_models import projector as demo_projector

    folder = reference_folder(demo, out / "reference_merged")
    runs, arrays = {}, {}
    for decoding in DECODINGS:
        seen = run_reference(unison, folder, demo / layout.PROJECTOR, demo_projector.TINY_TEXT_WIDTH, decoding)
        for key in ("last_hidden_state", "projector_in", "projector_out"):
            if key in seen:  # the same for every run that gets this far (the plan does not enter)
                value = seen.pop(key)
                assert key not in arrays or np.array_equal(arrays[key], value), key
                arrays[key] = value
        seen.pop("generating", None), seen.pop("projector_rerun", None)
        runs[decoding] = seen
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    runs["tokens"] = {t: tokenizer.convert_tokens_to_ids(t) for t in tokenizer.additional_special_tokens}
    runs["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__}
    (out / "reference.json").write_text(json.dumps(runs, indent=1))
    np.savez(out / "reference.npz", **arrays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unison", type=Path, required=True, help="a checkout of ali-vilab/Unison")
    parser.add_argument("--reference-python", type=Path, required=True,
                        help="a Python with the reference's transformers (4.52.4)")
    parser.add_argument("--out", type=Path, default=ROOT / "tests/fixtures/golden")
    parser.add_argument("--reference-step", type=Path, help=argparse.SUPPRESS)  # internal
    parser.add_argument("--demo", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_step is not None:
        reference_step(args.unison, args.demo, args.reference_step)
        return

    import subprocess

    from unison_runtime.demo_models import planner as demo_planner
    from unison_runtime.demo_models import projector as demo_projector

    with tempfile.TemporaryDirectory() as work:
        demo = Path(work) / "demo"  # built here, with the pack's transformers, as the tests build it
        demo_planner.build(demo, SEED)
        demo_projector.build(demo, SEED)
        subprocess.run([str(args.reference_python), __file__, "--unison", str(args.unison),
                        "--reference-python", str(args.reference_python), "--demo", str(demo),
                        "--reference-step", work], check=True)
        runs = json.loads((Path(work) / "reference.json").read_text())
        with np.load(Path(work) / "reference.npz") as data:
            arrays = {k: data[k] for k in data.files}
        runs["weights_fingerprint"] = weights_fingerprint(demo)
    runs["prompt"] = EXAMPLE_9
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "example9.json").write_text(json.dumps(runs, indent=1, ensure_ascii=True) + "\n")
    np.savez_compressed(args.out / "example9.npz", **arrays)
    print(f"wrote {args.out / 'example9.json'} and example9.npz: {', '.join(sorted(arrays))}")


def weights_fingerprint(models_dir: Path) -> dict:
    """Sums of the tiny planner's and projector's weights: the test checks it rebuilt the same
    models before comparing anything (a changed demo builder means regenerating this fixture)."""
    import torch
    from safetensors.torch import load_file

    from unison_runtime import layout

    planner = load_file(str(models_dir / layout.PLANNER_MERGED / "model.safetensors"))
    projector = torch.load(models_dir / layout.PROJECTOR, weights_only=True)
    return {"planner": sum(float(v.double().sum()) for v in planner.values()),
            "projector": sum(float(v.double().sum()) for v in projector.values())}


if __name__ == "__main__":
    main()
