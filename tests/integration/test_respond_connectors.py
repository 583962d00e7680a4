"""Each response connector against a real peer on 127.0.0.1 (SMTP, HTTP, syslog, slapd)."""

from __future__ import annotations

import json
import logging
import time
from email import message_from_bytes

import pytest

from hygie.respond.connectors import chat, directory, email, endpoint, network, syslog_cef, webhook
from hygie.respond.connectors.base import ActionContext, ConnectorError
from hygie.respond.secrets import Secret
from tests.integration.respond_peers import BASE_DN, ADMIN_DN, HttpRecorder, Slapd, SmtpPeer, SyslogPeer

PEOPLE = f"ou=people,{BASE_DN}"
PRIVILEGED = [f"cn=domain-admins,ou=groups,{BASE_DN}", f"cn=pacs-admins,ou=groups,{BASE_DN}"]


def ctx(settings: dict, key: str = "k-1", timeout: float = 5.0) -> ActionContext:
    return ActionContext("chu-nord", settings, key, timeout, case_id=7, run_id=3)


@pytest.fixture
def recorder():
    peer = HttpRecorder(hmac_secret="webhook-hmac-secret", wazuh_password="wazuh-pass",
                        wazuh_agents={"PC-RADIO-01": "007"}).start()
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    server = Slapd(tmp_path_factory.mktemp("slapd")).start()
    try:
        server.seed()
        yield server
    finally:
        server.stop()


def ldap_settings(slapd: Slapd, **extra) -> dict:
    return {"url": slapd.url, "bind_dn": ADMIN_DN, "password": Secret(slapd.password), "base_dn": PEOPLE,
            "privileged_groups": PRIVILEGED, **extra}


def test_email_over_smtp_with_login() -> None:
    peer = SmtpPeer(password="smtp-secret").start()
    try:
        settings = {"host": "127.0.0.1", "port": peer.port, "sender": "hygie@chu.test", "username": "hygie",
                    "password": Secret("smtp-secret")}
        outcome = email.send(ctx(settings, "abc123"), {"to": "soc@chu.test, dsi@chu.test", "subject": "Rançongiciel",
                                                       "body": "PC-01 isolé"}, False)
        assert outcome.ok and peer.logins == ["hygie"]
        sender, recipients, raw = peer.messages[0]
        message = message_from_bytes(raw)
        assert sender == "hygie@chu.test" and recipients == ["soc@chu.test", "dsi@chu.test"]
        assert message["Message-ID"] == "<abc123@chu.test>" and "PC-01" in message.get_payload(decode=True).decode()
        assert email.send(ctx(settings), {"to": "soc@chu.test", "subject": "s", "body": ""}, True).ok
        assert len(peer.messages) == 1  # the dry run sent nothing
        with pytest.raises(ConnectorError):  # wrong password: refused, and the error names no secret
            email.send(ctx({**settings, "password": Secret("wrong")}), {"to": "a@b.c", "subject": "s", "body": ""}, False)
    finally:
        peer.stop()


def test_webhook_is_signed_and_ticket_returns_its_id(recorder) -> None:
    settings = {"url": f"{recorder.url}/hooks", "secret": Secret("webhook-hmac-secret")}
    assert webhook.post(ctx(settings), {"event": "mail.purge", "domain": "evil.test"}, False).ok
    sent = recorder.requests[-1]
    assert recorder.bad_signatures == 0 and sent.headers["idempotency-key"] == "k-1"
    assert sent.json()["data"] == {"domain": "evil.test"} and sent.json()["tenant"] == "chu-nord"
    with pytest.raises(ConnectorError, match="401"):  # a wrong key does not verify on the peer
        webhook.post(ctx({**settings, "secret": Secret("other")}), {"event": "x"}, False)
    assert recorder.bad_signatures == 1
    outcome = webhook.open_ticket(ctx({"url": f"{recorder.url}/tickets", "secret": Secret("webhook-hmac-secret")}),
                                  {"title": "Ransomware"}, False)
    assert outcome.ok and outcome.detail["ticket"] == "TCK-1"


def test_syslog_cef_over_udp_and_tcp() -> None:
    peer = SyslogPeer()
    try:
        args = {"name": "Ransomware | spreading", "severity": "critical", "dhost": "PC-01", "msg": "a=b\nc"}
        assert syslog_cef.forward(ctx({"host": "127.0.0.1", "port": peer.udp_port, "hostname": "hygie"}), args, False).ok
        line = peer.receive_udp().decode()
        assert line.startswith("<34>1 ") and "CEF:0|Hygie|Hygie|" in line
        assert "|Ransomware \\| spreading|10|" in line and "msg=a\\=b\\nc" in line and "cs1=chu-nord" in line
        settings = {"host": "127.0.0.1", "port": peer.tcp_port, "protocol": "tcp", "hostname": "hygie"}
        assert syslog_cef.forward(ctx(settings), args, False).ok
        for _ in range(100):
            if peer.tcp_data:
                break
            time.sleep(0.05)
        length, _, rest = peer.tcp_data[0].partition(b" ")
        assert int(length) == len(rest) and b"CEF:0|" in rest  # RFC 6587 octet counting
    finally:
        peer.stop()


def test_chat_through_apprise_json_url(recorder) -> None:
    port = recorder.url.rsplit(":", 1)[1]
    settings = {"urls": Secret(f"json://127.0.0.1:{port}/chat")}
    outcome = chat.notify(ctx(settings), {"message": "Rançongiciel sur PC-01", "title": "Hygie"}, False)
    assert outcome.ok
    posted = [r for r in recorder.requests if r.path == "/chat"][0].json()
    assert posted["message"] == "Rançongiciel sur PC-01" and posted["title"] == "Hygie"
    assert "127.0.0.1" not in outcome.summary  # the URL (it may hold a token) is not repeated


def test_ldap_attribute_strategy_disable_enable_and_groups(slapd) -> None:
    settings = ldap_settings(slapd, strategy="attribute", disable_attribute="shadowExpire", disabled_value="1",
                             object_class="shadowAccount")
    dry = directory.disable_user(ctx(settings), {"user": "alice"}, True)
    assert dry.ok and "would" in dry.summary
    assert "shadowExpire" not in slapd.entry(f"uid=alice,{PEOPLE}", ["shadowExpire"]) or \
        not slapd.entry(f"uid=alice,{PEOPLE}", ["shadowExpire"])["shadowExpire"]
    done = directory.disable_user(ctx(settings), {"user": "alice"}, False)
    entry = slapd.entry(f"uid=alice,{PEOPLE}", ["shadowExpire", "objectClass"])
    assert entry["shadowExpire"] == 1 and "shadowAccount" in entry["objectClass"]
    assert directory.disable_user(ctx(settings), {"user": "alice"}, False).summary.endswith("already disabled")
    undo = done.rollback[0]
    assert undo["action"] == "ldap.enable_user"
    assert directory.enable_user(ctx(settings), undo["args"], False).ok
    entry = slapd.entry(f"uid=alice,{PEOPLE}", ["shadowExpire", "objectClass"])
    assert not entry.get("shadowExpire") and "shadowAccount" not in entry["objectClass"]

    removed = directory.remove_privileged_groups(ctx(settings), {"user": "alice"}, False)
    assert sorted(removed.detail["groups"]) == sorted(PRIVILEGED)
    alice = f"uid=alice,{PEOPLE}"
    for group in PRIVILEGED:
        assert alice not in slapd.entry(group, ["member"])["member"]
    assert alice in slapd.entry(f"cn=nurses,ou=groups,{BASE_DN}", ["member"])["member"]  # not privileged: kept
    again = directory.remove_privileged_groups(ctx(settings), {"user": "alice"}, False)
    assert again.ok and again.detail["groups"] == [] and not again.rollback
    assert directory.add_to_groups(ctx(settings), removed.rollback[0]["args"], False).ok
    for group in PRIVILEGED:
        assert alice in slapd.entry(group, ["member"])["member"]


def test_ldap_ad_shape_user_account_control(slapd) -> None:
    settings = ldap_settings(slapd, strategy="ad")
    done = directory.disable_user(ctx(settings), {"user": "bob"}, False)
    assert slapd.entry(f"uid=bob,{PEOPLE}", ["userAccountControl"])["userAccountControl"] == 514
    assert directory.enable_user(ctx(settings), done.rollback[0]["args"], False).ok
    assert slapd.entry(f"uid=bob,{PEOPLE}", ["userAccountControl"])["userAccountControl"] == 512
    with pytest.raises(ConnectorError, match="0 entries"):
        directory.disable_user(ctx(settings), {"user": "nobody*)(uid=*"}, False)  # filter chars are escaped
    with pytest.raises(ConnectorError):
        directory.disable_user(ctx({**settings, "password": Secret("wrong")}), {"user": "bob"}, False)


def test_nftables_ruleset_file(tmp_path) -> None:
    path = tmp_path / "nft" / "hygie-blocklist.nft"
    settings = {"ruleset_file": str(path)}
    assert network.nft_block(ctx(settings), {"address": "203.0.113.7"}, True).ok and not path.exists()
    done = network.nft_block(ctx(settings), {"address": "203.0.113.7"}, False)
    network.nft_block(ctx(settings), {"address": "2001:db8::/64"}, False)
    again = network.nft_block(ctx(settings), {"address": "203.0.113.7"}, False)
    text = path.read_text()
    assert network.validate_ruleset(text) == [] and "already" in again.summary
    assert "elements = { 203.0.113.7/32 }" in text and "elements = { 2001:db8::/64 }" in text
    assert "ip saddr @blocked_v4 drop" in text and text.startswith("#!/usr/sbin/nft -f")
    assert network.nft_unblock(ctx(settings), done.rollback[0]["args"], False).ok
    assert "203.0.113.7" not in path.read_text() and network.validate_ruleset(path.read_text()) == []
    assert network.validate_ruleset(text.replace("203.0.113.7/32", "2001:db8::1")) != []
    assert network.validate_ruleset(text.replace("@blocked_v6 drop", "accept")) != []
    with pytest.raises(ConnectorError):
        network.nft_block(ctx(settings), {"address": "evil.example.com"}, False)


def test_firewall_and_edr_rest_and_wazuh(recorder) -> None:
    firewall = {"base_url": recorder.url, "token": Secret("fw-token"),
                "block": {"method": "POST", "path": "/api/blocklist"},
                "unblock": {"method": "DELETE", "path": "/api/blocklist/{address}"}}
    done = network.rest_block(ctx(firewall), {"address": "203.0.113.7"}, False)
    assert recorder.requests[-1].headers["authorization"] == "Bearer fw-token"
    assert recorder.requests[-1].json()["address"] == "203.0.113.7"
    network.rest_unblock(ctx(firewall), done.rollback[0]["args"], False)
    assert recorder.requests[-1].method == "DELETE" and recorder.requests[-1].path == "/api/blocklist/203.0.113.7"

    edr = {"kind": "generic", "base_url": recorder.url, "token": Secret("edr-token"),
           "isolate": {"method": "POST", "path": "/hosts/{host}/isolate"},
           "release": {"method": "POST", "path": "/hosts/{host}/release"}}
    isolated = endpoint.isolate(ctx(edr), {"host": "PC-RADIO-01"}, False)
    assert recorder.paths("POST")[-1] == "/hosts/PC-RADIO-01/isolate"
    assert isolated.rollback == [{"action": "edr.release", "args": {"host": "PC-RADIO-01"}}]

    wazuh = {"kind": "wazuh", "base_url": recorder.url, "username": "wazuh-api", "password": Secret("wazuh-pass"),
             "isolate_command": "!isolate-host"}
    assert endpoint.isolate(ctx(wazuh), {"host": "PC-RADIO-01"}, False).detail == {"agent": "007", "command": "!isolate-host"}
    put = recorder.requests[-1]
    assert put.method == "PUT" and put.path == "/active-response?agents_list=007"
    assert put.json()["command"] == "!isolate-host"
    with pytest.raises(ConnectorError, match="0 agent"):
        endpoint.isolate(ctx(wazuh), {"host": "UNKNOWN"}, False)
    with pytest.raises(ConnectorError, match="refused"):
        endpoint.isolate(ctx({**wazuh, "password": Secret("bad")}), {"host": "PC-RADIO-01"}, False)


def test_secrets_never_logged_or_shown(recorder, caplog) -> None:
    from hygie.respond import actions
    from hygie.respond.actions import Command, Toolkit
    from hygie.respond.playbooks import load_library

    caplog.set_level(logging.DEBUG)
    secret = "S3cr3t-Value-Never-Shown"
    toolkit = Toolkit(load_library(), {"defaults": {}, "tenants": {"chu-nord": {
        "firewall": {"base_url": "http://127.0.0.1:9", "token": Secret(secret),
                     "block": {"method": "POST", "path": "/x"}}}}})
    outcome = actions.execute(toolkit, "chu-nord", Command("x-hygie-action", "firewall.block", {"address": "1.2.3.4"}, ""),
                              "key", dry_run=False, timeout=2)
    assert not outcome.ok
    context = ctx({"token": Secret(secret)})
    shown = " ".join([repr(context), str(context), repr(toolkit), outcome.summary, json.dumps(outcome.detail),
                      caplog.text])
    assert secret not in shown and "********" in repr(context)
