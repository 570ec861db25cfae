"""web/unison_facts.js, what the frontend hides settings by, is generated from unison_runtime/facts.py
(scripts/make_web_facts.py): current, and naming only real widgets and choices of the nodes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from executor import v1_spec

PACK = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PACK / "scripts"))
import make_web_facts  # noqa: E402


def test_the_frontend_facts_are_current():
    result = subprocess.run([sys.executable, str(PACK / "scripts" / "make_web_facts.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_changed_table_makes_the_file_out_of_date(monkeypatch, capsys):
    from unison_runtime import facts

    changed = dict(facts.ANNOTATOR_SETTINGS_OF_MODE, bbox=("width", "height"))
    monkeypatch.setattr(facts, "ANNOTATOR_SETTINGS_OF_MODE", changed)
    assert make_web_facts.main(["--check"]) == 1
    assert capsys.readouterr().out.strip() == f"out of date: {Path('web', 'unison_facts.js')}"


def test_each_choice_and_setting_is_a_widget_of_its_node():
    from nodes import NODE_CLASS_MAPPINGS

    for node_id, table in make_web_facts.widgets_of_choice().items():
        declared = NODE_CLASS_MAPPINGS[node_id].INPUT_TYPES()["required"]
        choices = v1_spec(declared[table["choice"]])[0]
        assert set(table["shows"]) == set(choices), node_id  # every value of the combo, no other
        settings = set().union(*map(set, table["shows"].values()))
        assert settings <= set(declared) and table["choice"] not in settings, node_id
