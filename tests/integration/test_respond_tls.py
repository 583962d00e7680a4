"""TLS for the directory and mail connectors, against real peers on 127.0.0.1 with a
throw-away CA: Debian's slapd over LDAPS and StartTLS, aiosmtpd with STARTTLS and with
implicit TLS. The connector verifies the server's certificate: the right CA is accepted, a
wrong CA is refused with a clear error, and nothing is changed or sent then.

(Wazuh and Active Directory cannot run here: their connectors are tested against recorders in
test_respond_connectors.py.)"""

from __future__ import annotations

import ssl
from email import message_from_bytes

import pytest

from hygie.respond.connectors import directory, email
from hygie.respond.connectors.base import ActionContext, ConnectorError
from hygie.respond.secrets import Secret
from tests.integration.respond_peers import ADMIN_DN, BASE_DN, Slapd, SmtpPeer
from tests.integration.respond_tls import make_ca, server_files

PEOPLE = f"ou=people,{BASE_DN}"


def ctx(settings: dict) -> ActionContext:
    return ActionContext("chu-nord", settings, "tls-key-1", 5.0, case_id=1, run_id=1)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    files = server_files(folder)
    wrong_ca, _key, _cert = make_ca(folder, "unrelated-ca")
    return files, wrong_ca


@pytest.fixture(scope="module")
def slapd_tls(tmp_path_factory, pki):
    files, _wrong = pki
    server = Slapd(tmp_path_factory.mktemp("slapd-tls"), tls=files).start()
    try:
        server.seed()
        yield server
    finally:
        server.stop()


def _ldap(slapd: Slapd, **extra) -> dict:
    return {"url": slapd.ldaps_url, "bind_dn": ADMIN_DN, "password": Secret(slapd.password), "base_dn": PEOPLE,
            "strategy": "attribute", "disable_attribute": "shadowExpire", "disabled_value": "1",
            "object_class": "shadowAccount", "privileged_groups": [], **extra}


def test_ldaps_with_the_right_ca_disables_and_enables(slapd_tls, pki) -> None:
    files, _wrong = pki
    settings = _ldap(slapd_tls, ca_file=str(files.ca))
    done = directory.disable_user(ctx(settings), {"user": "alice"}, False)
    assert done.ok and slapd_tls.entry(f"uid=alice,{PEOPLE}", ["shadowExpire"])["shadowExpire"] == 1
    assert directory.enable_user(ctx(settings), done.rollback[0]["args"], False).ok
    assert not slapd_tls.entry(f"uid=alice,{PEOPLE}", ["shadowExpire"]).get("shadowExpire")


def test_starttls_with_the_right_ca(slapd_tls, pki) -> None:
    files, _wrong = pki
    settings = _ldap(slapd_tls, url=slapd_tls.url, start_tls=True, ca_file=str(files.ca))
    dry = directory.disable_user(ctx(settings), {"user": "carol"}, True)
    assert dry.ok and "would set shadowExpire=1" in dry.summary


@pytest.mark.parametrize("start_tls", [False, True])
def test_a_wrong_ca_is_refused_clearly_and_nothing_changes(slapd_tls, pki, start_tls: bool) -> None:
    _files, wrong = pki
    url = slapd_tls.url if start_tls else slapd_tls.ldaps_url
    settings = _ldap(slapd_tls, url=url, start_tls=start_tls, ca_file=str(wrong))
    with pytest.raises(ConnectorError, match="TLS certificate is not trusted by the CA in ca_file") as caught:
        directory.disable_user(ctx(settings), {"user": "alice"}, False)
    assert url in str(caught.value) and slapd_tls.password not in str(caught.value)
    assert not slapd_tls.entry(f"uid=alice,{PEOPLE}", ["shadowExpire"]).get("shadowExpire")


def test_ldaps_without_a_ca_file_uses_the_system_cas_and_refuses_a_private_ca(slapd_tls) -> None:
    with pytest.raises(ConnectorError, match="system's CAs"):
        directory.disable_user(ctx(_ldap(slapd_tls)), {"user": "alice"}, False)


def _server_context(files) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    return context


@pytest.mark.parametrize("mode, security", [("starttls", "starttls"), ("implicit", "tls")])
def test_smtp_over_tls_verifies_the_certificate(pki, mode: str, security: str) -> None:
    files, wrong = pki
    peer = SmtpPeer(password="smtp-secret", tls=_server_context(files), mode=mode).start()
    try:
        settings = {"host": "127.0.0.1", "port": peer.port, "sender": "hygie@chu.test", "username": "hygie",
                    "password": Secret("smtp-secret"), "security": security, "ca_file": str(files.ca)}
        outcome = email.send(ctx(settings), {"to": "soc@chu.test", "subject": "TLS", "body": "chiffré"}, False)
        assert outcome.ok and peer.logins == ["hygie"]
        assert message_from_bytes(peer.messages[0][2])["Subject"] == "TLS"
        with pytest.raises(ConnectorError, match="TLS certificate is not trusted by the CA in ca_file") as caught:
            email.send(ctx({**settings, "ca_file": str(wrong)}), {"to": "soc@chu.test", "subject": "x", "body": ""}, False)
        assert "smtp-secret" not in str(caught.value)
        assert len(peer.messages) == 1 and peer.logins == ["hygie"]  # refused before login or mail
    finally:
        peer.stop()


def test_smtp_server_requiring_starttls_refuses_a_clear_client(pki) -> None:
    files, _wrong = pki
    peer = SmtpPeer(password="smtp-secret", tls=_server_context(files), mode="starttls").start()
    try:
        settings = {"host": "127.0.0.1", "port": peer.port, "sender": "hygie@chu.test", "username": "hygie",
                    "password": Secret("smtp-secret"), "security": "none"}
        with pytest.raises(ConnectorError):
            email.send(ctx(settings), {"to": "soc@chu.test", "subject": "clear", "body": ""}, False)
        assert peer.messages == []
        with pytest.raises(ConnectorError, match="security must be"):
            email.send(ctx({**settings, "security": "ssl"}), {"to": "soc@chu.test", "subject": "x", "body": ""}, False)
    finally:
        peer.stop()
