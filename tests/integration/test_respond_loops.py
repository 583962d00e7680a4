"""CACAO while-condition and switch-condition on a real state store: the ransomware-spreading
playbook walks every host of the case and isolates each according to its care criticality
(against the HTTP recorder standing for the EDR), step by step on the timeline in French and
English; a loop past its cap fails the run with a clear reason; a switch without a match and
without a default goes on after it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from hygie.respond import cases, control, runs, timeline
from hygie.respond.actions import Toolkit
from hygie.respond.playbooks import load_library, load_text
from hygie.respond.playbooks.loader import LIBRARY
from hygie.store.state import audit
from hygie.store.state.intel_assets_store import upsert_assets
from hygie.store.state.models_cases import Observable
from tests.integration.respond_peers import HttpRecorder
from tests.integration.test_respond_ransomware_e2e import seed_case

HOSTS = ["PC-RADIO-01", "PC-ADMIN-02", "PC-LAB-03"]


def _case_with_hosts(dsn: str) -> tuple[object, int]:
    engine, _alert_id, case_id = seed_case(dsn)
    with Session(engine) as session, session.begin():
        for host in HOSTS[1:]:
            session.add(Observable(case_id=case_id, tenant_id="chu-nord", kind="host", value=host))
    upsert_assets(engine, None, "chu-nord", [{"host": "PC-RADIO-01", "criticality": "vital", "product": "PACS"},
                                             {"host": "pc-admin-02", "criticality": "important"}])
    return engine, case_id


def _toolkit(http: HttpRecorder | None = None) -> Toolkit:
    settings = {"defaults": {}, "tenants": {"chu-nord": {"edr": {
        "kind": "generic", "base_url": http.url if http else "http://127.0.0.1:9", "token": "edr-token",
        "isolate": {"method": "POST", "path": "/hosts/{host}/isolate"},
        "release": {"method": "POST", "path": "/hosts/{host}/release"}}}}}
    return Toolkit(load_library(), settings, default_timeout=5)


def test_dry_run_walks_every_host_and_switches_on_criticality(state_dsn) -> None:
    engine, case_id = _case_with_hosts(state_dsn)
    toolkit = _toolkit()
    run_id = runs.start_run(engine, frozenset({"chu-nord"}), toolkit, "ransomware_spreading", "analyst",
                            case_id=case_id, dry_run=True)
    view = runs.get_run(engine, None, run_id)
    assert view is not None and view.run.status == "done", view.run.error
    loops = [s for s in view.steps if s.step_type == "while-condition"]
    assert [(s.result["condition"], s.result["iteration"]) for s in loops] == [(True, 1), (True, 2), (True, 3), (False, 0)]
    switches = [s.result for s in view.steps if s.step_type == "switch-condition"]
    assert switches == [{"value": "vital", "case": "vital"}, {"value": "important", "case": "important"},
                        {"value": "unknown", "case": "default"}]
    isolations = [s for s in view.steps if any(c["action"] == "edr.isolate" for c in s.commands)]
    assert [s.status for s in isolations] == ["dry_run"] * 3
    assert [[c["args"].get("host") for c in s.commands if c["action"] == "edr.isolate"][0] for s in isolations] == HOSTS
    assert isolations[0].name.startswith("Vital care system") and isolations[1].name == "Isolate the host"
    assert view.run.variables["$$host_list$$"] == "" and view.run.variables["$$current_host$$"] == "PC-LAB-03"
    # the steps after the loop ran too (on_false), and the called staff playbook
    assert any(s.name == "Disable the account used to spread" for s in view.steps)

    entries = cases.get_case(engine, None, case_id).timeline  # type: ignore[union-attr]
    english = [timeline.entry_text(e, "en") for e in entries]
    french = [timeline.entry_text(e, "fr") for e in entries]
    assert english == [e.text for e in entries]  # the stored text is the English rendering
    assert "while-condition: For each affected host -> true (iteration 2)" in english
    assert "boucle tant que : Pour chaque poste touché -> vrai (itération 2)" in french
    assert "aiguillage : Isoler selon la criticité pour les soins -> unknown (cas par défaut)" in french
    assert "switch-condition: Isolate according to care criticality -> vital (case vital)" in english
    assert "while-condition: For each affected host -> false" in english
    assert any(t.startswith("Étape effectuée : Chercher la criticité du poste pour les soins : PC-ADMIN-02 : importante")
               for t in french)
    assert any(t.startswith("Playbook démarré (simulation) : Rançongiciel se propageant") for t in french)
    # connectors' summaries are keyed too: the French line is French through and through
    assert any(t.startswith("Simulation : Isoler le poste : demanderait à http://127.0.0.1:9 d'isoler PC-")
               for t in french)
    assert any(t.startswith("Dry run: Isolate the host: would ask http://127.0.0.1:9 to isolate PC-") for t in english)
    assert any("demanderait au personnel : Appeler le cadre du service" in t for t in french)
    assert french[-1] == "Playbook terminé : Rançongiciel se propageant sur plusieurs postes"
    assert audit.verify(engine).ok


def test_real_run_isolates_each_host_after_approval(state_dsn) -> None:
    engine, case_id = _case_with_hosts(state_dsn)
    http = HttpRecorder().start()
    try:
        toolkit = _toolkit(http)
        run_id = runs.start_run(engine, None, toolkit, "ransomware_spreading", "analyst", case_id=case_id)
        decided = []
        for _ in range(40):
            view = runs.get_run(engine, None, run_id)
            assert view is not None
            if view.run.status != "waiting":
                break
            step = [s for s in view.steps if s.status == "awaiting_approval"][0]
            isolate = any(c["action"] == "edr.isolate" for c in step.commands)
            decided.append((step.name, isolate))
            runs.decide(engine, None, toolkit, run_id, step.id, "analyst", approve=isolate)
        view = runs.get_run(engine, None, run_id)
        assert view is not None and view.run.status == "done", view.run.error
        assert [p for p in http.paths("POST") if p.endswith("/isolate")] == [f"/hosts/{h}/isolate" for h in HOSTS]
        assert [name for name, isolate in decided if isolate] == [
            "Vital care system: switch the unit to downtime procedures, then isolate", "Isolate the host",
            "Isolate the host"]
        # each isolation can be undone: release in reverse order
        outcomes = runs.rollback(engine, None, toolkit, run_id, "analyst")
        assert all(o.ok for o in outcomes) and len(outcomes) == 3
        assert [p for p in http.paths("POST") if p.endswith("/release")] == [f"/hosts/{h}/release" for h in reversed(HOSTS)]
        french = [timeline.entry_text(e, "fr") for e in cases.get_case(engine, None, case_id).timeline]  # type: ignore[union-attr]
        assert any(t.startswith("Retour arrière effectué : Isoler le poste") for t in french)
        assert any(t.startswith("Étape refusée : Prévenir la cellule de crise par courriel") for t in french)
        assert audit.verify(engine).ok
    finally:
        http.stop()


def _loop_playbook(condition: str, switch_cases: dict[str, str] | None = None) -> Toolkit:
    """A small playbook: a loop whose body only looks up a criticality, or a switch."""
    data = json.loads((LIBRARY / "fiches_reflexes.json").read_text(encoding="utf-8"))
    data["id"] = "playbook--11111111-2222-4333-8444-555555555555"
    data["name"] = "Loop test"
    data["playbook_variables"] = {"$$case_id$$": {"type": "string", "external": True},
                                  "$$level$$": {"type": "string", "value": "none"}}
    start, loop, body, switch, end = (f"{kind}--0000000{i}-0000-4000-8000-000000000000" for i, kind in
                                      enumerate(("start", "while-condition", "action", "switch-condition", "end")))
    data["workflow_start"] = start
    data["workflow"] = {
        start: {"type": "start", "on_completion": switch if switch_cases else loop},
        loop: {"type": "while-condition", "name": "Forever", "condition": condition, "on_true": body, "on_false": end},
        body: {"type": "action", "name": "Look", "commands": [
            {"type": "x-hygie-action", "command": "hygie.criticality host=$$case_id$$ into=level"}]},
        switch: {"type": "switch-condition", "name": "Pick", "switch": "$$level$$", "cases": switch_cases or {"x": end},
                 "on_completion": end},
        end: {"type": "end"}}
    data.pop("playbook_extensions", None)
    playbook = load_text(json.dumps(data), "loop_test.json")
    library = load_library()
    library.playbooks[playbook.id] = playbook
    return Toolkit(library)


def test_a_loop_past_its_cap_fails_the_run_and_says_why(state_dsn, monkeypatch) -> None:
    engine, _alert_id, case_id = seed_case(state_dsn)
    monkeypatch.setattr(control, "MAX_ITERATIONS", 5)
    toolkit = _loop_playbook("$$case_id$$ != ''")
    run_id = runs.start_run(engine, None, toolkit, "playbook--11111111-2222-4333-8444-555555555555", "analyst",
                            case_id=case_id)
    view = runs.get_run(engine, None, run_id)
    assert view is not None and view.run.status == "failed"
    assert view.run.error == "while-condition Forever is still true after 5 iterations (the cap)"
    assert len([s for s in view.steps if s.step_type == "while-condition"]) == 5
    assert len([s for s in view.steps if s.name == "Look"]) == 5
    french = timeline.entry_text(cases.get_case(engine, None, case_id).timeline[-1], "fr")  # type: ignore[union-attr]
    assert french == "Échec du playbook : la boucle Forever est encore vraie après 5 itérations (le plafond)"


def test_a_switch_without_match_or_default_goes_on(state_dsn) -> None:
    engine, _alert_id, case_id = seed_case(state_dsn)
    toolkit = _loop_playbook("$$case_id$$ = ''", {"vital": "action--00000002-0000-4000-8000-000000000000"})
    run_id = runs.start_run(engine, None, toolkit, "playbook--11111111-2222-4333-8444-555555555555", "analyst",
                            case_id=case_id)
    view = runs.get_run(engine, None, run_id)
    assert view is not None and view.run.status == "done"
    assert [s.result for s in view.steps if s.step_type == "switch-condition"] == [{"value": "none", "case": None}]
    assert not [s for s in view.steps if s.name == "Look"]


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_old_timeline_rows_without_a_key_still_show(lang) -> None:
    class Row:
        text = "Playbook started: something"
        data = {"run_id": 1}
    assert timeline.entry_text(Row(), lang) == "Playbook started: something"
    assert timeline.render("x", {"msg": "run.started", "args": {}}, lang) == "x"  # a missing parameter: the text
