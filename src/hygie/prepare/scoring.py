"""Scores per domain and per framework, with the cross-walk, and progress between campaigns.

Rules (written here because a reviewer must be able to check a score by hand):

* A question's *fraction* is its answer's level divided by its scale's top level (maturity 2 of
  0-3 is 0.667). ``na`` (not applicable) takes it out of every score; so does a size profile the
  question does not apply to (HICP's small / medium / large split).
* **Cross-walk.** A question with no answer of its own takes the answers of the questions it is
  linked to (links are undirected and *not* transitive: NIS 2 (i) is linked to four CIS
  safeguards, and chaining links would tie unrelated safeguards together). When the linked
  answers disagree, the question gets the **lowest** of their fractions: links are approximate
  and many-to-many, and crediting a measure above its weakest mapped answer would hide a gap from
  the roadmap, while under-crediting it only invites a direct answer. A question's own answer
  always wins over linked ones; linked answers that differ from it by more than one maturity
  level (a third) are listed as *conflicts* to review.
* A domain's score is ``100 * sum(weight * fraction) / sum(weight)`` over its questions that have
  a fraction (own or linked); a framework's score is the same sum over all its questions (not a
  mean of domain scores). Unanswered questions are left out of the score and shown as
  *coverage*: the share of the applicable weight that has a fraction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hygie.prepare.loader import Catalog
from hygie.prepare.schema import NOT_APPLICABLE, Framework, Question

CONFLICT_GAP = 0.34  # more than one level apart on the 0-3 maturity scale


@dataclass(frozen=True, slots=True)
class QuestionResult:
    question_id: str
    framework: str
    domain: str
    weight: float
    fraction: float | None  # None: unanswered or not applicable
    source: str  # "answer", "crosswalk", "na", "unanswered"
    via: tuple[str, ...] = ()  # for "crosswalk": the answered questions it came from
    conflicts: tuple[str, ...] = ()


@dataclass(slots=True)
class Score:
    """Weighted score of a set of questions; ``score`` is None when none has a fraction."""

    framework: str
    domain: str | None
    points: float = 0.0  # sum of weight * fraction
    scored_weight: float = 0.0  # weight of the questions with a fraction
    total_weight: float = 0.0  # weight of the applicable questions
    questions: int = 0
    answered: int = 0  # own answers (not linked, not na)

    @property
    def score(self) -> float | None:
        return None if self.scored_weight == 0 else 100.0 * self.points / self.scored_weight

    @property
    def coverage(self) -> float:
        return 0.0 if self.total_weight == 0 else 100.0 * self.scored_weight / self.total_weight

    def add(self, result: QuestionResult) -> None:
        if result.source == "na":
            return
        self.questions += 1
        self.total_weight += result.weight
        self.answered += result.source == "answer"
        if result.fraction is not None:
            self.points += result.weight * result.fraction
            self.scored_weight += result.weight


@dataclass(slots=True)
class Assessment:
    questions: dict[str, QuestionResult] = field(default_factory=dict)
    frameworks: dict[str, Score] = field(default_factory=dict)
    domains: dict[tuple[str, str], Score] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    framework: str
    domain: str | None
    before: float | None
    after: float | None

    @property
    def delta(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before


def applies(question: Question, size: str) -> bool:
    return size in question.sizes


def check_value(catalog: Catalog, question_id: str, value: str | int) -> str:
    """The answer text to store, or ValueError saying what the question accepts."""
    if question_id not in catalog.questions:
        raise ValueError(f"unknown question {question_id!r}")
    text = str(value).strip().lower()
    if text == NOT_APPLICABLE:
        return text
    framework, question = catalog.framework_of(question_id), catalog.question(question_id)
    scale = framework.scale(question.scale)
    allowed = [level.value for level in scale.levels]
    if not text.lstrip("-").isdigit() or int(text) not in allowed:
        raise ValueError(f"{question_id}: {value!r} is not a level of scale {question.scale!r} "
                         f"(accepted: {', '.join(map(str, allowed))} or {NOT_APPLICABLE})")
    return str(int(text))


def fraction_of(framework: Framework, question: Question, value: str) -> float | None:
    if value == NOT_APPLICABLE:
        return None
    return framework.scale(question.scale).fraction(int(value))


def score(catalog: Catalog, frameworks: Iterable[str], size: str,
          answers: Mapping[str, str]) -> Assessment:
    """Score the campaign's ``frameworks`` at ``size`` from ``answers`` (question id -> value
    as stored). Answers to questions of frameworks that are not loaded are ignored."""
    own: dict[str, float | None] = {}
    for question_id, value in answers.items():
        if question_id in catalog.questions:
            framework = catalog.framework_of(question_id)
            own[question_id] = fraction_of(framework, catalog.question(question_id), value)
    result = Assessment()
    for framework_id in frameworks:
        framework = catalog.frameworks.get(framework_id)
        if framework is None:
            continue
        total = result.frameworks.setdefault(framework_id, Score(framework_id, None))
        for domain in framework.domains:
            result.domains.setdefault((framework_id, domain.id), Score(framework_id, domain.id))
        for question in framework.questions:
            if not applies(question, size):
                continue
            item = _resolve(catalog, framework_id, question, answers, own)
            result.questions[question.id] = item
            total.add(item)
            result.domains[(framework_id, question.domain)].add(item)
    return result


def _resolve(catalog: Catalog, framework_id: str, question: Question,
             answers: Mapping[str, str], own: Mapping[str, float | None]) -> QuestionResult:
    linked = {other: own[other] for other in sorted(catalog.links.get(question.id, ()))
              if other in own and own[other] is not None}
    base = (question.id, framework_id, question.domain, question.weight)
    if question.id in answers and question.id in own:
        fraction = own[question.id]
        if fraction is None:
            return QuestionResult(*base, None, "na")
        conflicts = tuple(o for o, f in linked.items() if f is not None and abs(f - fraction) > CONFLICT_GAP)
        return QuestionResult(*base, fraction, "answer", conflicts=conflicts)
    if linked:
        lowest = min(f for f in linked.values() if f is not None)
        return QuestionResult(*base, lowest, "crosswalk", via=tuple(linked))
    return QuestionResult(*base, None, "unanswered")


def compare(current: Assessment, previous: Assessment) -> list[Change]:
    """Score changes per framework and domain present in both assessments."""
    changes = [Change(f, None, previous.frameworks[f].score, s.score)
               for f, s in current.frameworks.items() if f in previous.frameworks]
    changes += [Change(f, d, previous.domains[(f, d)].score, s.score)
                for (f, d), s in current.domains.items() if (f, d) in previous.domains]
    return changes
