"""CPE 2.3 names and version ranges, as NVD's applicability statements use them.

There is no CPE package in the lock, so this module follows the specifications directly:

* **Formatted strings** (NISTIR 7695 §6.2): ``cpe:2.3:part:vendor:product:version:update:
  edition:language:sw_edition:target_sw:target_hw:other``, fields split on unescaped ``:``;
  ``*`` alone is ANY, ``-`` alone is NA; ``\\`` quotes the next punctuation character
  (``\\:``, ``\\(``, ``\\*``); letters, digits, ``.``, ``-`` and ``_`` go unquoted; an unquoted
  ``*`` (one) or ``?`` (one or more) may stand only at a value's start or end, as wildcards.
  Values are compared without case.
* **Name matching** (NISTIR 7696 table 6-2): each attribute of a source (NVD's criteria) is
  compared with the target (an asset's name): EQUAL, SUPERSET, SUBSET, DISJOINT or UNDEFINED
  (a target with wildcards). Since an asset's name is often less specific than a criteria
  (its ``update`` or ``target_hw`` unknown), the answer is three-valued: ``YES`` (every
  attribute EQUAL or SUPERSET), ``NO`` (one DISJOINT) or ``MAYBE`` (we cannot tell).
* **Versions**: two versions that both parse as PEP 440 with every pre/post/dev marker
  followed by its number (``2.14.1``, ``7.2.0rc1``) are compared with ``packaging.version``.
  Otherwise (``15.2(4)M``, ``10.2.1-build3``, ``16.12.1a``) a natural order like rpm's:
  runs of digits and of letters, separators ignored; numbers by value, a letter run before a
  number at the same place, a version that continues another is the later one
  (``16.12.1 < 16.12.1a``, ``10.2.1 < 10.2.1-build3``); trailing zero runs are ignored, so
  ``7.2 == 7.2.0``. A range's ends are compared by the same rule, never as string prefixes."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import total_ordering

from packaging.version import InvalidVersion, Version

ATTRIBUTES = ("part", "vendor", "product", "version", "update", "edition", "language", "sw_edition",
              "target_sw", "target_hw", "other")
PARTS = ("a", "o", "h")
_UNQUOTED = re.compile(r"[a-z0-9._-]")


class CpeError(ValueError):
    """A string that is not a CPE 2.3 formatted string; the message says where and why."""


class Tri(enum.IntEnum):
    """Three-valued (Kleene) logic: the answer when the asset's description may not say."""

    NO = 0
    MAYBE = 1
    YES = 2

    def __invert__(self) -> Tri:  # type: ignore[override]
        return Tri(2 - self.value)


def tri_all(values: list[Tri]) -> Tri:
    return min(values, default=Tri.YES)


def tri_any(values: list[Tri]) -> Tri:
    return max(values, default=Tri.NO)


class Relation(enum.Enum):
    EQUAL = "equal"
    SUPERSET = "superset"
    SUBSET = "subset"
    DISJOINT = "disjoint"
    UNDEFINED = "undefined"


@dataclass(frozen=True, slots=True)
class Value:
    """One attribute: ANY, NA, or a literal (unquoted, lower case) with optional wildcards
    before and after (``*`` or a run of ``?``)."""

    kind: str  # "any", "na", "value"
    literal: str = ""
    before: str = ""
    after: str = ""

    @property
    def wild(self) -> bool:
        return bool(self.before or self.after)

    def pattern(self) -> re.Pattern[str]:
        def wildcard(text: str) -> str:
            return ".*" if text == "*" else "." * len(text)
        return re.compile(wildcard(self.before) + re.escape(self.literal) + wildcard(self.after), re.DOTALL)

    def formatted(self) -> str:
        if self.kind == "any":
            return "*"
        if self.kind == "na":
            return "-"
        quoted = "".join(c if _UNQUOTED.fullmatch(c) else "\\" + c for c in self.literal)
        if quoted == "-" and not self.wild:
            quoted = "\\-"  # a lone unquoted hyphen would be NA
        return self.before + quoted + self.after


ANY = Value("any")
NA = Value("na")


@dataclass(frozen=True, slots=True)
class Name:
    """A parsed CPE 2.3 name: one ``Value`` per attribute, in ``ATTRIBUTES`` order."""

    values: tuple[Value, ...]

    def __getattr__(self, attribute: str) -> Value:
        try:
            return self.values[ATTRIBUTES.index(attribute)]
        except ValueError:
            raise AttributeError(attribute) from None

    def formatted(self) -> str:
        return "cpe:2.3:" + ":".join(v.formatted() for v in self.values)

    def __str__(self) -> str:
        return self.formatted()


def _split(text: str) -> list[str]:
    fields, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        raise CpeError(f"a trailing backslash quotes nothing: {text[:120]!r}")
    fields.append("".join(current))
    return fields


def parse_value(field: str, attribute: str = "value") -> Value:
    """One formatted-string field to a ``Value``; ``CpeError`` says which character is wrong."""
    if field == "*":
        return ANY
    if field == "-":
        return NA
    if not field:
        raise CpeError(f"{attribute} is empty (ANY is '*', NA is '-')")
    tokens: list[tuple[str, bool]] = []  # (character, quoted)
    index = 0
    while index < len(field):
        char = field[index]
        if char == "\\":
            if index + 1 == len(field):
                raise CpeError(f"{attribute}: a trailing backslash quotes nothing")
            quoted = field[index + 1]
            if quoted.isalnum() or quoted == "_":
                raise CpeError(f"{attribute}: '\\{quoted}' quotes a character that needs no quoting")
            tokens.append((quoted, True))
            index += 2
            continue
        tokens.append((char.lower(), False))
        index += 1
    start, end = 0, len(tokens)
    if tokens[0] == ("*", False):
        before, start = "*", 1
    else:
        while start < end and tokens[start] == ("?", False):
            start += 1
        before = "?" * start
    after = ""
    if end > start and tokens[end - 1] == ("*", False):
        after, end = "*", end - 1
    else:
        while end > start and tokens[end - 1] == ("?", False):
            end -= 1
            after += "?"
    literal = []
    for position, (char, quoted) in enumerate(tokens[start:end], start):
        if not quoted and not _UNQUOTED.fullmatch(char):
            what = "a wildcard inside a value" if char in "*?" else "an unquoted special character"
            raise CpeError(f"{attribute}: {what} {char!r} at {position + 1} in {field!r} (quote it with '\\')")
        literal.append(char.lower())
    if not literal and before == "*" and after:
        raise CpeError(f"{attribute}: {field!r} is only wildcards")
    return Value("value", "".join(literal), before, after)


def parse(text: str) -> Name:
    """A CPE 2.3 formatted string to a ``Name``; ``CpeError`` for anything else (a CPE 2.2
    URI ``cpe:/a:...``, a wrong field count, a bad character)."""
    whole = text.lstrip()
    text = whole.rstrip()
    if text != whole and (len(text) - len(text.rstrip("\\"))) % 2:
        text = whole[:len(text) + 1]  # an odd run of backslashes quotes the space after it
    if text.lower().startswith("cpe:/"):
        raise CpeError(f"a CPE 2.2 URI, not a CPE 2.3 formatted string: {text[:120]!r}")
    fields = _split(text)
    if len(fields) != 13 or fields[0].lower() != "cpe" or fields[1] != "2.3":
        raise CpeError(f"not a CPE 2.3 name (cpe:2.3: and 11 attributes, 13 fields; got {len(fields)}): "
                       f"{text[:120]!r}")
    part = fields[2].lower()
    if part not in (*PARTS, "*", "-"):
        raise CpeError(f"part must be a, o or h, not {fields[2]!r}")
    values = [parse_value(field, attribute) for field, attribute in zip(fields[2:], ATTRIBUTES)]
    return Name(tuple(values))


def literal(text: str) -> Value:
    """A free-text value (an asset's version typed by hand) as a literal, or ANY if empty."""
    text = text.strip().lower()
    return Value("value", text) if text else ANY


def build(part: str = "*", vendor: str = "", product: str = "", version: str = "") -> Name:
    """A name from inventory columns (what an asset without a CPE is matched as)."""
    head = [parse_value(part, "part") if part else ANY, literal(vendor), literal(product), literal(version)]
    return Name(tuple(head + [ANY] * (len(ATTRIBUTES) - 4)))


def compare(source: Value, target: Value) -> Relation:
    """NISTIR 7696 table 6-2: how ``source`` (a criteria's value) relates to ``target``."""
    if target.kind == "value" and target.wild:
        return Relation.UNDEFINED
    if source.kind == "any":
        return Relation.EQUAL if target.kind == "any" else Relation.SUPERSET
    if target.kind == "any":
        return Relation.SUBSET
    if source.kind == "na" or target.kind == "na":
        return Relation.EQUAL if source.kind == target.kind else Relation.DISJOINT
    if source.wild:
        return Relation.SUPERSET if source.pattern().fullmatch(target.literal) else Relation.DISJOINT
    return Relation.EQUAL if source.literal == target.literal else Relation.DISJOINT


def _verdict(relation: Relation) -> Tri:
    if relation in (Relation.EQUAL, Relation.SUPERSET):
        return Tri.YES
    return Tri.NO if relation is Relation.DISJOINT else Tri.MAYBE


def name_match(source: Name, target: Name, skip: tuple[str, ...] = ()) -> Tri:
    """Whether ``target`` is among the names ``source`` stands for. A target whose part is
    ANY (an inventory line without a CPE) is not held against it; ``skip`` leaves attributes
    to the caller (the version, when a range decides it)."""
    result = Tri.YES
    for attribute, source_value, target_value in zip(ATTRIBUTES, source.values, target.values):
        if attribute in skip or (attribute == "part" and target_value.kind == "any"):
            continue
        if attribute == "version" and source_value.kind == target_value.kind == "value" \
                and not source_value.wild and not target_value.wild:
            verdict = Tri.YES if same_version(source_value.literal, target_value.literal) else Tri.NO
        else:
            verdict = _verdict(compare(source_value, target_value))
        result = min(result, verdict)
        if result is Tri.NO:
            break
    return result


# -- versions ------------------------------------------------------------------------------------
_TOKENS = re.compile(r"\d+|[a-z]+")
_LETTERS = re.compile(r"[a-z]+")


def _pep440(text: str) -> Version | None:
    """A PEP 440 version when every letter run in ``text`` is a marker followed by a number."""
    lowered = text.strip().lower()
    for run in _LETTERS.finditer(lowered):
        if run.start() == 0 and run.group() == "v":
            continue
        if run.end() >= len(lowered) or not lowered[run.end()].isdigit():
            return None
    try:
        return Version(lowered)
    except InvalidVersion:
        return None


@total_ordering
@dataclass(frozen=True, slots=True)
class NaturalKey:
    """The fallback order: digit runs by value, letter runs before numbers, trailing zeros dropped."""

    parts: tuple[tuple[int, int | str], ...]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, NaturalKey):
            return NotImplemented
        return self.parts < other.parts


def natural_key(text: str) -> NaturalKey:
    parts: list[tuple[int, int | str]] = [(1, int(t)) if t.isdigit() else (0, t)
                                          for t in _TOKENS.findall(text.lower())]
    while parts and parts[-1] == (1, 0):
        parts.pop()
    return NaturalKey(tuple(parts))


def compare_versions(left: str, right: str) -> int:
    """-1, 0 or 1: PEP 440 when both parse as such, else the natural order (module docstring)."""
    a, b = _pep440(left), _pep440(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    x, y = natural_key(left), natural_key(right)
    return (x > y) - (x < y)


def same_version(left: str, right: str) -> bool:
    return left.strip().lower() == right.strip().lower() or compare_versions(left, right) == 0


@dataclass(frozen=True, slots=True)
class Range:
    """NVD's bounds of a criteria; any of them may be absent."""

    start_including: str | None = None
    start_excluding: str | None = None
    end_including: str | None = None
    end_excluding: str | None = None

    @property
    def bounded(self) -> bool:
        return any((self.start_including, self.start_excluding, self.end_including, self.end_excluding))

    def contains(self, version: str) -> bool:
        if self.start_including is not None and compare_versions(version, self.start_including) < 0:
            return False
        if self.start_excluding is not None and compare_versions(version, self.start_excluding) <= 0:
            return False
        if self.end_including is not None and compare_versions(version, self.end_including) > 0:
            return False
        return not (self.end_excluding is not None and compare_versions(version, self.end_excluding) >= 0)

    def __str__(self) -> str:
        low = f">= {self.start_including}" if self.start_including else \
            f"> {self.start_excluding}" if self.start_excluding else ""
        high = f"<= {self.end_including}" if self.end_including else \
            f"< {self.end_excluding}" if self.end_excluding else ""
        return ", ".join(p for p in (low, high) if p) or "every version"


def match_with_range(criteria: Name, bounds: Range, target: Name) -> Tri:
    """A criteria with optional version range against a target name: the name (version aside
    when a range is given) and then the target's version within the range. A target version
    that is ANY or has wildcards is MAYBE; NA is outside any range."""
    if not bounds.bounded:
        return name_match(criteria, target)
    verdict = name_match(criteria, target, skip=("version",))
    if verdict is Tri.NO:
        return verdict
    if criteria.version.kind == "value":  # a range on a fixed version: both must hold
        verdict = min(verdict, _verdict(compare(criteria.version, target.version))
                      if criteria.version.wild or target.version.kind != "value"
                      else Tri.YES if same_version(criteria.version.literal, target.version.literal) else Tri.NO)
    version = target.version
    if version.kind == "na":
        return Tri.NO
    if version.kind == "any" or version.wild:
        return min(verdict, Tri.MAYBE)
    return verdict if bounds.contains(version.literal) else Tri.NO
