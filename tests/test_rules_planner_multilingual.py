"""The rules planner on requests as people type them, in the languages of `planner.lexicons`.

The public set (tests/fixtures/requests_multilingual.jsonl) holds each request with the plan fields
its writer means; the score is fields right / fields stated, overall and per language.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from unison_runtime.facts import TASKS
from unison_runtime.plan import Plan
from unison_runtime.planner.cues import cjk_number, fold
from unison_runtime.planner.lexicons import lexicons
from unison_runtime.planner.rules import RulesPlanner, cross_check
from unison_runtime.request import GivenMedia, parse_request

SET = Path(__file__).parent / "fixtures" / "requests_multilingual.jsonl"
CASES = [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]
LANGUAGES = ("en", "zh-Hans", "zh-Hant", "ja", "ko", "es", "fr", "de", "pt", "ru", "it")
FIELDS = ("task", "width", "height", "num_frames", "frame_ref", "mask_index", "source_index", "reference", "control")
MIN_SCORE = 0.95


@pytest.fixture(scope="module")
def media_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("multilingual_media")
    for case in CASES:
        for name in re.findall(r"###(.+?)###", case["text"]):
            (root / name).write_bytes(b"tiny")  # parse_request checks names, never decodes
    return root


def _given(roles: dict[str, str]) -> dict[str, GivenMedia]:
    shapes = {"image": (1, 8, 8, 3), "video": (3, 8, 8, 3), "mask": (1, 8, 8)}
    return {name: GivenMedia(role, np.zeros(shapes[role], np.float32 if role == "mask" else np.uint8))
            for name, role in roles.items()}


def _plan(case, media_root) -> Plan:
    return RulesPlanner().plan(parse_request(case["text"], [media_root], _given(case.get("given", {}))))


def test_the_set_is_large_and_covers_every_language():
    assert len(CASES) >= 200
    count = defaultdict(int)
    for case in CASES:
        count[case["lang"]] += 1
        assert set(case["expect"]) <= set(FIELDS) and case["expect"]["task"] in TASKS, case
    assert all(count[lang] >= 15 for lang in LANGUAGES), dict(count)
    assert {lang.language for lang in lexicons()} == set(LANGUAGES)
    assert count["mixed"] >= 10 and count["unread"] >= 5


def test_the_set_plans_at_least_95_percent_of_its_stated_fields(media_root):
    right, stated, misses = defaultdict(int), defaultdict(int), []
    for case in CASES:
        plan = _plan(case, media_root)
        wrong = {name: (getattr(plan, name), want) for name, want in case["expect"].items()
                 if getattr(plan, name) != want}
        stated[case["lang"]] += len(case["expect"])
        right[case["lang"]] += len(case["expect"]) - len(wrong)
        if wrong:
            misses.append(f"  [{case['lang']}] {case['text']!r}: got/wanted {wrong}")
    scores = {lang: right[lang] / stated[lang] for lang in stated}
    overall = sum(right.values()) / sum(stated.values())
    table = "\n".join(f"  {lang:8} {right[lang]:4}/{stated[lang]:<4} {scores[lang]:.1%}" for lang in stated)
    report = f"overall {overall:.1%}\n{table}\nmisses:\n" + "\n".join(misses)
    assert overall >= MIN_SCORE and min(scores.values()) >= MIN_SCORE, report


def test_the_issue_requests_plan_as_meant(media_root):
    for name in ("pose.mp4", "dance.mp4", "photo.png"):
        (media_root / name).write_bytes(b"tiny")
    plan = RulesPlanner().plan
    t2v = plan("生成一段5秒的视频：一只猫在草地上奔跑")
    assert (t2v.task, t2v.num_frames) == ("text_to_video", 121)
    assert plan("Un vídeo de 2 segundos de un perro surfeando").task == "text_to_video"
    assert plan("Fais une vidéo de 3 secondes d'un chien qui court").num_frames == 73
    assert plan("creat a vidoe of a fox").task == "text_to_video"
    asks = RulesPlanner().plan(parse_request("这张图片里的猫是什么颜色？###photo.png###", [media_root]))
    assert asks.task == "image_understanding"
    guide = RulesPlanner().plan(parse_request(
        "A robot dancing, using this pose video ###pose.mp4### as the motion guide", [media_root]))
    assert (guide.task, guide.source_index) == ("video_control", 0)
    guide = RulesPlanner().plan(parse_request("Make a robot dance using ###dance.mp4### as the motion guide", [media_root]))
    assert guide.task == "video_control"


def test_cross_check_reads_other_languages_too():
    model_plan = Plan.from_tokens("<CFV>")
    checked = cross_check(model_plan, "生成一段３秒的１２８０×７２０视频，海浪")
    assert checked == model_plan  # warnings only: the model's plan stands
    assert any("1280x720" in w and "832x480 (default) is kept" in w for w in checked.warnings)
    assert any("73 frames" in w for w in checked.warnings)


# -- bad input: never an error, the default plan with a warning ---------------------------------------

@pytest.mark.parametrize("text, script", [("สร้างวิดีโอแมววิ่งบนหญ้า", "Thai"), ("ارسم قطة على القمر", "Arabic"),
                                          ("एक बिल्ली की तस्वीर बनाओ", "Devanagari"), ("צייר חתול", "Hebrew")])
def test_a_script_it_cannot_read_gets_the_default_plan_and_says_so(text, script):
    plan = RulesPlanner().plan(text)
    assert plan.task == "text_to_image" and plan.raw == "<CFI>"
    assert any(f"words in {script} script were not read" in w for w in plan.warnings), plan.warnings
    assert any("no task word recognised; planned text_to_image, the default" in w for w in plan.warnings)


def test_unread_words_among_read_ones_still_plan_from_what_is_read(media_root):
    plan = RulesPlanner().plan("Make a 3 seconds video of a ช้าง")
    assert (plan.task, plan.num_frames) == ("text_to_video", 73)
    assert any("Thai" in w for w in plan.warnings) and not any("no task word" in w for w in plan.warnings)
    media = RulesPlanner().plan(parse_request("###photo.png### ทำให้ภาพนี้เคลื่อนไหว", [media_root]))
    assert media.task == "image_reference"
    assert any("the default for a request with an image" in w for w in media.warnings)


def test_a_request_without_words_gets_the_default_plan_and_says_so():
    plan = RulesPlanner().plan("🐱🚀🌕 !!")
    assert plan.task == "text_to_image"
    assert any("no task word recognised" in w for w in plan.warnings)
    assert RulesPlanner().plan("A red fox in the snow").warnings == ()  # a description is a text-to-image prompt


@pytest.mark.parametrize("english, others", [
    ("a 10000 seconds video of the sea", ["10000 秒的海浪视频", "un vídeo de 10000 segundos del mar",
                                          "видео на 10000 секунд о море", "10000초 바다 영상"]),
    ("a picture of a cat, 99999x99999", ["一张猫的图片，99999×99999", "une image d'un chat, 99999 par 99999",
                                         "Картинка 99999х99999 с котом", "猫の画像、９９９９９×９９９９９"]),
    ("a video of the sea, 90000 frames", ["海的视频，90000帧", "un video del mar, 90000 fotogramas"]),
    ("a 2 minutes video of rain", ["видео на 2 минуты о дожде", "雨の動画、二分間", "un video di 2 minuti della pioggia"]),
])
def test_absurd_values_are_clamped_with_the_english_message(english, others):
    planner = RulesPlanner()
    wanted = planner.plan(english)
    notes = [w for w in wanted.warnings if "beyond" in w]
    assert notes, wanted.warnings
    for text in others:
        plan = planner.plan(text)
        assert (plan.width, plan.height, plan.num_frames) == (wanted.width, wanted.height, wanted.num_frames), text
        assert [w for w in plan.warnings if "beyond" in w] == notes, text


# -- reading numbers and text ------------------------------------------------------------------------

@pytest.mark.parametrize("numeral, value", [("五", 5), ("十", 10), ("十五", 15), ("二十", 20), ("一百二十", 120),
                                            ("两", 2), ("半", 0.5), ("一二", None), ("千千", 2000)])
def test_chinese_and_japanese_numerals(numeral, value):
    assert cjk_number(numeral) == value


@pytest.mark.parametrize("text, frames", [("三秒钟的视频", 73), ("５秒の動画", 121), ("un video de 1,5 segundos", 37),
                                          ("ein Video, eine halbe Minute", 241), ("видео на пять секунд", 121),
                                          ("un vídeo de medio minuto", 241), ("a video of two seconds", 49),
                                          ("a second video of a dog", None), ("un segundo perro en video", None)])
def test_durations_in_words(text, frames):
    assert RulesPlanner().plan(text).num_frames == frames


def test_folding_makes_full_width_and_accents_plain():
    assert fold("１２８０×７２０，５秒？") == "1280×720,5秒?"
    assert fold("VÍDEO Dernière Größe") == "video derniere große"
    assert fold("동영상 がぎ") == "동영상 がぎ"  # Hangul and kana survive the accent folding


def test_every_lexicon_word_is_a_valid_pattern_without_groups():
    for lexicon in lexicons():
        for name, words in vars(lexicon).items():
            if isinstance(words, tuple) and name != "scripts":
                for word in words:
                    compiled = re.compile(fold(word, lower=False).replace("<MEDIA>", "<m0>").replace("<THIS>", "x"))
                    assert compiled.groups == 0, f"{lexicon.language}.{name}: {word!r} captures"
                    plain = re.sub(r"\\[A-Za-z]|<MEDIA>|<THIS>", "", word)  # escapes like \S are no letters
                    assert plain == plain.lower(), f"{lexicon.language}.{name}: {word!r} is not lower case"


@pytest.mark.parametrize("text", ["让" * 19_000, "а" * 19_000, "を書" * 9_500, "이 " * 9_500, "ก" * 19_000,
                                  ("生成 video 5秒 세로 " * 1_000)[:19_000], "Tanzbewegung " * 1_400])
def test_long_runs_of_any_script_are_planned_quickly(text):
    start = time.perf_counter()
    RulesPlanner().plan(text)
    assert time.perf_counter() - start < 2.0  # no pattern rescans a run of letters from every position


def test_planning_stays_fast(media_root):
    requests = [parse_request(c["text"], [media_root], _given(c.get("given", {}))) for c in CASES]
    planner = RulesPlanner()
    planner.plan(requests[0])  # the patterns compile on first use
    start = time.perf_counter()
    for request in requests:
        planner.plan(request)
    per_request = (time.perf_counter() - start) / len(requests)
    assert per_request < 0.005, f"{per_request * 1e6:.0f} µs per request"
