"""Response in the console: a playbook run waits for an analyst's approval, a hospital user
cannot approve it; a significant incident's NIS 2 deadlines count down on the case and the
overview, with report drafts; care services' status gives the recovery time."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from hygie.respond import cases
from hygie.store.state import audit
from tests.integration.console_util import PASSWORD, app_for, seed


def _login(app, username: str, case_id: int) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    client.post("/login", data={"username": username, "password": PASSWORD})
    page = client.get(f"/cases/{case_id}")
    return client, re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def _setup(tmp_path):  # type: ignore[no-untyped-def]
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    case_id = cases.create_case(seeded.context.engine, None, seeded.alert_ids["chu-nord"][:1], "admin")
    return seeded, app_for(seeded), case_id


def test_a_playbook_step_waits_for_an_analyst(tmp_path) -> None:
    seeded, app, case_id = _setup(tmp_path)
    analyst, csrf = _login(app, "analyst", case_id)
    started = analyst.post(f"/cases/{case_id}/runs", data={"csrf_token": csrf, "playbook": "fiches_reflexes"},
                           follow_redirects=False)
    assert started.status_code == 303
    page = analyst.get(f"/cases/{case_id}").text
    step_url = re.search(r'action="(/cases/\d+/runs/\d+/steps/\d+)"', page).group(1)  # type: ignore[union-attr]
    assert "awaiting_approval" in page and "Disconnect the workstation" in page
    assert "Disconnect the workstation" in analyst.get("/responses").text
    hospital, hospital_csrf = _login(app, "hospital", case_id)
    refused = hospital.post(step_url, data={"csrf_token": hospital_csrf, "decision": "approve"})
    assert refused.status_code == 403
    approved = analyst.post(step_url, data={"csrf_token": csrf, "decision": "approve"}, follow_redirects=False)
    assert approved.status_code == 303
    after = analyst.get(f"/cases/{case_id}").text
    assert re.search(r"Disconnect the workstation from the network</td><td[^>]*>done<", after)
    assert audit.verify(seeded.context.engine).ok


def test_nis2_deadlines_count_down_and_reports_are_drafted(tmp_path) -> None:
    _seeded, app, case_id = _setup(tmp_path)
    analyst, csrf = _login(app, "analyst", case_id)
    flagged = analyst.post(f"/cases/{case_id}/nis2", follow_redirects=False, data={
        "csrf_token": csrf, "action": "flag", "aware_at": "2026-03-28T22:30", "malicious": "on",
        "summary": "ransomware on the imaging network"})
    assert flagged.status_code == 303
    page = analyst.get(f"/cases/{case_id}").text
    assert "2026-03-29 22:30 CEST" not in page  # 24 h of elapsed time across the clock change:
    assert "2026-03-29 23:30 CEST" in page      # 22:30 CET + 24 h = 23:30 CEST
    overview = analyst.get("/").text
    assert "NIS 2 reports due" in overview and "#" + str(case_id) in overview
    report = analyst.get(f"/cases/{case_id}/nis2/early_warning.json", params={"lang": "en"})
    assert report.status_code == 200 and json.loads(report.text)
    assert "ransomware on the imaging network" in report.text
    pdf = analyst.get(f"/cases/{case_id}/nis2/early_warning.pdf", params={"lang": "fr"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    sent = analyst.post(f"/cases/{case_id}/nis2", data={"csrf_token": csrf, "action": "submitted",
                                                        "kind": "early_warning"}, follow_redirects=False)
    assert sent.status_code == 303
    again = analyst.post(f"/cases/{case_id}/nis2", data={"csrf_token": csrf, "action": "submitted",
                                                         "kind": "early_warning"})
    assert again.status_code == 409


def test_care_services_status_gives_the_recovery_time(tmp_path) -> None:
    _seeded, app, case_id = _setup(tmp_path)
    hospital, csrf = _login(app, "hospital", case_id)
    for status in ("down", "up"):
        made = hospital.post(f"/cases/{case_id}/services", follow_redirects=False,
                             data={"csrf_token": csrf, "service": "Urgences", "status": status})
        assert made.status_code == 303
    page = hospital.get(f"/cases/{case_id}").text
    assert re.search(r"<td>Urgences</td><td>up</td>", page) and " h</td>" in page
    bad = hospital.post(f"/cases/{case_id}/services", data={"csrf_token": csrf, "service": "Urgences", "status": "on fire"})
    assert bad.status_code == 422


def test_the_response_policy_page(tmp_path) -> None:
    seeded, app, case_id = _setup(tmp_path)
    analyst, csrf = _login(app, "analyst", case_id)

    def change(**fields: str) -> int:
        return analyst.post("/responses/policy", data={"csrf_token": csrf, "tenant": "chu-nord", **fields},
                            follow_redirects=False).status_code

    assert change(action="auto", name="email.send", allowed="true") == 303
    assert change(action="trigger", playbook="fiches_reflexes", min_severity="critical") == 303
    assert change(action="trigger", playbook="fiches_reflexes") == 409  # a rule or a severity
    assert change(action="secret", name="smtp-password", value="Tr0ub4dor&3") == 303
    page = analyst.get("/responses/policy").text
    assert "smtp-password" in page and "Tr0ub4dor&3" not in page
    assert re.search(r"<code>email.send</code></td><td>[^<]*</td>\s*<td>automatic", page)
    assert "severity at least critical" in page
    logged = [(e.action, str(e.detail)) for e in audit.entries(seeded.context.engine, ["chu-nord"])]
    assert any(a == "respond.secret.set" for a, _d in logged) and not any("Tr0ub4dor" in d for _a, d in logged)
    trigger_id = re.search(r'name="trigger_id" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    assert change(action="untrigger", trigger_id=trigger_id) == 303
    assert change(action="forget", name="smtp-password") == 303
    assert "smtp-password" not in analyst.get("/responses/policy").text
    hospital, hospital_csrf = _login(app, "hospital", case_id)
    assert hospital.post("/responses/policy", data={"csrf_token": hospital_csrf, "tenant": "chu-nord",
                                                    "action": "auto", "name": "ldap.disable_user",
                                                    "allowed": "true"}).status_code == 403


def test_the_run_and_its_timeline_read_in_french(tmp_path) -> None:
    """What a run writes on the case's timeline follows the reader's language; the English
    text is what is stored (and what a reader in English sees)."""
    _seeded, app, case_id = _setup(tmp_path)
    analyst, csrf = _login(app, "analyst", case_id)
    analyst.post(f"/cases/{case_id}/runs", data={"csrf_token": csrf, "playbook": "fiches_reflexes", "dry_run": "on"})
    analyst.post(f"/cases/{case_id}/runs", data={"csrf_token": csrf, "playbook": "fiches_reflexes"})
    english = analyst.get(f"/cases/{case_id}", headers={"Accept-Language": "en"}).text
    assert "Playbook started (dry run): Staff first steps" in english
    assert "Waiting for approval: Disconnect the workstation from the network" in english
    analyst.get("/lang/fr")
    french = analyst.get(f"/cases/{case_id}").text
    assert "Playbook démarré (simulation) : Fiches réflexes" in french
    assert "En attente d&#39;approbation : Déconnecter le poste du réseau" in french
    assert "Simulation : Déconnecter le poste du réseau : demanderait au personnel : Débrancher" in french
    assert "Waiting for approval" not in french and "<td>Déconnecter le poste du réseau</td>" in french
    step_url = re.search(r'action="(/cases/\d+/runs/\d+/steps/\d+)"', french).group(1)  # type: ignore[union-attr]
    analyst.post(step_url, data={"csrf_token": csrf, "decision": "reject"})
    assert "Étape refusée : Déconnecter le poste du réseau" in analyst.get(f"/cases/{case_id}").text


def test_nis2_details_are_entered_on_the_case_page(tmp_path) -> None:
    _seeded, app, case_id = _setup(tmp_path)
    analyst, csrf = _login(app, "analyst", case_id)
    analyst.post(f"/cases/{case_id}/nis2", data={"csrf_token": csrf, "action": "flag", "aware_at": "2026-03-28T09:00"})
    page = analyst.get(f"/cases/{case_id}").text
    assert "Details for the reports" in page and "Still to complete for the final report:" in page
    saved = analyst.post(f"/cases/{case_id}/nis2", follow_redirects=False, data={
        "csrf_token": csrf, "action": "details", "contact": "RSSI, 01 23 45 67 89", "status": "contained",
        "incident_start": "2026-03-28T07:30", "root_cause": "VPN sans MFA", "personal_data": "unknown"})
    assert saved.status_code == 303
    page = analyst.get(f"/cases/{case_id}").text
    assert 'value="RSSI, 01 23 45 67 89"' in page and 'value="2026-03-28T07:30"' in page
    assert re.search(r'<option value="contained" selected>', page)
    draft = json.loads(analyst.get(f"/cases/{case_id}/nis2/final.json", params={"lang": "en"}).text)
    fields = {f["id"]: f["value"] for f in draft["fields"]}
    assert fields["root_cause"] == "VPN sans MFA" and fields["incident_start"] == "2026-03-28 07:30 CET"
    assert fields["status"] == "contained" and "contact" not in draft["missing"]
    bad = analyst.post(f"/cases/{case_id}/nis2", data={"csrf_token": csrf, "action": "details", "status": "over"})
    assert bad.status_code == 409
    hospital, hospital_csrf = _login(app, "hospital", case_id)
    assert hospital.post(f"/cases/{case_id}/nis2", data={"csrf_token": hospital_csrf, "action": "details",
                                                        "contact": "x"}).status_code == 403


def test_connector_summaries_and_errors_read_in_french(tmp_path) -> None:
    """Connectors' outcome summaries and errors on the timeline are keyed too: the French
    console shows them in French, the English one as stored."""
    seeded, app, case_id = _setup(tmp_path)
    (seeded.context.data_dir / "connectors.json").write_text(json.dumps({"defaults": {"edr": {
        "kind": "generic", "base_url": "http://127.0.0.1:9", "isolate": {"method": "POST", "path": "/h/{host}"}}}}))
    analyst, csrf = _login(app, "analyst", case_id)
    analyst.post(f"/cases/{case_id}/runs", data={"csrf_token": csrf, "playbook": "ransomware_workstation",
                                                 "dry_run": "on"})
    english = analyst.get(f"/cases/{case_id}", headers={"Accept-Language": "en"}).text
    assert "would ask http://127.0.0.1:9 to isolate" in english
    assert "email.send: connector &#39;email&#39; is not configured for chu-nord" in english
    analyst.get("/lang/fr")
    french = analyst.get(f"/cases/{case_id}").text
    assert "demanderait à http://127.0.0.1:9 d&#39;isoler" in french
    assert "email.send : le connecteur &#39;email&#39; n&#39;est pas configuré pour chu-nord" in french
    assert "would ask" not in french and "is not configured" not in french
