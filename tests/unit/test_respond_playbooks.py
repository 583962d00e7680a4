"""CACAO 2.0 playbooks: Hygie's library loads, bad files are reported with path, pointer and
line while the others still load, and every text exists in French and English."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hygie.respond.playbooks import HYGIE_EXTENSION, PlaybookError, load_file, load_library, load_text
from hygie.respond.playbooks.loader import LIBRARY, command_text, step_text

RANSOMWARE = LIBRARY / "ransomware_workstation.json"
EXPECTED = {"ransomware_workstation", "ransomware_spreading", "compromised_account", "pacs_exfiltration",
            "remote_maintenance", "phishing_credentials", "fiches_reflexes"}


def test_library_loads_without_problems() -> None:
    library = load_library()
    assert library.problems == []
    assert set(library.aliases) == EXPECTED
    for playbook in library.playbooks.values():
        assert playbook.data["spec_version"] == "cacao-2.0"
        name_fr, description_fr = playbook.text("fr")
        assert name_fr != playbook.name and description_fr  # French is really there
        for step in playbook.data["workflow"].values():
            assert step_text(step, "fr")[0], step
            for index in range(len(step.get("commands", []))):
                assert command_text(step, index, "fr") != command_text(step, index, "en")


def test_workflow_features_are_used() -> None:
    types = {step["type"] for p in load_library().playbooks.values() for step in p.data["workflow"].values()}
    assert types == {"start", "end", "action", "if-condition", "parallel", "playbook-action", "while-condition",
                     "switch-condition"}


def _broken(mutate) -> str:
    data = json.loads(RANSOMWARE.read_text(encoding="utf-8"))
    mutate(data)
    return json.dumps(data, indent=2)


def _step(data: dict, kind: str) -> dict:
    return next(s for s in data["workflow"].values() if s["type"] == kind)


@pytest.mark.parametrize("mutate, pointer_part, message", [
    (lambda d: d.update(spec_version="cacao-1.0"), "/spec_version", "cacao-2.0"),
    (lambda d: d.pop("workflow_start"), "/", "workflow_start"),
    (lambda d: _step(d, "parallel").update(type="until-condition"), "/type", "until-condition"),
    (lambda d: _step(d, "action")["commands"][0].update(type="bash"), "/commands/0/type", "bash"),
    (lambda d: _step(d, "action").update(on_completion="action--00000000-0000-4000-8000-000000000000"),
     "/on_completion", "not in the workflow"),
    (lambda d: _step(d, "if-condition").update(condition="$$ip$$ LIKE 'x'"), "/condition", "LIKE"),
    (lambda d: _step(d, "action")["commands"][0].update(command="edr.explode host=$$host$$"), "/command", "unknown action"),
    (lambda d: _step(d, "action")["commands"][0].update(command="email.send to=$$nobody$$"), "/command", "$$nobody$$"),
    (lambda d: d.update(colour="blue"), "/", "colour"),
])
def test_bad_playbooks_point_at_the_problem(mutate, pointer_part, message) -> None:
    text = _broken(mutate)
    with pytest.raises(PlaybookError) as caught:
        load_text(text, "bad.json")
    problem = caught.value.problems[0]
    assert problem.path == "bad.json" and pointer_part in (problem.pointer or "/") and message in str(problem)
    assert problem.line is not None and problem.line >= 1
    if problem.pointer:  # the line is the one holding that value
        key = problem.pointer.rsplit("/", 1)[1]
        assert key in text.splitlines()[problem.line - 1] or not key.isidentifier()


def test_cycles_and_syntax_errors_are_refused() -> None:
    def loop(data: dict) -> None:
        end_id = next(k for k, s in data["workflow"].items() if s["type"] == "end")
        start = data["workflow"][data["workflow_start"]]
        data["workflow"][end_id] = {"type": "action", "commands": [{"type": "manual", "command": "again"}],
                                    "on_completion": start["on_completion"]}
    with pytest.raises(PlaybookError, match="loops back"):
        load_text(_broken(loop))
    with pytest.raises(PlaybookError) as caught:
        load_text('{\n  "type": "playbook",\n  "id": \n}', "syntax.json")
    assert caught.value.problems[0].line == 4 and "not JSON" in str(caught.value)


def test_a_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    shutil.copy(RANSOMWARE, tmp_path / "good_copy.json")
    (tmp_path / "broken.json").write_text(_broken(lambda d: d.update(id="playbook--not-a-uuid")), encoding="utf-8")
    library = load_library([tmp_path])
    assert len(library.playbooks) == len(EXPECTED)  # the copy has the same id: it replaces the original
    assert [p.path for p in library.problems] == [str(tmp_path / "broken.json")]
    assert library.problems[0].pointer == "/id" and library.problems[0].line == 4
    assert load_file(tmp_path / "good_copy.json").name == "Ransomware on a workstation"


def test_extension_is_declared_where_used() -> None:
    for playbook in load_library().playbooks.values():
        assert HYGIE_EXTENSION in playbook.data["extension_definitions"]


SPREADING = LIBRARY / "ransomware_spreading.json"


def _broken_spreading(mutate) -> str:
    data = json.loads(SPREADING.read_text(encoding="utf-8"))
    mutate(data)
    return json.dumps(data, indent=2)


def _id(data: dict, kind: str) -> str:
    return next(k for k, s in data["workflow"].items() if s["type"] == kind)


def _command_step(data: dict, action: str) -> dict:
    return next(s for s in data["workflow"].values() if any(action in c.get("command", "") for c in s.get("commands", [])))


@pytest.mark.parametrize("mutate, pointer_part, message", [
    (lambda d: _step(d, "while-condition").pop("on_true"), "/workflow/while-condition--", "on_true"),
    (lambda d: _step(d, "while-condition").update(condition="$$host_list$$ ~ 'x'"), "/condition", "cannot read"),
    (lambda d: _step(d, "while-condition").update(condition="$$hosts$$ != ''"), "/condition", "$$hosts$$"),
    (lambda d: _step(d, "switch-condition").pop("cases"), "/workflow/switch-condition--", "cases"),
    (lambda d: _step(d, "switch-condition").update(switch="host_criticality"), "/switch", "does not match"),
    (lambda d: _step(d, "switch-condition").update(switch="$$criticality$$"), "/switch", "$$criticality$$"),
    (lambda d: _step(d, "switch-condition")["cases"].update(vital="action--00000000-0000-4000-8000-000000000000"),
     "/cases/vital", "not in the workflow"),
    (lambda d: _command_step(d, "hygie.shift")["commands"][0].update(command="hygie.shift from=host_list into=nothing"),
     "/command", "$$nothing$$ is not declared"),
    (lambda d: _command_step(d, "hygie.shift")["commands"][0].update(command="hygie.shift into=current_host"),
     "/command", "needs from="),
    (lambda d: _command_step(d, "hygie.shift")["commands"].append({"type": "manual", "command": "and a person"}),
     "/commands", "alone in their step"),
])
def test_bad_loops_and_switches_name_the_file_and_the_step(mutate, pointer_part, message) -> None:
    text = _broken_spreading(mutate)
    with pytest.raises(PlaybookError) as caught:
        load_text(text, "spreading_bad.json")
    problem = caught.value.problems[0]
    assert problem.path == "spreading_bad.json" and pointer_part in problem.pointer and message in str(problem), \
        str(caught.value)
    assert problem.pointer.startswith("/workflow/") and problem.line is not None
    assert str(problem).startswith("spreading_bad.json:")


def test_a_loop_body_that_points_back_to_its_loop_is_a_cycle() -> None:
    def back(data: dict) -> None:
        _command_step(data, "edr.isolate host=$$current_host$$")["on_completion"] = _id(data, "while-condition")
    with pytest.raises(PlaybookError, match="loops back"):
        load_text(_broken_spreading(back), "spreading_cycle.json")


def test_the_spreading_playbook_loops_over_hosts_and_switches_on_criticality() -> None:
    playbook = load_library().get("ransomware_spreading")
    assert playbook is not None
    loop = _step(playbook.data, "while-condition")
    switch = _step(playbook.data, "switch-condition")
    assert loop["condition"] == "$$host_list$$ != ''" and set(switch["cases"]) == {"vital", "important", "default"}
    assert step_text(loop, "fr")[0] == "Pour chaque poste touché"
