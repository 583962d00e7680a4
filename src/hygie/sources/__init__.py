"""Sources: bytes in, raw records out. One module per kind of input.

A source yields ``(offset, document)`` pairs and reports what it could not read as
:class:`hygie.core.event.InputProblem` through a callback, so one bad record never stops a run.
"""
