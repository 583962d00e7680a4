"""Directory accounts over LDAP or LDAPS (ldap3): disable, re-enable, remove from privileged
groups, add back.

How an account is disabled depends on the directory, so it is a setting (``strategy``):

* ``ad``: Active Directory's ``userAccountControl``, bit 0x2 (ACCOUNTDISABLE) set or cleared;
  the other bits are kept.
* ``attribute`` (OpenLDAP and others, which have no such flag): ``disable_attribute`` is set
  to ``disabled_value``, e.g. ``shadowExpire: 1`` of the nis schema, which pam_ldap, nslcd and
  SSSD treat as an account expired since 1970; ``object_class`` (e.g. ``shadowAccount``) is
  added first when the entry lacks it. Re-enabling restores the values found before.

Every change returns its rollback with the state it found, and doing it twice changes nothing
the second time (an account already disabled is reported, not touched)."""

from __future__ import annotations

import json
import math
import ssl
from typing import Any

from ldap3 import BASE, MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from hygie.respond.connectors import texts
from hygie.respond.connectors.base import ActionContext, ConnectorError, Outcome

ACCOUNTDISABLE = 0x2


def _tls_problem(url: str, ca_file: str | None, exc: Exception) -> ConnectorError | None:
    """A clear reason when the failure is the server's certificate (untrusted, wrong name)."""
    text = str(exc)
    lowered = text.lower()
    if "certificate_verify_failed" in lowered or "certificate verify failed" in lowered or \
            ("hostname" in lowered and "match" in lowered):
        trusted = texts.say("tls.ca_file", ca_file=ca_file) if ca_file else texts.say("tls.system_cas")
        return texts.error(ConnectorError, "ldap.untrusted", url=url, trusted=trusted)
    return None


def _connect(ctx: ActionContext) -> Connection:
    """A bound connection; over LDAPS or StartTLS the server's certificate is verified (always:
    against ``ca_file``, else the system's CAs) and must name the host of ``url``."""
    url = ctx.need("url")
    ca_file = ctx.settings.get("ca_file") or None
    try:
        tls = None
        if url.startswith("ldaps://") or ctx.settings.get("start_tls"):
            tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file)
        server = Server(url, connect_timeout=ctx.timeout, tls=tls, get_info=None)
        connection = Connection(server, user=ctx.settings.get("bind_dn"), password=ctx.secret("password"),
                                receive_timeout=max(1, math.ceil(ctx.timeout)), raise_exceptions=True)
        connection.open()
        if ctx.settings.get("start_tls") and not url.startswith("ldaps://"):
            connection.start_tls()
        connection.bind()
    except LDAPException as exc:
        raise _tls_problem(url, ca_file, exc) or texts.error(ConnectorError, "ldap.error", where=f" {url}",
                                                             error=f"{type(exc).__name__}: {exc}") from exc
    return connection


def _find(connection: Connection, ctx: ActionContext, user: str, attributes: list[str]) -> tuple[str, dict[str, Any]]:
    template = ctx.settings.get("user_filter", "(uid={user})")
    query = template.replace("{user}", escape_filter_chars(user))
    connection.search(ctx.need("base_dn"), query, SUBTREE, attributes=attributes, size_limit=2)
    entries = connection.response or []
    entries = [e for e in entries if e.get("type") == "searchResEntry"]
    if len(entries) != 1:
        raise texts.error(ConnectorError, "ldap.entries", count=len(entries), query=query)
    return entries[0]["dn"], dict(entries[0]["attributes"])


def _values(found: dict[str, Any], name: str) -> list[str]:
    value = found.get(name)
    if value in (None, []):
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _modify(connection: Connection, dn: str, changes: dict[str, list[tuple[str, list[Any]]]]) -> None:
    try:
        connection.modify(dn, changes)
    except LDAPException as exc:
        raise texts.error(ConnectorError, "ldap.modify", dn=dn, error=str(exc)) from exc


def _run(ctx: ActionContext, work: Any) -> Outcome:
    connection = _connect(ctx)
    try:
        return work(connection)  # type: ignore[no-any-return]
    except LDAPException as exc:
        raise texts.error(ConnectorError, "ldap.error", where="", error=f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.unbind()


def disable_user(ctx: ActionContext, args: dict[str, str], dry_run: bool) -> Outcome:
    user, strategy = args["user"], ctx.settings.get("strategy", "attribute")

    def work(connection: Connection) -> Outcome:
        if strategy == "ad":
            dn, found = _find(connection, ctx, user, ["userAccountControl"])
            current = int((_values(found, "userAccountControl") or ["512"])[0])
            if current & ACCOUNTDISABLE:
                return Outcome.said(True, "ldap.already_disabled", {"user": user}, {"dn": dn})
            if dry_run:
                return Outcome.said(True, "ldap.would_set", {"change": "ACCOUNTDISABLE", "dn": dn},
                                    {"dn": dn, "userAccountControl": current})
            _modify(connection, dn, {"userAccountControl": [(MODIFY_REPLACE, [str(current | ACCOUNTDISABLE)])]})
            return Outcome.said(True, "ldap.disabled", {"user": user, "how": dn}, {"dn": dn},
                                [{"action": "ldap.enable_user", "args": {"user": user, "previous": str(current)}}])
        if strategy != "attribute":
            raise texts.error(ConnectorError, "ldap.bad_strategy", strategy=repr(strategy))
        attribute, disabled = ctx.settings.get("disable_attribute", "shadowExpire"), str(ctx.settings.get("disabled_value", "1"))
        object_class = ctx.settings.get("object_class", "")
        dn, found = _find(connection, ctx, user, [attribute, "objectClass"])
        previous = _values(found, attribute)
        if previous == [disabled]:
            return Outcome.said(True, "ldap.already_disabled", {"user": user}, {"dn": dn})
        classes = {c.lower() for c in _values(found, "objectClass")}
        add_class = bool(object_class) and object_class.lower() not in classes
        if dry_run:
            return Outcome.said(True, "ldap.would_set", {"change": f"{attribute}={disabled}", "dn": dn},
                                {"dn": dn, "previous": previous})
        changes: dict[str, list[tuple[str, list[Any]]]] = {attribute: [(MODIFY_REPLACE, [disabled])]}
        if add_class:
            changes["objectClass"] = [(MODIFY_ADD, [object_class])]
        _modify(connection, dn, changes)
        undo = {"user": user, "previous": json.dumps(previous)}
        if add_class:
            undo["remove_class"] = object_class
        return Outcome.said(True, "ldap.disabled", {"user": user, "how": f"{attribute}={disabled}"}, {"dn": dn},
                            [{"action": "ldap.enable_user", "args": undo}])

    return _run(ctx, work)


def enable_user(ctx: ActionContext, args: dict[str, str], dry_run: bool) -> Outcome:
    """Clear the disabled state; with ``previous`` (from a disable's rollback), restore it."""
    user, strategy = args["user"], ctx.settings.get("strategy", "attribute")

    def work(connection: Connection) -> Outcome:
        if strategy == "ad":
            dn, found = _find(connection, ctx, user, ["userAccountControl"])
            current = int((_values(found, "userAccountControl") or ["512"])[0])
            target = int(args["previous"]) if args.get("previous") else current & ~ACCOUNTDISABLE
            if current == target:
                return Outcome.said(True, "ldap.already_enabled", {"user": user}, {"dn": dn})
            if dry_run:
                return Outcome.said(True, "ldap.would_set", {"change": f"userAccountControl={target}", "dn": dn},
                                    {"dn": dn})
            _modify(connection, dn, {"userAccountControl": [(MODIFY_REPLACE, [str(target)])]})
            return Outcome.said(True, "ldap.enabled", {"user": user, "dn": dn}, {"dn": dn},
                                [{"action": "ldap.disable_user", "args": {"user": user}}])
        attribute = ctx.settings.get("disable_attribute", "shadowExpire")
        dn, found = _find(connection, ctx, user, [attribute])
        current = _values(found, attribute)
        previous = json.loads(args["previous"]) if args.get("previous") else []
        if current == previous and not args.get("remove_class"):
            return Outcome.said(True, "ldap.already_enabled", {"user": user}, {"dn": dn})
        if dry_run:
            shown = str(previous) if previous else texts.say("none")
            return Outcome.said(True, "ldap.would_restore", {"attribute": attribute, "dn": dn, "previous": shown},
                                {"dn": dn})
        changes: dict[str, list[tuple[str, list[Any]]]] = {}
        if current != previous:
            changes[attribute] = [(MODIFY_REPLACE, previous)] if previous else [(MODIFY_DELETE, [])]
        if args.get("remove_class"):
            changes["objectClass"] = [(MODIFY_DELETE, [args["remove_class"]])]
        _modify(connection, dn, changes)
        return Outcome.said(True, "ldap.enabled", {"user": user, "dn": dn}, {"dn": dn},
                            [{"action": "ldap.disable_user", "args": {"user": user}}])

    return _run(ctx, work)


def _member_value(ctx: ActionContext, dn: str, user: str) -> str:
    return user if ctx.settings.get("member_value", "dn") == "uid" else dn


def _is_member(connection: Connection, group: str, attribute: str, value: str) -> bool:
    connection.search(group, f"({attribute}={escape_filter_chars(value)})", BASE, attributes=["cn"])
    return any(e.get("type") == "searchResEntry" for e in connection.response or [])


def remove_privileged_groups(ctx: ActionContext, args: dict[str, str], dry_run: bool) -> Outcome:
    user = args["user"]
    groups = list(ctx.need("privileged_groups"))
    attribute = ctx.settings.get("member_attribute", "member")

    def work(connection: Connection) -> Outcome:
        dn, _ = _find(connection, ctx, user, ["cn"])
        value = _member_value(ctx, dn, user)
        member_of = [g for g in groups if _is_member(connection, g, attribute, value)]
        if not member_of:
            return Outcome.said(True, "ldap.no_privileged_group", {"user": user}, {"dn": dn, "groups": []})
        if dry_run:
            return Outcome.said(True, "ldap.would_remove", {"user": user, "count": len(member_of)},
                                {"groups": member_of})
        for group in member_of:
            _modify(connection, group, {attribute: [(MODIFY_DELETE, [value])]})
        return Outcome.said(True, "ldap.removed", {"user": user, "count": len(member_of)}, {"groups": member_of},
                            [{"action": "ldap.add_to_groups", "args": {"user": user, "groups": json.dumps(member_of)}}])

    return _run(ctx, work)


def add_to_groups(ctx: ActionContext, args: dict[str, str], dry_run: bool) -> Outcome:
    user, groups = args["user"], json.loads(args["groups"])
    attribute = ctx.settings.get("member_attribute", "member")

    def work(connection: Connection) -> Outcome:
        dn, _ = _find(connection, ctx, user, ["cn"])
        value = _member_value(ctx, dn, user)
        missing = [g for g in groups if not _is_member(connection, g, attribute, value)]
        if dry_run:
            return Outcome.said(True, "ldap.would_add", {"user": user, "count": len(missing)}, {"groups": missing})
        if not missing:
            return Outcome.said(True, "ldap.already_in", {"user": user, "count": len(groups)}, {"groups": missing})
        for group in missing:
            _modify(connection, group, {attribute: [(MODIFY_ADD, [value])]})
        return Outcome.said(True, "ldap.added", {"user": user, "count": len(missing)}, {"groups": missing},
                            [{"action": "ldap.remove_privileged_groups", "args": {"user": user}}])

    return _run(ctx, work)
