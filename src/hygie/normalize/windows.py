"""Windows event records in their three common JSON shapes, flattened to Sigma field names.

* ``evtx_dump`` / pyevtx-rs JSON: ``{"Event": {"System": ..., "EventData": ...}}``
* flat NXLog / HELK records: ``EventID``, ``Channel``, ``Hostname`` and data fields at the top
* Winlogbeat / ECS documents: ``winlog.event_data.*``, ``winlog.event_id``, ``host.name``

The hot path is :func:`flatten_evtx` (one call per EVTX record), so it avoids per-field work
except for the rare nested values.
"""

from __future__ import annotations

from typing import Any

from hygie.core.event import Event, Fields

_SYSTEM_PLAIN = ("EventID", "Channel", "Computer", "EventRecordID", "Level", "Task", "Opcode",
                 "Keywords", "Version")


class RecordShapeError(ValueError):
    """A JSON document that is none of the supported event shapes."""


def _text(value: Any) -> Any:
    """Unwrap pyevtx-rs' ``{"#text": x, "#attributes": ...}`` nodes to x."""
    if value.__class__ is dict:
        if "#text" in value:
            return value["#text"]
        return None if not value or set(value) == {"#attributes"} else value
    return value


def _merge_data(fields: Fields, data: Any) -> None:
    """Merge an EventData/UserData node into ``fields`` (nested nodes flattened one level)."""
    if data.__class__ is not dict:
        if data is not None:
            fields["Data"] = data
        return
    for key, value in data.items():
        if key == "#attributes" or key.endswith("_attributes"):
            continue
        if value.__class__ is dict:
            if "#text" in value or set(value) == {"#attributes"}:
                fields[key] = _text(value)
            else:  # UserData: {"LogFileCleared": {"SubjectUserName": ...}}
                for inner_key, inner in value.items():
                    if not inner_key.startswith("#") and not inner_key.endswith("_attributes"):
                        fields[inner_key] = _text(inner)
        else:
            fields[key] = value


def flatten_evtx(doc: dict[str, Any], source: str = "", offset: int = 0) -> Event:
    """Flatten an evtx_dump JSON document (either attribute style of pyevtx-rs)."""
    ev = doc["Event"]
    system = ev.get("System")
    if system.__class__ is not dict:  # absent or malformed (a shipper's bug): no System fields
        system = {}
    fields: Fields = {}
    get = system.get
    for name in _SYSTEM_PLAIN:
        value = get(name)
        if value is not None:
            fields[name] = value if value.__class__ is not dict else _text(value)
    provider = _attributes(system, "Provider", "Provider_attributes")
    if provider:
        name = provider.get("Name")
        if name is not None:
            fields["Provider_Name"] = name
        guid = provider.get("Guid")
        if guid is not None:
            fields["Provider_Guid"] = guid
    created = _attributes(system, "TimeCreated", "TimeCreated_attributes")
    time = created.get("SystemTime") if created else None
    security = _attributes(system, "Security", "Security_attributes")
    if security and security.get("UserID"):
        fields["UserID"] = security["UserID"]
    data = ev.get("EventData")
    if data is not None:
        # the common case, a flat EventData: no value is an object (and so no attributes)
        if data.__class__ is dict and dict not in map(type, data.values()):
            fields.update(data)
        else:
            _merge_data(fields, data)
    user_data = ev.get("UserData")
    if user_data is not None:
        _merge_data(fields, user_data)
    host = fields.get("Computer")
    return Event(fields, time if time.__class__ is str else None,
                 host if host.__class__ is str else None, source, offset)


def _attributes(system: dict[str, Any], name: str, separate: str) -> dict[str, Any] | None:
    """The attributes of ``System/<name>`` in either pyevtx-rs style (``separate``, that is
    ``<name>_attributes``, or ``#attributes`` inside the node); None when absent or not an
    object."""
    found = system.get(separate)
    if found is None:
        node = system.get(name)
        found = node.get("#attributes") if node.__class__ is dict else None
    return found if found.__class__ is dict else None


# Flat (NXLog / HELK) names that differ from Sigma's.
_FLAT_RENAMES = {
    "Hostname": "Computer",
    "SourceName": "Provider_Name",
    "ProviderName": "Provider_Name",
    "RecordNumber": "EventRecordID",
}
_FLAT_TIME_KEYS = ("EventTime", "TimeCreated", "@timestamp", "timestamp", "UtcTime")


def flatten_flat(doc: dict[str, Any], source: str = "", offset: int = 0) -> Event:
    """Accept an already-flat record, renaming NXLog's few differing names."""
    fields: Fields = {}
    for key, value in doc.items():
        fields[_FLAT_RENAMES.get(key, key)] = value
    time = None
    for key in _FLAT_TIME_KEYS:
        value = doc.get(key)
        if isinstance(value, str):
            time = value
            break
    eid = fields.get("EventID")
    if isinstance(eid, str) and eid.isdigit():
        fields["EventID"] = int(eid)
    host = fields.get("Computer")
    return Event(fields, time, host if isinstance(host, str) else None, source, offset)


_ECS_WINLOG = {
    "event_id": "EventID",
    "channel": "Channel",
    "computer_name": "Computer",
    "provider_name": "Provider_Name",
    "provider_guid": "Provider_Guid",
    "record_id": "EventRecordID",
    "task": "Task",
    "opcode": "Opcode",
    "keywords": "Keywords",
}


def flatten_ecs(doc: dict[str, Any], source: str = "", offset: int = 0) -> Event:
    """Winlogbeat/ECS: ``winlog.*`` carries the Windows fields; ``host.name`` the host."""
    winlog = doc.get("winlog") or {}
    fields: Fields = {}
    for key, name in _ECS_WINLOG.items():
        value = winlog.get(key)
        if value is not None:
            fields[name] = value
    eid = fields.get("EventID")
    if isinstance(eid, str) and eid.isdigit():
        fields["EventID"] = int(eid)
    _merge_data(fields, winlog.get("event_data"))
    _merge_data(fields, winlog.get("user_data"))
    host = fields.get("Computer")
    host_node = doc.get("host")
    if not host and isinstance(host_node, dict):
        host = host_node.get("name") or host_node.get("hostname")
        if host:
            fields["Computer"] = host
    time = doc.get("@timestamp")
    return Event(fields, time if isinstance(time, str) else None,
                 host if isinstance(host, str) else None, source, offset)


def normalize_record(doc: Any, source: str = "", offset: int = 0) -> Event:
    """Pick the shape of one decoded JSON document and flatten it.

    Raises :class:`RecordShapeError` for anything that is not a JSON object.
    """
    if doc.__class__ is not dict:
        raise RecordShapeError(f"expected a JSON object, got {type(doc).__name__}")
    if "Event" in doc and doc["Event"].__class__ is dict:
        return flatten_evtx(doc, source, offset)
    if "winlog" in doc and doc["winlog"].__class__ is dict:
        return flatten_ecs(doc, source, offset)
    return flatten_flat(doc, source, offset)
