"""Connector summaries and errors as catalog keys: every key the code names exists in both
languages with the same parameters, and outcomes and errors render in French."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from hygie.respond import actions
from hygie.respond.actions import Command, Toolkit
from hygie.respond.connectors import endpoint, network, texts
from hygie.respond.connectors.base import ActionContext, ConnectorError, Outcome
from hygie.respond.playbooks import load_library
from hygie.respond.settings import SettingsError, section

RESPOND = Path(actions.__file__).parent
USES = re.compile(r'(?:Outcome\.said\([^,]+,\s*|texts\.error\(\w+,\s*|texts\.say\()(f?)"([^"]+)"')


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_key_named_in_the_code_is_in_the_catalog() -> None:
    catalog = texts.catalog()
    seen = 0
    for path in [*RESPOND.glob("*.py"), *(RESPOND / "connectors").glob("*.py")]:
        for is_f, key in USES.findall(path.read_text(encoding="utf-8")):
            seen += 1
            if is_f:  # f"nft.{verb}ed{'_applied' if apply else ''}": some key must fit the pattern
                pattern = re.sub(r"\\\{[^}]*\}", r"\\w*", re.escape(key).replace(r"\{", r"\{"))
                assert any(re.fullmatch(pattern, k) for k in catalog), f"{path.name}: no key fits {key}"
            else:
                assert key in catalog, f"{path.name}: {key} is not in timeline_texts.json's connectors"
    assert seen > 60


def test_both_languages_take_the_same_parameters() -> None:
    for key, entry in texts.catalog().items():
        if key == "_comment":
            continue
        assert set(entry) == {"en", "fr"}, key
        assert _fields(entry["en"]) == _fields(entry["fr"]), key
        assert entry["en"] != entry["fr"] or not re.search(r"[a-z]{3}", re.sub(r"\{[^}]*\}", "", entry["en"])), \
            f"{key} is not translated"


def test_outcomes_and_errors_render_in_french() -> None:
    ctx = ActionContext("chu-nord", {"kind": "generic", "base_url": "http://edr.test"}, "k", 5.0)
    outcome = endpoint.isolate(ctx, {"host": "PC-01"}, True)
    assert outcome.summary == "would ask http://edr.test to isolate PC-01"  # English stays the summary
    assert outcome.text("fr") == "demanderait à http://edr.test d'isoler PC-01"
    assert outcome.msg == "edr.would_isolate" and outcome.args == {"url": "http://edr.test", "host": "PC-01"}
    with pytest.raises(ConnectorError) as caught:
        network.nft_block(ActionContext("chu-nord", {}, "k"), {"address": "192.0.2.1"}, False)
    assert str(caught.value) == "setting 'ruleset_file' is missing"
    assert texts.error_texts(caught.value)["fr"] == "le réglage 'ruleset_file' manque"
    failed = Outcome.failed(caught.value, "nftables.block")
    assert failed.summary == "nftables.block: setting 'ruleset_file' is missing"
    assert failed.text("fr") == "nftables.block : le réglage 'ruleset_file' manque"
    # an exception without a key (a library's) keeps its text in both languages
    assert Outcome.failed(OSError("connection reset")).both() == {"en": "connection reset", "fr": "connection reset"}
    # an outcome written without a key shows its summary whatever the language
    assert Outcome(True, "plain text").text("fr") == "plain text"


def test_failures_through_execute_are_keyed() -> None:
    toolkit = Toolkit(load_library(), {"defaults": {}, "tenants": {}}, default_timeout=2)
    command = Command("x-hygie-action", "email.send", {"to": "soc@chu.test", "subject": "s", "body": ""}, "mail")
    outcome = actions.execute(toolkit, "chu-nord", command, "k", dry_run=True)
    assert not outcome.ok and outcome.summary == "email.send: connector 'email' is not configured for chu-nord"
    assert outcome.text("fr") == "email.send : le connecteur 'email' n'est pas configuré pour chu-nord"
    missing = actions.execute(toolkit, "chu-nord", Command("x-hygie-action", "edr.isolate", {}, ""), "k", dry_run=True)
    assert missing.text("fr") == "edr.isolate : argument(s) manquant(s) host"
    unknown = actions.execute(toolkit, "chu-nord", Command("x-hygie-action", "nope.do", {}, ""), "k", dry_run=True)
    assert unknown.text("fr") == "action inconnue nope.do"
    with pytest.raises(SettingsError) as caught:
        section({"defaults": {"chat": {"urls": {"secret": "apprise"}}}}, "chu-nord", "chat", None)
    assert texts.error_texts(caught.value)["fr"] == \
        "le secret 'apprise' est nécessaire mais aucun coffre de secrets n'est ouvert"
