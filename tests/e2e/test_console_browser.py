"""An analyst's night shift in a real browser: log in, triage an alert, open a case from it,
add a note and see it on the timeline; a hospital user never sees another hospital's alert."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.integration.console_util import PASSWORD, app_for, seed


def _log_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_triage_an_alert_into_a_case(browser, serve_app, tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    base = serve_app(app_for(seeded))
    page = browser.new_page(locale="en-GB")
    _log_in(page, base, "analyst")
    page.get_by_role("link", name="Alerts", exact=True).click()
    expect(page.get_by_role("link", name="Rule rule-1")).to_be_visible()
    expect(page.get_by_text("CHU-SUD-PC1")).to_have_count(0)
    page.get_by_role("link", name="Rule rule-1").click()
    expect(page.get_by_role("heading", name="Rule rule-1")).to_be_visible()
    page.get_by_label("New status").select_option("acknowledged")
    page.get_by_role("button", name="Change status").click()
    expect(page.locator("#alert-status")).to_have_text("acknowledged")
    page.get_by_role("button", name="Open a case from this alert").click()
    expect(page.get_by_role("heading", name=re.compile(r"Case #\d+: Rule rule-1"))).to_be_visible()
    expect(page.get_by_role("cell", name="CHU-NORD-PC1")).to_be_visible()  # an observable
    page.get_by_label("Note", exact=True).fill("Workstation unplugged from the network by the night nurse.")
    page.get_by_role("button", name="Add note").click()
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Workstation unplugged from the network by the night nurse.")
    expect(timeline).to_contain_text("Rule rule-1")  # the alert that opened the case
    page.close()


def test_a_hospital_user_cannot_see_another_hospitals_alert(browser, serve_app, tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    base = serve_app(app_for(seeded))
    page = browser.new_page(locale="en-GB")
    _log_in(page, base, "sud")
    page.goto(base + "/alerts")
    expect(page.get_by_text("CHU-SUD-PC0")).to_be_visible()
    expect(page.get_by_text("CHU-NORD-PC0")).to_have_count(0)
    nord_alert = seeded.alert_ids["chu-nord"][0]
    response = page.goto(f"{base}/alerts/{nord_alert}")
    assert response is not None and response.status == 404
    expect(page.get_by_text("CHU-NORD")).to_have_count(0)
    page.close()


def test_the_alert_queue_updates_itself(browser, serve_app, tmp_path) -> None:
    """A new alert appears in an open queue without a reload (server-sent events + htmx)."""
    from hygie.store.state.store import RecordResult, StateStore
    from tests.integration.console_util import alert

    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    base = serve_app(app_for(seeded))
    page = browser.new_page(locale="en-GB")
    _log_in(page, base, "analyst")
    page.goto(base + "/alerts?status=open")
    expect(page.locator("#live")).to_have_text("live")
    StateStore(seeded.context.engine).store_results([RecordResult(
        tenant="chu-nord", record_key="fresh", source="http", kind="json", received=0.0,
        alerts=[alert("rule-new", "CHU-NORD-NEWPC", "critical")])])
    expect(page.get_by_role("link", name="Rule rule-new")).to_be_visible(timeout=15_000)
    page.close()
