"""An asset inventory imported from CSV in the console and with ``POST /api/v1/intel/assets/import``:
the CLI's columns and checks, each refused row with its line while the others are kept, the
same file again updating rather than duplicating, the early-warning match run at once, the
import audited; a file too large, another hospital or a role that may not edit is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hygie.intel import kev
from hygie.store.state import audit
from hygie.store.state import intel_assets_store as assets_store
from hygie.web.api.intel_assets_import import MAX_IMPORT_BYTES
from tests.integration.console_util import PASSWORD, app_for, seed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intel"
INVENTORY = (FIXTURES / "assets.csv").read_bytes()  # 4 good rows; lines 6 and 7 refused
URL = "/api/v1/intel/assets/import"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("import")
    seeded = seed(f"sqlite:///{folder / 'state.db'}", folder)
    kev.import_catalog(seeded.context.engine, str(FIXTURES / "kev.json"))
    return seeded


def login(seeded, username: str) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = TestClient(app_for(seeded))
    client.post("/login", data={"username": username, "password": PASSWORD})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/alerts").text).group(1)  # type: ignore[union-attr]
    return client, csrf


def hosts(seeded, tenant: str) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(a.host for a in assets_store.list_assets(seeded.context.engine, frozenset({tenant})))


def test_the_console_imports_keeps_good_rows_and_says_which_were_refused(world) -> None:
    analyst, csrf = login(world, "analyst")
    page = analyst.get("/intel/assets").text
    assert 'action="/intel/assets/import"' in page and 'enctype="multipart/form-data"' in page
    done = analyst.post("/intel/assets/import", data={"csrf_token": csrf, "tenant": "chu-nord"},
                        files={"file": ("C:\\inventaire\\assets.csv", INVENTORY, "text/csv")})
    assert done.status_code == 200
    result = re.search(r'id="import-result">(.*?)</p>', done.text, re.S).group(1)  # type: ignore[union-attr]
    assert result == "assets.csv (chu-nord): assets added 4, updated 0, rows refused 2, new early warnings 2."
    refused = re.findall(r"<tr><td>(\d+)</td><td>(.*?)</td></tr>", done.text)
    assert [line for line, _why in refused] == ["6", "7"]
    assert "criticality must be one of vital, important, support, not &#39;urgent&#39;" in refused[0][1]
    assert "CPE 2.2 URI" in refused[1][1]
    assert hosts(world, "chu-nord") == ["EHR-APP-01", "FW-EDGE-01", "PACS-ARCH-01", "PRINT-01"]
    assert hosts(world, "chu-sud") == []
    # the match ran: FortiOS 7.2.4 and Log4j2 2.14.1 are in the KEV catalog, alerted at once
    queue = analyst.get("/api/v1/intel/early-warnings", params={"kind": "kev"}).json()["items"]
    assert {(w["asset_host"], w["cve_id"], w["alert_id"] is not None) for w in queue} == {
        ("FW-EDGE-01", "CVE-2024-21762", True), ("EHR-APP-01", "CVE-2021-44228", True)}
    [entry] = [e for e in audit.entries(world.context.engine, ["chu-nord"]) if e.action == "intel.asset.import"]
    assert (entry.actor, entry.tenant_id, entry.detail["file"], entry.detail["added"], entry.detail["refused"]) == (
        "analyst", "chu-nord", "assets.csv", 4, 2)
    assert "FW-EDGE-01" in entry.detail["hosts"]
    french = analyst.post("/intel/assets/import", data={"csrf_token": csrf, "tenant": "chu-nord"},
                          files={"file": ("assets.csv", INVENTORY, "text/csv")}, headers={"Accept-Language": "fr"})
    assert "actifs ajoutés 0, mis à jour 4, lignes refusées 2" in french.text


def test_the_same_file_again_updates_and_the_api_says_so(world) -> None:
    hospital, csrf = login(world, "hospital")
    again = hospital.post(URL, content=INVENTORY, headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf})
    assert again.status_code == 200, again.text
    body = again.json()
    assert (body["tenant"], body["added"], body["updated"], body["new_warnings"]) == ("chu-nord", 0, 4, 0)
    assert [r["line"] for r in body["refused"]] == [6, 7]
    assert len(assets_store.list_assets(world.context.engine, frozenset({"chu-nord"}))) == 4
    # a spreadsheet's export: semicolons, Windows-1252; a bad row in the middle does not stop the rest
    sheet = ("host;ip;criticality;owner\r\nPC-ACCUEIL;10.1.0.1;important;Accueil\r\nPC-BAD;10.1.0.300;support;\r\n"
             "\r\nPC-RÉA;10.1.0.3;vital;Réanimation\r\n").encode("cp1252")
    made = hospital.post(URL, params={"tenant": "chu-nord"}, headers={"X-CSRF-Token": csrf},
                         files={"file": ("postes.csv", sheet, "text/csv")}).json()
    assert (made["file"], made["added"], made["updated"]) == ("postes.csv", 2, 0)
    assert made["refused"] == [{"line": 3, "reason": "'10.1.0.300' does not appear to be an IPv4 or IPv6 address"}]
    [rea] = [a for a in assets_store.list_assets(world.context.engine, frozenset({"chu-nord"})) if a.ip == "10.1.0.3"]
    assert (rea.host, rea.owner, rea.criticality) == ("PC-RÉA", "Réanimation", "vital")


def test_bad_files_are_refused_with_the_reason(world) -> None:
    analyst, csrf = login(world, "analyst")
    headers = {"X-CSRF-Token": csrf}
    no_host = analyst.post(URL, content=b"name,ip\nPC,10.0.0.1\n", headers={**headers, "Content-Type": "text/csv"})
    assert no_host.status_code == 400 and no_host.json()["detail"] == "line 1: the header must name a 'host' column"
    assert analyst.post(URL, json={"host": "x"}, headers=headers).status_code == 415
    assert analyst.post(URL, data={"tenant": "chu-nord"}, headers=headers,
                        files={"other": ("a.csv", b"host\nx\n", "text/csv")}).status_code == 400
    big = b"host,owner\n" + b"PC,x\n" * (MAX_IMPORT_BYTES // 5)
    assert len(big) > MAX_IMPORT_BYTES
    too_large = analyst.post(URL, content=big, headers={**headers, "Content-Type": "text/csv"})
    assert too_large.status_code == 413 and "limited to 5 MiB" in too_large.json()["detail"]
    # just over the limit: past the announced length's check, refused on reading, the page says why
    page = analyst.post("/intel/assets/import", data={"csrf_token": csrf, "tenant": "chu-nord"},
                        files={"file": ("big.csv", big[:MAX_IMPORT_BYTES + 1], "text/csv")})
    assert page.status_code == 413 and "limited to 5 MiB" in page.text and 'id="import" open' in page.text
    huge = analyst.post("/intel/assets/import", data={"csrf_token": csrf, "tenant": "chu-nord"},
                        files={"file": ("huge.csv", big * 2, "text/csv")})
    assert huge.status_code == 413 and "limited to 5 MiB" in huge.text
    assert huge.headers["content-type"] == "application/json"  # refused on its announced length, unread
    anonymous = TestClient(analyst.app).post("/intel/assets/import", files={"file": ("huge.csv", big * 2)})
    assert anonymous.status_code == 413  # before the login check, whose CSRF check would read the form
    assert hosts(world, "chu-nord").count("PC") == 0


def test_another_hospital_and_roles_that_may_not_edit_are_refused(world) -> None:
    analyst, csrf = login(world, "analyst")
    other = analyst.post(URL, params={"tenant": "chu-sud"}, content=b"host\nINTRUS\n",
                         headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf})
    assert other.status_code == 404
    assert analyst.post("/intel/assets/import", data={"csrf_token": csrf, "tenant": "chu-sud"},
                        files={"file": ("a.csv", b"host\nINTRUS\n", "text/csv")}).status_code == 404
    sud, sud_csrf = login(world, "sud")
    assert sud.post(URL, params={"tenant": "chu-nord"}, content=b"host\nINTRUS\n",
                    headers={"Content-Type": "text/csv", "X-CSRF-Token": sud_csrf}).status_code == 404
    viewer, viewer_csrf = login(world, "viewer")
    assert viewer.post(URL, content=b"host\nINTRUS\n",
                       headers={"Content-Type": "text/csv", "X-CSRF-Token": viewer_csrf}).status_code == 403
    assert viewer.post("/intel/assets/import", data={"csrf_token": viewer_csrf, "tenant": "chu-nord"},
                       files={"file": ("a.csv", b"host\nINTRUS\n", "text/csv")}).status_code == 403
    assert 'action="/intel/assets/import"' not in viewer.get("/intel/assets").text
    assert analyst.post("/intel/assets/import", data={"tenant": "chu-nord"},  # no CSRF token
                        files={"file": ("a.csv", b"host\nINTRUS\n", "text/csv")}).status_code == 403
    assert "INTRUS" not in hosts(world, "chu-nord") + hosts(world, "chu-sud")
