"""Normalise: turn raw records of any supported shape into :class:`hygie.core.event.Event`.

Field names follow Sigma's Windows taxonomy so rules written for Sysmon/Security logs apply
unchanged; log-source routing (which rules see which events) is in :mod:`.logsources`.
"""
