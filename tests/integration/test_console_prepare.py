"""Prepare in the console: a hospital answers its assessment in the wizard, decides on what
telemetry proposes, downloads its roadmap; analysts compare hospitals; KPIs are shown."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from fastapi.testclient import TestClient

from hygie.store.state.prepare_store import PrepareStore
from tests.integration.console_util import PASSWORD, app_for, seed


def _login(app, username: str) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    client.post("/login", data={"username": username, "password": PASSWORD})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/prepare").text).group(1)  # type: ignore[union-attr]
    return client, csrf


def test_a_hospital_runs_its_assessment_in_the_console(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    app = app_for(seeded)
    hospital, csrf = _login(app, "hospital")
    started = hospital.post("/prepare/campaigns", data={"csrf_token": csrf, "tenant": "chu-nord",
                                                        "frameworks": ["care", "nis2"], "size": "medium",
                                                        "beds": "320"}, follow_redirects=False)
    assert started.status_code == 303
    page_url = started.headers["location"]
    campaign_id = int(re.search(r"/campaigns/(\d+)", page_url).group(1))  # type: ignore[union-attr]
    page = hospital.get(page_url)
    assert page.status_code == 200 and "<svg class=\"radar\"" in page.text and "care.gov.1" in page.text
    saved = hospital.post(f"/prepare/campaigns/{campaign_id}/answers",
                          data={"csrf_token": csrf, "tenant": "chu-nord", "framework": "care", "domain": "gov",
                                "answer:care.gov.3": "3", "note:care.gov.3": "board minutes 2026-10"},
                          follow_redirects=False)
    assert saved.status_code == 303
    store = PrepareStore(seeded.context.engine)
    answers = store.latest_answers("chu-nord", campaign_id)
    assert answers["care.gov.3"].value == "3" and answers["care.gov.3"].answered_by == "hospital"
    bad = hospital.post(f"/prepare/campaigns/{campaign_id}/answers",
                        data={"csrf_token": csrf, "tenant": "chu-nord", "answer:care.gov.3": "7"})
    assert bad.status_code == 422
    proposal = store.add_proposal("chu-nord", campaign_id, "care.gov.2", "sysmon_coverage", "1", "7 of 10 hosts",
                                  datetime.now(timezone.utc))
    refused = hospital.post(f"/prepare/proposals/{proposal.id}",
                            data={"csrf_token": csrf, "tenant": "chu-nord", "value": "3"})
    assert refused.status_code == 409  # an override needs a reason
    overridden = hospital.post(f"/prepare/proposals/{proposal.id}", follow_redirects=False,
                               data={"csrf_token": csrf, "tenant": "chu-nord", "value": "2",
                                     "reason": "the 3 other hosts are lab devices"})
    assert overridden.status_code == 303
    assert store.latest_answers("chu-nord", campaign_id)["care.gov.2"].value == "2"
    assert hospital.post(f"/prepare/campaigns/{campaign_id}/telemetry", follow_redirects=False,
                         data={"csrf_token": csrf, "tenant": "chu-nord"}).status_code == 303
    csv = hospital.get(f"/prepare/campaigns/{campaign_id}/roadmap.csv", params={"tenant": "chu-nord", "lang": "fr"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv") and len(csv.text) > 100
    pdf = hospital.get(f"/prepare/campaigns/{campaign_id}/roadmap.pdf", params={"tenant": "chu-nord"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert hospital.get("/prepare/region").status_code == 403
    kpis = hospital.get("/kpis")
    assert kpis.status_code == 200 and "mean time to detect" in kpis.text


def test_the_regional_view_compares_hospitals(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    store = PrepareStore(seeded.context.engine)
    for tenant, level in (("chu-nord", "1"), ("chu-sud", "0")):
        campaign = store.create_campaign(tenant, ["care"], "medium")
        store.record_answer(tenant, campaign.id, "care.gov.1", level, "test")
    admin, _csrf = _login(app_for(seeded), "admin")
    page = admin.get("/prepare/region")
    assert page.status_code == 200
    rows = re.findall(r'<a href="/prepare\?tenant=(chu-\w+)">.*?</td><td>.*?</td>\s*<td>([^<]+)</td>', page.text, re.S)
    assert dict(rows) == {"chu-nord": "100%", "chu-sud": "0%"}
    analyst, _csrf = _login(app_for(seeded), "analyst")  # sees chu-nord only
    assert "chu-sud" not in analyst.get("/prepare/region").text


def test_evidence_is_attached_listed_downloaded_and_deleted_in_the_wizard(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    store = PrepareStore(seeded.context.engine, seeded.context.data_dir / "evidence")
    campaign = store.create_campaign("chu-nord", ["care"], "medium")
    app = app_for(seeded)
    hospital, csrf = _login(app, "hospital")
    url = f"/prepare/campaigns/{campaign.id}/evidence"
    form = {"csrf_token": csrf, "tenant": "chu-nord", "question": "care.gov.1"}
    sent = hospital.post(url, data=form, files={"file": ("audit <b>.html", b"<script>alert(1)</script>", "text/html")},
                         follow_redirects=False)
    assert sent.status_code == 303
    for extra in ({"url": "https://intranet.example/pssi"}, {"note": "tabletop exercise 12 May"}):
        assert hospital.post(url, data={**form, **extra}, follow_redirects=False).status_code == 303
    assert hospital.post(url, data={**form, "url": "javascript:alert(1)"}).status_code == 422
    assert hospital.post(url, data={**form, "question": "nis2.a"}).status_code == 422  # not in this campaign
    assert hospital.post(url, data=form).status_code == 422  # nothing given
    big = hospital.post(url, data=form, files={"file": ("big.bin", b"x" * (20 * 1024 * 1024 + 1), "application/x")})
    assert big.status_code == 413
    rows = store.evidence("chu-nord", campaign.id)
    assert [r.kind for r in rows] == ["file", "link", "note"]
    page = hospital.get(f"/prepare/campaigns/{campaign.id}", params={"tenant": "chu-nord", "domain": "gov"}).text
    assert "audit &lt;b&gt;.html" in page and "https://intranet.example/pssi" in page and "tabletop exercise" in page
    assert "<script>alert(1)" not in page
    download = hospital.get(f"/prepare/evidence/{rows[0].id}/file", params={"tenant": "chu-nord"})
    assert download.status_code == 200 and download.content == b"<script>alert(1)</script>"
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")
    viewer, viewer_csrf = _login(app, "viewer")
    refused = viewer.post(f"/prepare/evidence/{rows[0].id}/delete",
                          data={"csrf_token": viewer_csrf, "tenant": "chu-nord"})
    assert refused.status_code == 403
    path = store.evidence_path(rows[0].sha256)
    assert path.is_file()
    gone = hospital.post(f"/prepare/evidence/{rows[0].id}/delete", data={"csrf_token": csrf, "tenant": "chu-nord"},
                         follow_redirects=False)
    assert gone.status_code == 303 and not path.exists()
    assert [r.kind for r in store.evidence("chu-nord", campaign.id)] == ["link", "note"]
    from hygie.store.state import audit
    actions = [e.action for e in audit.entries(seeded.context.engine, ["chu-nord"])]
    assert "assessment.evidence.delete" in actions and actions.count("assessment.evidence.add") == 3


def test_the_kpi_page_draws_trends_as_svg_without_inline_script(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    analyst, _csrf = _login(app_for(seeded), "analyst")
    page = analyst.get("/kpis", params={"period": "week", "count": "8"})
    assert page.status_code == 200
    # 6 delays, alerts, cases, 2 backup and 2 restore-test KPIs, silent sources, critical warnings
    assert page.text.count('<svg class="trend"') == 14 and "-W" in page.text
    assert "<script>" not in page.text.split("</header>")[-1] and " style=" not in page.text
    assert analyst.get("/kpis", params={"count": "99"}).status_code == 422
    report = analyst.get("/prepare/report.pdf", params={"month": "2026-11", "lang": "fr"})
    assert report.status_code == 200 and report.content.startswith(b"%PDF")
    assert analyst.get("/prepare/report.pdf", params={"month": "11/2026"}).status_code == 422


def test_the_rest_api_covers_the_assessment(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    token = seeded.context.access.create_token("hospital", "hospital", "chu-nord", "script", "test")
    api = TestClient(app_for(seeded), headers={"Authorization": f"Bearer {token}"})
    assert {f["id"] for f in api.get("/api/v1/prepare/frameworks").json()} >= {"care", "nis2", "hicp", "cis"}
    made = api.post("/api/v1/prepare/campaigns", json={"tenant": "chu-nord", "frameworks": ["care", "nis2"],
                                                       "size": "medium", "beds": 300})
    assert made.status_code == 201
    cid = made.json()["id"]
    assert api.post("/api/v1/prepare/campaigns", json={"tenant": "chu-sud", "frameworks": ["care"],
                                                       "size": "small"}).status_code == 404
    assert api.post("/api/v1/prepare/campaigns", json={"tenant": "chu-nord", "frameworks": ["nope"],
                                                       "size": "small"}).status_code == 422
    base = f"/api/v1/prepare/campaigns/{cid}"
    assert api.post(f"{base}/answers", json={"question_id": "care.gov.3", "value": "1"}).status_code == 201
    again = {"question_id": "care.gov.3", "value": "3", "note": "board"}
    assert api.post(f"{base}/answers", json=again).status_code == 201
    assert api.post(f"{base}/answers", json={"question_id": "care.gov.3", "value": "9"}).status_code == 422
    assert api.post(f"{base}/answers", json={"question_id": "cis.1.1", "value": "1"}).status_code == 422
    history = api.get(f"{base}/answers", params={"question_id": "care.gov.3"}).json()
    assert [a["value"] for a in history] == ["1", "3"]
    detail = api.get(base).json()
    assert detail["tenant"] == "chu-nord" and {s["framework"] for s in detail["scores"]} == {"care", "nis2"}
    assert [a["value"] for a in detail["answers"]] == ["3"]
    store = PrepareStore(seeded.context.engine)
    proposal = store.add_proposal("chu-nord", cid, "care.workstations.1", "sysmon_coverage", "1", "7 of 10",
                                  datetime.now(timezone.utc))
    assert api.post(f"/api/v1/prepare/proposals/{proposal.id}/decision", json={"value": "2"}).status_code == 409
    decided = api.post(f"/api/v1/prepare/proposals/{proposal.id}/decision",
                       json={"value": "2", "reason": "lab devices excluded"})
    assert decided.status_code == 200 and decided.json()["origin"] == "override"
    assert api.get(f"{base}/proposals", params={"status": "overridden"}).json()[0]["reason"] == "lab devices excluded"
    assert api.post(f"{base}/telemetry").status_code == 200
    added = api.post(f"{base}/evidence", data={"question_id": "care.gov.3"},
                     files={"file": ("pv.pdf", b"%PDF-1", "x/y")})
    assert added.status_code == 201
    assert api.post(f"{base}/evidence", data={"question_id": "care.gov.3", "url": "ftp://x"}).status_code == 422
    listed = api.get(f"{base}/evidence").json()
    assert listed[0]["filename"] == "pv.pdf" and listed[0]["kind"] == "file"
    file = api.get(f"/api/v1/prepare/evidence/{listed[0]['id']}/file")
    assert file.content == b"%PDF-1" and file.headers["content-type"] == "application/octet-stream"
    assert api.delete(f"/api/v1/prepare/evidence/{listed[0]['id']}").status_code == 204
    assert api.get(f"{base}/evidence").json() == []
    roadmap = api.get(f"{base}/roadmap").json()
    assert roadmap["items"] and roadmap["items"][0]["rank"] == 1
    csv = api.get(f"{base}/roadmap.csv", params={"lang": "fr"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    kpis = api.get("/api/v1/prepare/kpis", params={"count": 3}).json()
    assert kpis["tenant"] == "chu-nord" and len(kpis["periods"]) == 3
    assert {"mttd_alerts", "mttr_cases"} <= {s["key"] for s in kpis["series"]}
    assert kpis["response"]["alerts"]["detect"]["count"] == 3
    assert api.get("/api/v1/prepare/kpis", params={"tenant": "chu-sud"}).status_code == 404
    assert api.get("/api/v1/prepare/region").status_code == 403
    analyst = seeded.context.access.create_token("analyst", "analyst", "chu-nord", "script", "test")
    region = TestClient(app_for(seeded)).get("/api/v1/prepare/region", headers={"Authorization": f"Bearer {analyst}"})
    assert region.status_code == 200 and [t["tenant"] for t in region.json()["tenants"]] == ["chu-nord"]


def test_the_api_serves_the_pdfs_as_the_console_and_closes_campaigns(tmp_path) -> None:
    from hygie.store.state import audit
    from tests.integration.test_prepare_kpis_report import _pdf_text

    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    store = PrepareStore(seeded.context.engine, tmp_path / "evidence")
    campaign = store.create_campaign("chu-nord", ["care"], "medium")
    store.record_answer("chu-nord", campaign.id, "care.gov.3", "1", "rssi")
    foreign = store.create_campaign("chu-sud", ["care"], "small")
    app = app_for(seeded)
    token = seeded.context.access.create_token("hospital", "hospital", "chu-nord", "script", "test")
    api = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    console, csrf = _login(app, "hospital")
    base = f"/api/v1/prepare/campaigns/{campaign.id}"
    pdf = api.get(f"{base}/roadmap.pdf", params={"lang": "fr"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment")
    same = console.get(f"/prepare/campaigns/{campaign.id}/roadmap.pdf", params={"tenant": "chu-nord", "lang": "fr"})
    text = _pdf_text(pdf.content, tmp_path)
    assert "Feuille de route" in text and text == _pdf_text(same.content, tmp_path)
    assert api.get(f"/api/v1/prepare/campaigns/{foreign.id}/roadmap.pdf").status_code == 404
    report = api.get("/api/v1/prepare/report.pdf", params={"month": "2026-11", "lang": "en"})
    assert report.status_code == 200 and report.headers["content-type"] == "application/pdf"
    text = _pdf_text(report.content, tmp_path)
    assert "Monthly security and continuity report" in text and "Sources of the threat landscape" in text
    same = console.get("/prepare/report.pdf", params={"tenant": "chu-nord", "month": "2026-11", "lang": "en"})
    assert text == _pdf_text(same.content, tmp_path)
    assert api.get("/api/v1/prepare/report.pdf", params={"tenant": "chu-sud"}).status_code == 404
    for month in ("2026-13", "9999-12", "0001-01", "11/2026"):
        assert api.get("/api/v1/prepare/report.pdf", params={"month": month}).status_code == 422, month
    assert console.get("/prepare/report.pdf", params={"month": "9999-12"}).status_code == 422
    # closing: viewers may not, another hospital's campaign is not found, then frozen and audited
    viewer = seeded.context.access.create_token("viewer", "viewer", "chu-nord", "script", "test")
    refused = TestClient(app).post(f"{base}/close", headers={"Authorization": f"Bearer {viewer}"})
    assert refused.status_code == 403
    assert api.post(f"/api/v1/prepare/campaigns/{foreign.id}/close").status_code == 404
    closed = api.post(f"{base}/close")
    assert closed.status_code == 200 and closed.json()["closed"] is not None
    assert api.post(f"{base}/answers", json={"question_id": "care.gov.3", "value": "2"}).status_code == 409
    assert api.post(f"{base}/close").status_code == 200  # already closed: nothing changes
    assert api.post(f"{base}/telemetry").status_code == 409
    entries = [e for e in audit.entries(seeded.context.engine, ["chu-nord"]) if e.action == "assessment.campaign.close"]
    assert [(e.actor, e.target) for e in entries] == [("hospital (token:script)", f"campaign:{campaign.id}")]
    assert store.campaign("chu-sud", foreign.id).closed is None
    # the console's button
    other = store.create_campaign("chu-nord", ["care"], "medium")
    page = console.get(f"/prepare/campaigns/{other.id}", params={"tenant": "chu-nord"}).text
    assert f'action="/prepare/campaigns/{other.id}/close"' in page
    done = console.post(f"/prepare/campaigns/{other.id}/close", data={"csrf_token": csrf, "tenant": "chu-nord"},
                        follow_redirects=False)
    assert done.status_code == 303 and store.campaign("chu-nord", other.id).closed is not None
    page = console.get(f"/prepare/campaigns/{other.id}", params={"tenant": "chu-nord"}).text
    assert "/close" not in page and "Closed on" in page and "Save the answers" not in page
    frozen = {"csrf_token": csrf, "tenant": "chu-nord", "answer:care.gov.3": "2"}
    assert console.post(f"/prepare/campaigns/{other.id}/answers", data=frozen).status_code == 409
    assert console.post(f"/prepare/campaigns/{other.id}/telemetry",
                        data={"csrf_token": csrf, "tenant": "chu-nord"}).status_code == 409


def test_kpis_compare_the_rules_enabled_for_the_hospital_with_the_landscape(tmp_path) -> None:
    from hygie.store.state.rule_settings import set_enabled
    from hygie.web.context import RuleInfo

    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    rules = [RuleInfo("enc", "Encryption", "high", "ransomware", ["attack.impact", "attack.t1486"]),
             RuleInfo("vss", "Shadow copies deleted", "high", "ransomware", ["attack.t1490"]),
             RuleInfo("rdp", "RDP from the internet", "high", "perimeter", ["attack.t1021.001"])]
    seeded.context.rules = lambda: (rules, [])
    set_enabled(seeded.context.engine, "chu-nord", "rule", "vss", False, "admin")
    set_enabled(seeded.context.engine, "chu-nord", "pack", "perimeter", False, "admin")
    token = seeded.context.access.create_token("analyst", "analyst", "chu-nord", "script", "test")
    api = TestClient(app_for(seeded), headers={"Authorization": f"Bearer {token}"})
    kpis = api.get("/api/v1/prepare/kpis", params={"count": 2}).json()
    assert kpis["sector_techniques_covered"] == ["T1486"]  # vss and the perimeter pack are off here
    assert {"T1490", "T1021.001"} <= set(kpis["sector_techniques_missing"])
    impact = next(g for g in kpis["threat_landscape"] if g["id"] == "impact")
    assert impact["covered"] == [{"id": "T1486", "name": "Data Encrypted for Impact", "rules": 1}]
    assert impact["sources"] and {s["id"] for s in kpis["landscape_sources"]} >= set(impact["sources"])
    assert {"backup_success", "backup_age", "restore_test_age", "restore_test_success", "silent_sources",
            "critical_warnings"} <= {s["key"] for s in kpis["series"]}
    page = TestClient(app_for(seeded))
    page.post("/login", data={"username": "analyst", "password": PASSWORD})
    html = page.get("/kpis").text
    assert "sector's threat landscape" in html and "ENISA Threat Landscape: Health Sector" in html
    assert "Age of the last successful backup" in html and "Open critical early warnings" in html
    # a site's own landscape replaces the shipped one; a broken one is a 409 that names it
    (tmp_path / "threat_landscape.yml").write_text("sources: {}\ngroups: []\n", encoding="utf-8")
    broken = api.get("/api/v1/prepare/kpis")
    assert broken.status_code == 409 and "threat_landscape.yml:2" in broken.json()["detail"]
