"""Unison runtime: planning, projection, VACE generation and annotators, with no ComfyUI import.

Importing this package is cheap; heavy libraries (torch, transformers, diffusers) are imported
by the modules that use them, when they are first used.
"""

__version__ = "0.1.0"
