"""ComfyUI node adapters over `unison_runtime` (V1 node API). Each node converts ComfyUI types and
calls the runtime; no model logic lives here."""

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
