"""The rules planner's languages, as data: one `Lexicon` per language, one module each.

Each field is a tuple of regular-expression fragments: the words and phrases of one cue, written
as people type them, in lower case, accents and all, with non-capturing groups only. Text and
fragments are folded alike before matching (`planner.cues.fold`: NFKC, so full-width ５秒 /
１２８０×７２０ / ？ read as 5秒 / 1280×720 / ?; lower case; Latin and Cyrillic accents dropped, so
"video" matches "vídeo"). `\\w*` and `\\w+` (endings: "сделай\\w*", compounds: "\\w*video") match
at most 24 letters, so a long word cannot slow planning. Two placeholders: `<MEDIA>` stands where
an attached file sits in the text (`###photo.png###` or `{image1}`), `<THIS>` for the lexicon's
own `input_words`. A language whose words are separated by spaces (`spaced`) has its cues matched
as whole words of its own script (so "video" is found in "一个video的"); Chinese and Japanese are
matched as substrings; Korean (`suffixed`) as word starts, since particles follow the word
("영상으로"). Only the lexicons whose scripts occur in a request are compiled into its patterns.

Sizes each word means (the logic in `planner.reading`, the words here):
    "<w>x<h>", "<w>×<h>", "<w> by <h>" (and each language's `size_by`: por, par, mal, на, 乘)
                     the size as stated; sides above 2048 are scaled down keeping the aspect
    "480p" 640x480 (the reference's mapping), "360p" 640x360, "540p" 960x540, "576p" 1024x576,
    "720p" 1280x720, "1080p" 1920x1080 (-> 1920x1088), "1440p"/"2k"/"qhd" 2560x1440 (-> 2048x1152),
    "2160p"/"4k"/"uhd"/超高清 3840x2160 (-> 2048x1152); "full hd"/"fhd"/全高清/フルhd 1920x1080.
    "16:9" 1280x720, "9:16" 720x1280 (the reference's); ours: "1:1" 1024x1024, "4:3" 1024x768,
    "3:4" 768x1024, "3:2" 1152x768, "2:3" 768x1152, "21:9" 1680x720 (also "16比9").
    `vertical` words (vertical, portrait orientation, 竖屏, 直式, 縦長, 세로, hochformat...) 720x1280
    as the reference writes "vertical"; `horizontal` words (widescreen, 横屏, 横長, 가로, paysage,
    querformat...) 1280x720, our choice; `square` words (square image, 方形图, 正方形の画像,
    imagen cuadrada...) 1024x1024, our choice. A "<N>p" word with an orientation word keeps N as
    the short side ("720p vertical" -> 720x1280). Bare "portrait"/"retrato"/"paysage" name a genre,
    not a shape, so only their orientation phrases count; "高清"/"hd" map to no size.
Durations: a number (digits, 1.5 or 1,5, the language's `numbers`, Chinese/Japanese numerals such
as 五, 十五, 两, 半) then a unit of `seconds` / `minutes`, or a count of `frames`: n seconds ->
round(24 n) + 1 frames, n frames -> n + 1 (the reference's data), then Wan's 4k+1 and at most 241.

To add a language: write `<code>.py` here with `LEXICON = Lexicon(language=..., scripts=(...), ...)`
filling the fields below (empty ones are fine: English's show every kind), add it to `_MODULES`,
and add its requests to tests/fixtures/requests_multilingual.jsonl (the test scores every language).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cache

Words = tuple[str, ...]


@dataclass(frozen=True)
class Lexicon:
    """One language's cue words (regex fragments, lower case; see the module docstring)."""

    language: str  # a BCP-47 tag: "en", "zh-Hans"...
    scripts: tuple[str, ...]  # Unicode script names its words are in: LATIN, CYRILLIC, CJK, HIRAGANA...
    spaced: bool = True  # words are separated by spaces: a cue is a whole word of the script
    suffixed: bool = False  # particles and endings follow words (Korean): a cue is a word start
    # -- what is asked ------------------------------------------------------------------------
    generate: Words = ()  # orders to make something: create, draw, 生成, 画
    polite: Words = ()  # an opening that makes a question an order, matched at the start: "can you "
    how_to: Words = ()  # asks how to do something (so "make" in it orders nothing): "how do"
    describe: Words = ()  # asks for words about something: describe, explain, 描述
    question: Words = ()  # question words: what, why, 什么 (a "?" anywhere at the end counts too)
    text_orders: Words = ()  # orders whose output is text, matched at the start: write, translate
    edit: Words = ()  # change something that exists: replace, remove, 换成
    animate: Words = ()  # orders to make a still image move: animate, make it move, 动起来
    into_video: Words = ()  # the output named as a video made of an input: "into a video", 变成视频
    reference: Words = ()  # a subject or identity to keep: this person, featuring, 这个人
    control: Words = ()  # a control input: pose, depth, edges, scribble, motion guide, 姿态
    video_nouns: Words = ()  # video, clip, 视频
    image_nouns: Words = ()  # image, photo, pic, 图片
    input_words: Words = ()  # words before a noun that point at an attached file: this, my, 这张
    input_before: Words = ()  # phrases before a noun that place it in an input: "in the"
    input_after: Words = ()  # words after a noun that place something in it: 里, 中
    first_frame: Words = ()  # the image is the first frame: "first frame", 首帧
    last_frame: Words = ()  # the image is the last frame: "ending on <MEDIA>", 最后一帧
    first_to_last: Words = ()  # two images, first and last: "from <MEDIA> to <MEDIA>"
    mask_words: Words = ()  # the word for a mask (also read in file names): mask, 蒙版
    mask_before: Words = ()  # written just before a file, says it is the mask: "the mask is:"
    mask_after: Words = ()  # written just after a file, says it is the mask: "as the mask"
    # -- numbers and sizes --------------------------------------------------------------------
    numbers: dict[str, float] = field(default_factory=dict)  # number words: "five": 5
    articles: Words = ()  # "a"/"one" words that before a seconds word are ordinals ("a second dog")
    seconds: Words = ()  # units: seconds, secs, 秒
    minutes: Words = ()
    frames: Words = ()  # frame-count units: frames, 帧
    per: Words = ()  # "per" words: "24 frames per second" is a rate, not a count
    size_by: Words = ()  # between width and height besides x, ×, *: "by", "por"
    ratio_by: Words = ()  # between the sides of an aspect ratio besides ":": 比
    width: Words = ()  # written before the width: "width", "ancho"
    height: Words = ()
    width_after: Words = ()  # written after "<n> px": "wide"
    height_after: Words = ()
    vertical: Words = ()
    horizontal: Words = ()
    square: Words = ()
    resolutions: dict[str, int] = field(default_factory=dict)  # word -> short side: "4k": 2160


_MODULES = ("en", "zh_hans", "zh_hant", "ja", "ko", "es", "fr", "de", "pt", "ru", "it")


@cache
def lexicons() -> tuple[Lexicon, ...]:
    """Every language the rules planner reads, English first."""
    return tuple(importlib.import_module(f"{__name__}.{name}").LEXICON for name in _MODULES)
