"""Scoring and cross-walk arithmetic on a small catalog, checked against sums done by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from hygie.prepare.loader import load_catalog
from hygie.prepare.scoring import check_value, compare, score

ALPHA = """\
id: alpha
version: "1"
title: {fr: A, en: A}
domains:
  - {id: d1, title: {fr: D1, en: D1}}
  - {id: d2, title: {fr: D2, en: D2}}
questions:
  - {id: alpha.q1, domain: d1, weight: 2, crosswalk: [beta.x3], text: {fr: q1, en: q1}}
  - {id: alpha.q2, domain: d1, scale: yesno, crosswalk: [beta.x1, beta.x2], text: {fr: q2, en: q2}}
  - {id: alpha.q3, domain: d2, sizes: [large], text: {fr: q3, en: q3}}
  - {id: alpha.q4, domain: d2, weight: 3, text: {fr: q4, en: q4}}
  - {id: alpha.q5, domain: d1, text: {fr: q5, en: q5}}
"""
BETA = """\
id: beta
version: "1"
title: {fr: B, en: B}
domains: [{id: e, title: {fr: E, en: E}}]
questions:
  - {id: beta.x1, domain: e, text: {fr: x1, en: x1}}
  - {id: beta.x2, domain: e, text: {fr: x2, en: x2}}
  - {id: beta.x3, domain: e, crosswalk: [alpha.q4], text: {fr: x3, en: x3}}
"""
ANSWERS = {"alpha.q1": "2", "beta.x1": "3", "beta.x2": "1", "alpha.q4": "na", "beta.x3": "0",
           "alpha.q3": "3"}


@pytest.fixture
def catalog(tmp_path: Path):
    (tmp_path / "alpha.yml").write_text(ALPHA)
    (tmp_path / "beta.yml").write_text(BETA)
    loaded = load_catalog([tmp_path])
    assert loaded.errors == []
    return loaded


def test_domain_and_framework_scores_by_hand(catalog) -> None:
    result = score(catalog, ["alpha", "beta"], "medium", ANSWERS)
    # d1: q1 = 2/3 (weight 2), q2 from the cross-walk = min(x1 = 1, x2 = 1/3) = 1/3 (weight 1),
    # q5 unanswered (weight 1, not scored): (2 * 2/3 + 1/3) / 3 = 5/9
    d1 = result.domains[("alpha", "d1")]
    assert d1.score == pytest.approx(100 * 5 / 9)
    assert d1.coverage == pytest.approx(75.0)  # 3 of 4 weight scored
    assert (d1.questions, d1.answered) == (3, 1)
    # d2: q3 is for large hospitals only, q4 is not applicable: nothing to score
    d2 = result.domains[("alpha", "d2")]
    assert d2.score is None and d2.total_weight == 0
    assert result.frameworks["alpha"].score == pytest.approx(100 * 5 / 9)
    # beta: (1 + 1/3 + 0) / 3
    assert result.frameworks["beta"].score == pytest.approx(100 * 4 / 9)


def test_crosswalk_takes_the_lowest_linked_answer_and_own_answer_wins(catalog) -> None:
    result = score(catalog, ["alpha", "beta"], "medium", ANSWERS)
    q2 = result.questions["alpha.q2"]
    assert (q2.source, q2.fraction, q2.via) == ("crosswalk", pytest.approx(1 / 3), ("beta.x1", "beta.x2"))
    # x3 answered 0 itself although linked to alpha.q1 (2/3): its own answer stands, flagged
    x3 = result.questions["beta.x3"]
    assert (x3.source, x3.fraction, x3.conflicts) == ("answer", 0.0, ("alpha.q1",))
    assert result.questions["alpha.q1"].conflicts == ("beta.x3",)
    assert result.questions["alpha.q4"].source == "na"


def test_one_answer_counts_in_every_framework(catalog) -> None:
    only_beta = score(catalog, ["alpha"], "medium", {"beta.x1": "3", "beta.x2": "3"})
    assert only_beta.questions["alpha.q2"].fraction == 1.0
    # (2 * 0 [q1 unanswered: not scored] ...) only q2 scores in d1: 1 * 1 / 1
    assert only_beta.frameworks["alpha"].score == pytest.approx(100.0)
    assert only_beta.frameworks["alpha"].coverage == pytest.approx(100 * 1 / 7)


def test_size_profile_selects_questions(catalog) -> None:
    large = score(catalog, ["alpha"], "large", ANSWERS)
    assert large.domains[("alpha", "d2")].score == pytest.approx(100.0)  # q3 = 3/3
    # (2 * 2/3 + 1/3 + 1 * 1) / 4
    assert large.frameworks["alpha"].score == pytest.approx(100 * (8 / 3) / 4)


def test_comparison_with_the_previous_campaign(catalog) -> None:
    before = score(catalog, ["alpha"], "medium", {**ANSWERS, "alpha.q1": "1"})
    after = score(catalog, ["alpha"], "medium", ANSWERS)
    changes = {(c.framework, c.domain): c for c in compare(after, before)}
    d1 = changes[("alpha", "d1")]
    # before: (2 * 1/3 + 1/3) / 3 = 1/3
    assert d1.before == pytest.approx(100 / 3) and d1.delta == pytest.approx(100 * (5 / 9 - 1 / 3))
    assert changes[("alpha", "d2")].delta is None


@pytest.mark.parametrize("question, value, expected", [
    ("alpha.q1", "3", "3"), ("alpha.q1", " NA ", "na"), ("alpha.q2", 1, "1"),
    ("alpha.q1", "4", None), ("alpha.q2", "2", None), ("alpha.q1", "yes", None),
    ("alpha.q9", "1", None),
])
def test_answers_are_checked_against_the_scale(catalog, question, value, expected) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            check_value(catalog, question, value)
    else:
        assert check_value(catalog, question, value) == expected
