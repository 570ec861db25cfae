"""ComfyUI runs this before it imports any custom node or serves a request (its prestartup
convention): the sample media the templates use are in the input folder before the frontend's first
node list, so a template dropped on a fresh server shows no "value not in list" error. It loads one
standard-library file by path and never raises: a failure here must not stop ComfyUI."""

import importlib.util
import logging
import os


def _copy_sample_media() -> None:
    import folder_paths  # ComfyUI's; the input folder is set (--input-directory) before prestartup

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nodes", "sample_media.py")
    spec = importlib.util.spec_from_file_location("comfyui_unison_sample_media", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.copy_sample_media(folder_paths.get_input_directory())


try:
    _copy_sample_media()
except Exception as err:  # noqa: BLE001 - ComfyUI must start whatever happens here
    logging.getLogger("ComfyUI-Unison").warning("ComfyUI-Unison: sample media not copied at start-up: %s", err)
