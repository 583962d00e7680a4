"""Threat intelligence in a real browser: an analyst adds an indicator from the intel page,
a typo is refused with the reason and the rest of the form kept, and the indicator then
appears in the list with its TLP marking; a hospital imports its inventory from a CSV file
and sees the counts and the row refused."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.integration.console_util import PASSWORD, app_for, seed


def test_an_analyst_adds_an_indicator(browser, serve_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    base = serve_app(app_for(seeded))
    page = browser.new_page(locale="en-GB")
    page.goto(base + "/intel")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("User name").fill("analyst")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Intel", exact=True).click()
    expect(page.get_by_role("heading", name="Threat intelligence")).to_be_visible()

    form = page.locator("#add-indicator")
    form.locator("summary").click()
    form.get_by_label("Value").fill("cdn-msupdate..net")  # a typo
    form.get_by_label("Description").fill("LockBit stager host")
    form.get_by_label("TLP").select_option("amber")
    form.get_by_role("button", name="Add the indicator").click()
    expect(page.locator("#add-indicator .error")).to_contain_text("cdn-msupdate..net")
    expect(form.get_by_label("Description")).to_have_value("LockBit stager host")  # nothing lost

    form.get_by_label("Value").fill("cdn-msupdate.net")
    form.get_by_role("button", name="Add the indicator").click()
    row = page.locator("#indicators tbody tr", has_text="cdn-msupdate.net")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("TLP:AMBER")
    expect(row).to_contain_text("domain")  # the type, recognised from the value
    expect(row).to_contain_text("LockBit stager host")
    expect(row.get_by_role("button", name="Expire")).to_be_visible()
    page.close()


def test_a_hospital_imports_its_inventory(browser, serve_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    base = serve_app(app_for(seeded))
    inventory = tmp_path / "inventaire.csv"
    inventory.write_text("host,ip,criticality\nPACS-01,10.0.0.5,vital\nIMPRIMANTE,10.0.0.300,support\n"
                         "ACCUEIL-01,10.0.0.7,important\n")
    page = browser.new_page(locale="en-GB")
    page.goto(base + "/login?next=/intel/assets")
    page.get_by_label("User name").fill("hospital")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Assets and early warnings")).to_be_visible()

    form = page.locator("#import")
    form.locator("summary").click()
    form.get_by_label("CSV file").set_input_files(str(inventory))
    form.get_by_role("button", name="Import").click()
    expect(page.locator("#import-result")).to_contain_text("assets added 2, updated 0, rows refused 1")
    expect(page.locator("#import-refused tbody tr")).to_have_text(re.compile(r"3\s*'10.0.0.300' does not appear"))
    expect(page.locator("#assets tbody tr", has_text="PACS-01")).to_contain_text("chu-nord")
    page.close()
