"""The actions playbooks may name in ``x-hygie-action`` commands, and where each is
implemented. Modules are imported only when an action runs, so loading playbooks does not
load LDAP, SMTP or apprise."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from hygie.respond.connectors.base import ActionContext, Outcome

ActionFunction = Callable[[ActionContext, dict[str, str], bool], Outcome]


@dataclass(frozen=True, slots=True)
class ActionDef:
    name: str
    section: str  # the connector settings section it uses
    target: str  # module:function under hygie.respond.connectors
    params: tuple[str, ...]  # required arguments
    summary: str

    def function(self) -> ActionFunction:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(f"hygie.respond.connectors.{module}"), name)  # type: ignore[no-any-return]


ACTIONS: dict[str, ActionDef] = {a.name: a for a in (
    ActionDef("email.send", "email", "email:send", ("to", "subject", "body"), "send an email over SMTP"),
    ActionDef("webhook.post", "webhook", "webhook:post", ("event",), "POST a JSON event signed with HMAC-SHA256"),
    ActionDef("ticket.open", "ticket", "webhook:open_ticket", ("title",), "open a ticket through a webhook"),
    ActionDef("syslog.forward", "syslog", "syslog_cef:forward", ("name",), "forward a CEF event over syslog"),
    ActionDef("chat.notify", "chat", "chat:notify", ("message",), "post to chat through apprise URLs"),
    ActionDef("ldap.disable_user", "ldap", "directory:disable_user", ("user",), "disable a directory account"),
    ActionDef("ldap.enable_user", "ldap", "directory:enable_user", ("user",), "re-enable a directory account"),
    ActionDef("ldap.remove_privileged_groups", "ldap", "directory:remove_privileged_groups", ("user",),
              "remove an account from the privileged groups"),
    ActionDef("ldap.add_to_groups", "ldap", "directory:add_to_groups", ("user", "groups"),
              "add an account back to groups"),
    ActionDef("nftables.block", "nftables", "network:nft_block", ("address",), "add an address to the nftables block set"),
    ActionDef("nftables.unblock", "nftables", "network:nft_unblock", ("address",), "remove an address from the block set"),
    ActionDef("firewall.block", "firewall", "network:rest_block", ("address",), "block an address through a firewall REST API"),
    ActionDef("firewall.unblock", "firewall", "network:rest_unblock", ("address",), "unblock an address through the REST API"),
    ActionDef("edr.isolate", "edr", "endpoint:isolate", ("host",), "isolate a host (generic EDR or Wazuh)"),
    ActionDef("edr.release", "edr", "endpoint:release", ("host",), "release a host from isolation"),
)}
