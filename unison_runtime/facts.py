"""Facts shared by the runtime, the nodes and the CLI, defined once here and imported everywhere
(plan grammar, router, instruct prompt, generator checks, node widgets, CLI choices).

Pure constants: importing this module imports nothing else.
"""

# -- the 12 tasks (DESIGN §2) -------------------------------------------------------------------
TASKS = (
    "text_understanding", "image_understanding", "video_understanding",
    "text_to_image", "image_edit", "image_control", "image_reference",
    "text_to_video", "image_to_video", "video_reference", "video_edit", "video_control",
)
UNDERSTANDING_TASKS = ("text_understanding", "image_understanding", "video_understanding")
IMAGE_TASKS = ("text_to_image", "image_edit", "image_control", "image_reference")
VIDEO_TASKS = ("text_to_video", "image_to_video", "video_reference", "video_edit", "video_control")
EDIT_TASKS = ("image_edit", "video_edit")
CONTROL_TASKS = ("image_control", "video_control")
REFERENCE_TASKS = ("image_reference", "video_reference")
FRAME_REFS = ("first", "last", "firstlast")  # image_to_video: where the given image(s) go

# -- sizes and lengths ------------------------------------------------------------------------
DEFAULT_WIDTH = 832
DEFAULT_HEIGHT = 480
DEFAULT_VIDEO_FRAMES = 81
SIZE_STEP = 16  # Wan's VAE downsamples 8x and the DiT patches 2x2
MIN_SIDE = 16
MAX_SIDE = 2048
MAX_FRAMES = 241  # 10 s at 24 fps; frame counts are 4k+1
MAX_REFERENCES = 3  # reference images VACE conditions on (the reference's limit)
FPS = 24  # the planner's training data counts time at 24 fps; videos are saved at 24 fps
CONTEXT_LENGTH = 2048  # Unison's DiT text length in tokens (Wan's 512 raised); not a pixel limit

# -- choices offered by the nodes and the CLI -------------------------------------------------
PLANNER_CHOICES = ("auto", "rules", "unison", "instruct")  # who plans (see sources.choose_planner_source)
PLAN_BY_CHOICES = ("auto", "rules")  # the nodes' plan_by: the planner model (when connected) or rules
PLANNER_MODES = ("unison", "instruct")  # how a Qwen2.5-VL planner model is prompted
DTYPES = ("auto", "bfloat16", "float16", "float32")
OFFLOAD_POLICIES = ("auto", "keep", "offload", "sequential")  # models.OFFLOAD_POLICY_HELP says what each costs
DEFAULT_OFFLOAD_POLICY = "auto"
# Node/CLI name -> diffusers attention backend name.
ATTENTION_BACKENDS = {"native": "native", "flash": "flash", "flash3": "_flash_3", "sage": "sage"}
SWITCHES = ("auto", "on", "off")  # batch_cfg / vae_tiling: auto = decided from free device memory
ANNOTATOR_MODES = ("mask", "bbox", "label", "caption", "salient",
                   "firstframe", "lastframe", "firstlastframe", "reference", "control")

# -- which settings apply: a value set for a task or mode that does not read it is ignored with a
# note (router.ignored_overrides, annotators.ignored_settings), and the frontend hides its widget.
# The Task Router's overrides each task reads (understanding tasks read none: nothing is generated).
ROUTER_OVERRIDES_OF_TASK = {
    task: ("width", "height")
    + (("num_frames",) if task in VIDEO_TASKS else ())
    + (("frame_ref",) if task == "image_to_video" else ())
    + (("mask_index",) if task in EDIT_TASKS else ())
    + (("source_index",) if task in EDIT_TASKS + CONTROL_TASKS else ())
    + (("reference",) if task in REFERENCE_TASKS else ())
    + (("control",) if task in CONTROL_TASKS else ())
    for task in TASKS if task not in UNDERSTANDING_TASKS
}
# What each generating task can use of a request's media (router.route refuses more, naming this,
# rather than leaving an item out without a word; reference tasks count images, at most MAX_REFERENCES).
MEDIA_LIMIT_OF_TASK = {
    "text_to_image": "no media", "text_to_video": "no media",
    "image_edit": "one source image and one mask", "video_edit": "one source video and one mask",
    "image_control": "one control image", "video_control": "one control video (or image sequence)",
    "image_reference": f"up to {MAX_REFERENCES} reference images",
    "video_reference": f"up to {MAX_REFERENCES} reference images",
    "image_to_video": "one image (two with frame_ref=firstlast)",
}
MASK_MODES = ("mask", "bbox", "label", "caption", "salient")  # the annotator modes that make an edit mask
# The annotator settings each mode reads (width and height: every mode).
ANNOTATOR_SETTINGS_OF_MODE = {
    mode: ("width", "height")
    + (("num_frames",) if mode != "reference" else ())
    + (("text",) if mode in ("label", "caption") else ())
    + (("boxes",) if mode == "bbox" else ())
    + (("dilate", "feather", "invert") if mode in MASK_MODES else ())
    for mode in ANNOTATOR_MODES
}

# -- media files ----------------------------------------------------------------------------------
# Pillow's modes for 16-bit greyscale PNGs (and 32-bit "I" on older Pillow): levels 0..65535, which
# images and masks scale to 8 bits (Pillow's own conversion to "L" clips them).
WIDE_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
MEDIA_ROLES = ("image", "video", "mask")  # what a media item of a request is, stated by its giver
