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
