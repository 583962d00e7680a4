"""Errors that tell the user where in their input the problem is."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A position in a user's file: path and 1-based line (0 when unknown)."""

    path: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


class HygieError(Exception):
    """Base of Hygie's own errors: always carries a message meant for a person."""


class RuleLoadError(HygieError):
    """A detection rule that could not be loaded; the other rules still load."""

    def __init__(self, location: SourceLocation, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason


class RecordError(HygieError):
    """A received record that cannot be parsed: it is quarantined with this reason (meant for
    a person: what was expected, where), and the rest of the batch goes on."""
