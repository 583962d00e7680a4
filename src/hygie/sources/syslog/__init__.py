"""Syslog collection: RFC 6587 stream framing (:mod:`.framing`) and the UDP, TCP and TLS
(RFC 5425) listeners that turn received messages into :class:`hygie.core.record.RawRecord`
(:mod:`.listeners`). Parsing is the normalise stage's job (:mod:`hygie.normalize.syslog`), so a
listener never fails on what a message says.
"""
