"""Memoised file checks: repeated calls do not re-read, a changed file is read again."""

import os

from unison_runtime.file_memo import memo_on_files


def test_repeat_calls_read_once_and_a_changed_file_is_read_again(tmp_path):
    target = tmp_path / "tokenizer.json"
    target.write_text("a")
    reads = []

    @memo_on_files
    def read(path):
        reads.append(path)
        return open(path).read()

    assert read(target) == "a" and read(target) == "a"
    assert len(reads) == 1
    target.write_text("bb")  # new size (and mtime): a new key
    assert read(target) == "bb" and len(reads) == 2


def test_a_folder_is_keyed_by_its_entries(tmp_path):
    calls = []

    @memo_on_files
    def listing(folder):
        calls.append(folder)
        return sorted(os.listdir(folder))

    assert listing(tmp_path) == []
    assert listing(tmp_path) == [] and len(calls) == 1
    (tmp_path / "config.json").write_text("{}")
    assert listing(tmp_path) == ["config.json"] and len(calls) == 2


def test_failures_are_not_cached(tmp_path):
    missing = tmp_path / "nope"
    calls = []

    @memo_on_files
    def check(path):
        calls.append(path)
        if not os.path.exists(path):
            raise FileNotFoundError(path)
        return True

    for _ in range(2):
        try:
            check(missing)
        except FileNotFoundError:
            pass
    assert len(calls) == 2
    missing.write_text("x")
    assert check(missing) is True
