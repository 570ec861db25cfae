"""English, as the reference's requests phrase it, with common typos and chat shorthand."""

from . import Lexicon

_THE_VIDEO = r"(?: (?:the|this|my|your|our) (?:video|clip|animation|movie|film))?"  # "end the video on ..."
_THE_STILL = r"(?:<MEDIA>|(?:<THIS>|the) (?:image|picture|photo|frame|shot|still))"

LEXICON = Lexicon(
    language="en",
    scripts=("LATIN",),
    generate=(
        "create", "generate", "make", "draw", "render", "produce", "paint", "design", "illustrate",
        "imagine", "visuali[sz]e", "film", "shoot", "compose", "give me", "show me", "i want", "i'd like",
        "i would like", "gimme", "creat", "craete", "genrate", "generat", "genarate", "drw", "mak",
    ),
    polite=(r"please,? ", r"(?:pls|plz),? ", r"(?:can|could|would|will) (?:you|u)(?: please| pls| plz)?,? "),
    how_to=(r"how (?:do|does|did|can|could|should|would|to|is|are)",),
    describe=("describe", "explain", "summari[sz]e", "caption", "tell me", "identify", "analy[sz]e",
              "transcribe", "recogni[sz]e"),
    question=("what", "what's", "whats", "who", "whom", "whose", "why", "how", "where", "when", "which",
              "is there", "are there", "count",
              r"^(?:is|are|was|were|does|do|did) (?:this|that|these|those|it|the|he|she|they|there)"),  # yes/no
    text_orders=("write", "translate", "rewrite", "paraphrase", "proofread", "solve", "calculate", "compute",
                 "answer", "list", "define", "spell", "correct",
                 r"compose (?:a|an) (?:poem|haiku|letter|email|essay|story|song)"),
    edit=("edit", "replace", "change", "remove", "erase", "delete", "swap", "put", "insert", "add", "inpaint",
          "recolou?r", "fill", "alter", "modify", r"turn (?:\S+ ){0,4}into", r"apply (?:\S+ ){0,2}mask",
          "get rid of"),
    animate=(r"animat(?:e|es|ing)", "anmiate", "animte", r"bring (?:\S+ ){0,3}to life",
             r"make (?:\S+ ){0,4}(?:move|come alive|dance)", "come alive"),
    into_video=(r"(?:into|as) an? (?:\S+ ){0,2}(?:video|clip|animation)",),
    reference=(
        "reference", "identity", "featuring", "starring",
        r"same (?:person|character|subject|face|man|woman|girl|boy|dog|cat)",
        r"keep(?:ing)? (?:his|her|their|its|the) (?:face|identity|look|appearance)",
        r"(?:this|that) (?:person|subject|character|face|man|woman|girl|boy|guy|lady|kid|child|model"
        r"|actor|actress|dog|cat|pet|product|object|toy|mascot)",
    ),
    control=(
        "poses?", "depth(?! of field)", "depth map", "canny", "edges", "edge map", "sketch", "scribble",
        "controlnet", "control", "line ?art", "skeleton", "openpose", "segmentation map", "optical flow",
        r"follow(?:s|ing)? (?:the|this|that|its) (?:motion|movements?|moves|layout|structure|outline)",
        r"motion (?:guide|guidance|reference|source|control)",
        r"(?:copy|copies|copying|mimic|mimics|mimicking|imitate|imitates|imitating) (?:the|its|their|his|her)"
        r" (?:motion|movements?|moves|dance)",
        r"(?:dance )?(?:moves|movements?) (?:of|from|in) (?:\S+ ){0,2}<MEDIA>",
    ),
    video_nouns=(
        "videos?", "clips?", "animations?", "footage", "movies?", "films?", "time-?lapse", "slow[- ]motion",
        "slow[- ]?mo", "gifs?", "fps", "frames per second", "vids?", "vidoes?", "viedos?", "vedios?",
        "animatons?",
    ),
    image_nouns=(
        "images?", "pictures?", "pics?", "photos?(?![- ]?real)", "photographs?", "posters?", "drawings?",
        "paintings?", "illustrations?", "wallpapers?", "logos?", "icons?", "portraits?", "sketch(?:es)?",
        "artworks?", "stills?", "snapshots?", "renderings?", "selfies?", "thumbnails?", "imgaes?", "iamges?",
        "imges?", "picutres?", "pitcures?",
    ),
    input_words=("this", "that", "these", "those", "my", "our", "your", "given", "attached", "input", "uploaded",
                 "provided", "above", "following", "original", "source"),
    input_before=(r"(?:in|of|from) (?:the|this|my)",),
    first_frame=(
        "(?:first|opening|starting|start|initial|beginning) frame",
        rf"(?:start|begin)(?:s|ning|ing)?{_THE_VIDEO} (?:with|from|at|on) {_THE_STILL}",
    ),
    last_frame=(
        "(?:last|final|ending|closing|end) frame",
        rf"end(?:s|ing)?{_THE_VIDEO} (?:with|on|at|in) {_THE_STILL}",
    ),
    first_to_last=("from <MEDIA> to <MEDIA>", "between <MEDIA> and <MEDIA>"),
    mask_words=("mask(?:ed|s)?",),
    mask_before=(r"mask(?:ed)?(?: image| region| area| file| video)?\s*(?:is|:|=)?",),
    mask_after=("(?:as|is|for)? ?(?:the|a|my)? ?mask",),
    numbers={"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
             "eight": 8, "nine": 9, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "half a": 0.5},
    articles=("a", "an"),
    seconds=("seconds?", "secs?", r"(?<=\s)s"),  # "1.5 s"; "90s" is a decade, read by the bare-"4s" rule
    minutes=("minutes?", "mins?"),
    frames=("frames?",),
    per=("per", "a", "/"),
    size_by=("by",),
    width=("width",),
    height=("height",),
    width_after=("wide",),
    height_after=("tall", "high"),
    vertical=("vertical(?! (?:stripes?|lines?|bars?|blinds?))",
              "portrait (?:orientation|mode|format|aspect|layout)", "in portrait", "tall format"),
    horizontal=("horizontal(?! (?:stripes?|lines?|bars?))", "widescreen",
                "landscape (?:orientation|mode|format|aspect|layout)", "in landscape"),
    square=("square (?:image|picture|pic|photo|format|video|clip|aspect|frame|crop|poster|icon|logo)",
            "in square"),
    resolutions={"4k": 2160, "uhd": 2160, "2k": 1440, "qhd": 1440, "full hd": 1080, "fhd": 1080},
)
