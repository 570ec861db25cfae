"""The lexicons compiled into one pattern per cue, and the text folding they are matched on.

Every cue is the union of the languages' fragments for it, so a request may mix languages
("生成一个video, 3 seconds"). Only the languages whose scripts occur in a request are compiled
into its patterns (a cue cannot match without its letters), once per combination of scripts and
on first use, so importing stays cheap and planning fast.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from .lexicons import Lexicon, lexicons

MEDIA = r"<m\d+>"  # an attached file's place in the text the rules read
# Letters of the scripts whose words are separated by spaces: a cue must not touch another letter
# of its own script (digits count as letters, so "4k" is not read in "64kb").
_SCRIPT_LETTERS = {"LATIN": "a-z\u00df-\u024f", "CYRILLIC": "\u0400-\u04ff",
                   "HANGUL": "\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3"}
_COMBINING_ACCENTS = re.compile("[\u0300-\u036f]")
_SCRIPT_KINDS = (" LETTER", " SYLLABLE", " CHARACTER", " IDEOGRAPH")  # names of letters that have a script
CJK_NUMERAL = "[零〇一二两兩三四五六七八九十百千]+"
_CJK_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5,
               "六": 6, "七": 7, "八": 8, "九": 9}
_CJK_UNITS = {"十": 10, "百": 100, "千": 1000}


def fold(text: str, lower: bool = True) -> str:
    """NFKC (full-width digits, letters and punctuation become plain), lower case, Latin and
    Cyrillic accents dropped (Japanese and Korean keep theirs: only U+0300..U+036F go), and the
    Arabic question mark read as "?". Patterns are folded the same way, without lower-casing."""
    text = unicodedata.normalize("NFKC", text)
    if lower:
        text = text.lower()
    stripped = _COMBINING_ACCENTS.sub("", unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFC", stripped).replace("\u061f", "?")


def scripts_in(text: str) -> frozenset[str]:
    """The Unicode scripts of `text`'s letters ("LATIN", "CJK", "HANGUL", "THAI"...)."""
    found = {"LATIN"}  # digits, "4k", "1080p" and English words turn up in every language
    for char in set(text):
        if ord(char) < 0x80 or not char.isalpha():
            continue
        name = unicodedata.name(char, "")
        if any(kind in name for kind in _SCRIPT_KINDS):  # not "ª" and the like
            found.add(name.split(" ")[0].split("-")[0])
    return frozenset(found)


@lru_cache(maxsize=1)
def readable_scripts() -> frozenset[str]:
    """The scripts some lexicon reads."""
    return frozenset(script for lexicon in lexicons() for script in lexicon.scripts)


def cjk_number(numeral: str) -> float | None:
    """五 -> 5, 十五 -> 15, 二十 -> 20, 一百二十 -> 120, 半 -> 0.5; None when it is no number."""
    if numeral == "半":
        return 0.5
    total, digit = 0, None
    for char in numeral:
        if char in _CJK_DIGITS:
            if digit is not None:  # two digits in a row ("一二") is no number
                return None
            digit = _CJK_DIGITS[char]
        elif char in _CJK_UNITS:
            total += (1 if digit is None else digit) * _CJK_UNITS[char]
            digit = None
        else:
            return None
    return float(total + (digit or 0))


def amount_value(word: str, table: dict[str, float]) -> float | None:
    """A duration's number: digits ("1,5" is 1.5), a number word, or a CJK numeral."""
    if word in table:
        return table[word]
    if word[0].isdigit():
        return float(word.replace(",", "."))
    return cjk_number(word)


@dataclass(frozen=True)
class Cues:
    """One compiled pattern per cue (see `lexicons.Lexicon` for what each means)."""

    generate: re.Pattern
    polite: re.Pattern
    how_to: re.Pattern
    describe: re.Pattern
    question: re.Pattern
    text_order: re.Pattern
    edit: re.Pattern
    animate: re.Pattern  # an order to animate
    animating: re.Pattern  # anything that makes an image the start of a video: animate, into a video, frame words
    reference: re.Pattern
    control: re.Pattern
    video_noun: re.Pattern
    image_noun: re.Pattern
    input_before: re.Pattern  # matched on the text just before a noun: it names an input
    input_after: re.Pattern  # matched at the text just after a noun
    first_frame: re.Pattern
    last_frame: re.Pattern
    first_to_last: re.Pattern
    mask_word: re.Pattern
    mask_in_name: re.Pattern
    mask_before: re.Pattern
    mask_after: re.Pattern
    duration: re.Pattern  # groups: amount, seconds unit | minutes unit
    frames: re.Pattern
    explicit_size: re.Pattern
    width: re.Pattern
    height: re.Pattern
    resolution: re.Pattern  # groups: "<N>p" number | resolution word
    aspect: re.Pattern
    vertical: re.Pattern
    horizontal: re.Pattern
    square: re.Pattern
    number_words: dict[str, float]
    articles: frozenset[str]
    resolutions: dict[str, int]


@lru_cache(maxsize=32)
def cues(scripts: frozenset[str] | None = None) -> Cues:
    """The cues of the lexicons written in `scripts` (None: every lexicon)."""
    return _Compiler(tuple(lex for lex in lexicons() if scripts is None or scripts & set(lex.scripts))).cues()


class _Compiler:
    """Builds each cue's pattern from a set of lexicons."""

    def __init__(self, chosen: tuple[Lexicon, ...]):
        self.lexicons = chosen

    def words(self, *names: str, before: bool = True, after: bool = True) -> str:
        """The regex source matching any lexicon's cue `names`. Lexicons with the same word
        edges share one group, so the edges are tested once per position."""
        groups: dict[tuple[str, str], list[str]] = {}
        for lexicon in self.lexicons:
            entries = [word for name in names for word in getattr(lexicon, name)]
            if not entries:
                continue
            body = _alternatives(entries).replace("<MEDIA>", MEDIA)
            if "<THIS>" in body:
                body = body.replace("<THIS>", f"(?:{_alternatives(lexicon.input_words)})")
            groups.setdefault(_edges(lexicon, before, after), []).append(body)
        return "|".join(f"{start}(?:{'|'.join(bodies)}){end}" for (start, end), bodies in groups.items()) or "(?!)"

    def at_start(self, name: str, whole_word: bool) -> str:
        """Any lexicon's `name` cue at the start of the text (polite openings carry their own space)."""
        return "^(?:" + self.words(name, before=False, after=whole_word) + ")"

    def raw(self, name: str) -> str:
        """The fragments of `name` with no word edges (they sit between digits: "1280 por 720")."""
        return _alternatives(word for lexicon in self.lexicons for word in getattr(lexicon, name)) or "(?!)"

    def amount(self) -> str:
        spaced = [lex for lex in self.lexicons if lex.numbers and lex.spaced]
        words = "|".join(_wrap(lex, _alternatives(lex.numbers)) for lex in spaced)
        unspaced = _alternatives(word for lex in self.lexicons if not lex.spaced for word in lex.numbers)
        return (r"(?<![\d.])(?<!\d,)\d{1,6}(?:\.\d{1,3}|,\d{1,2}(?!\d))?|" + (f"{words}|" if words else "")
                + (f"{unspaced}|" if unspaced else "") + f"{CJK_NUMERAL}|半")

    def side(self, before: str, after: str) -> re.Pattern:
        return re.compile(rf"(?:{self.words(before)})[^\d\n]{{0,8}}?(\d{{2,5}})(?!\d)"
                          rf"|(?<!\d)(\d{{2,5}})\s*(?:px|pixels?)\s*(?:{self.words(after)})")

    def input_before(self) -> re.Pattern:
        parts = [rf"{MEDIA}\s*$"]
        other_noun = self.words("image_nouns", "video_nouns")
        for lexicon in self.lexicons:
            words = _alternatives(lexicon.input_words)
            if words and lexicon.spaced:  # "this red photo"; in "이 사진으로 영상" 이 is the photo's
                parts.append(rf"(?<![{_letters(lexicon)}])(?:{words})\s+(?:(?!{other_noun})\S+\s+)?$")
            elif words:
                parts.append(rf"(?:{words})[^\s<>]{{0,3}}\s*$")  # 这张高清图片
            if lexicon.input_before:
                parts.append(rf"{_wrap(lexicon, _alternatives(lexicon.input_before), after=False)}\s*$")
        return re.compile("|".join(parts))

    def cues(self) -> Cues:
        compile_, words = re.compile, self.words
        units = {name: words(name, before=False) for name in ("seconds", "minutes", "frames")}  # "5sec", "5秒"
        rate = rf"(?!\s*(?:{self.raw('per')})\s*(?:s|秒|сек|초))"  # "24 frames per second"
        size = rf"(?<![\d.])(\d{{2,5}})\s*(?:px\s*)?(?:x|×|\*|{self.raw('size_by')})\s*(\d{{2,5}})(?!\d)"
        resolution = rf"(?<![a-z0-9.])(360|480|540|576|720|1080|1440|2160)\s*p(?![a-z0-9])|({words('resolutions')})"
        return Cues(
            generate=compile_(words("generate")),
            polite=compile_(self.at_start("polite", whole_word=False)),
            how_to=compile_(words("how_to")),
            describe=compile_(words("describe")),
            question=compile_(words("question")),
            text_order=compile_(self.at_start("text_orders", whole_word=True)),
            edit=compile_(words("edit")),
            animate=compile_(words("animate")),
            animating=compile_(words("animate", "into_video", "first_frame", "last_frame")),
            reference=compile_(words("reference")),
            control=compile_(words("control")),
            video_noun=compile_(words("video_nouns")),
            image_noun=compile_(words("image_nouns")),
            input_before=self.input_before(),
            input_after=compile_(rf"\s*:?\s*{MEDIA}|(?:{words('input_after', before=False, after=False)})"),
            first_frame=compile_(words("first_frame")),
            last_frame=compile_(words("last_frame")),
            first_to_last=compile_(words("first_to_last")),
            mask_word=compile_(words("mask_words")),
            mask_in_name=compile_(self.raw("mask_words")),
            mask_before=compile_(rf"(?:{words('mask_before', after=False)})\s*$"),
            mask_after=compile_(rf"^\s*(?:{words('mask_after')})"),
            duration=compile_(rf"({self.amount()})\s*-?\s*(?:({units['seconds']})|({units['minutes']}))"),
            frames=compile_(rf"(?<![\d.])(?<!每秒)(\d{{1,6}})\s*-?\s*(?:{units['frames']}){rate}"),
            explicit_size=compile_(size),
            width=self.side("width", "width_after"),
            height=self.side("height", "height_after"),
            resolution=compile_(resolution),
            aspect=compile_(rf"(?<![\d:])(\d{{1,2}})\s*(?::|{self.raw('ratio_by')})\s*(\d{{1,2}})(?![\d:])"),
            vertical=compile_(words("vertical")),
            horizontal=compile_(words("horizontal")),
            square=compile_(words("square")),
            number_words={fold(w): v for lex in self.lexicons for w, v in lex.numbers.items()},
            articles=frozenset(fold(w) for lex in self.lexicons for w in lex.articles),
            resolutions={fold(w): v for lex in self.lexicons for w, v in lex.resolutions.items()},
        )


def _letters(lexicon: Lexicon) -> str:
    return "0-9" + "".join(_SCRIPT_LETTERS.get(script, "") for script in lexicon.scripts)


def _alternatives(words) -> str:
    return "|".join(dict.fromkeys(_bounded(fold(word, lower=False)) for word in words))


def _bounded(pattern: str) -> str:
    """`\\w*` and `\\w+` (endings, compounds) as at most 24 letters: `\\w` matches any script's
    letters, so an unbounded one would rescan a long run of them from every position."""
    return pattern.replace(r"\w*", r"\w{0,24}").replace(r"\w+", r"\w{1,24}")


def _edges(lexicon: Lexicon, before: bool = True, after: bool = True) -> tuple[str, str]:
    """What must not touch a cue of `lexicon` on each side: a letter of its own script (nothing
    for unspaced scripts; nothing after for suffixed ones)."""
    if not lexicon.spaced:
        return "", ""
    letters = _letters(lexicon)
    return (f"(?<![{letters}])" if before else "",
            f"(?![{letters}])" if after and not lexicon.suffixed else "")


def _wrap(lexicon: Lexicon, body: str, before: bool = True, after: bool = True) -> str:
    start, end = _edges(lexicon, before, after)
    return f"{start}(?:{body}){end}"
