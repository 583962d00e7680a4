"""Framework files: the shipped ones validate and hold the public structure; bad files are
reported with path and line while the others still load; users add frameworks without code."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hygie.prepare.loader import SHIPPED, framework_dirs, load_catalog, load_file

CIS_IG1 = """1.1 1.2 2.1 2.2 2.3 3.1 3.2 3.3 3.4 3.5 3.6 4.1 4.2 4.3 4.4 4.5 4.6 4.7 5.1 5.2 5.3 5.4
6.1 6.2 6.3 6.4 6.5 7.1 7.2 7.3 7.4 8.1 8.2 8.3 9.1 9.2 10.1 10.2 10.3 11.1 11.2 11.3 11.4 12.1
14.1 14.2 14.3 14.4 14.5 14.6 14.7 14.8 15.1 17.1 17.2 17.3""".split()

GOOD = """\
id: regional
version: "1"
title: {fr: "Questionnaire ARS", en: "Regional questionnaire"}
domains:
  - {id: d1, title: {fr: "Sauvegardes", en: "Backups"}}
questions:
  - id: regional.q1
    domain: d1
    text: {fr: "Sauvegardes hors ligne ?", en: "Offline backups?"}
    weight: 2
    crosswalk: [cis.11.4]
    remediation: offline-backups
"""


@pytest.fixture(scope="module")
def shipped():
    return load_catalog([SHIPPED])


def test_shipped_frameworks_load_without_error(shipped) -> None:
    assert [str(e) for e in shipped.errors] == []
    assert set(shipped.frameworks) == {"care", "nis2", "hicp", "cis"}


def test_cis_ig1_has_exactly_the_56_safeguards(shipped) -> None:
    ids = [q.id for q in shipped.frameworks["cis"].questions]
    assert ids == [f"cis.{i}" for i in CIS_IG1]
    assert len(ids) == 56


def test_nis2_has_measures_a_to_j(shipped) -> None:
    ids = {q.id for q in shipped.frameworks["nis2"].questions}
    assert {f"nis2.{letter}" for letter in "abcdefghij"} <= ids


def test_hicp_has_ten_practices_split_by_size(shipped) -> None:
    hicp = shipped.frameworks["hicp"]
    assert [d.ref for d in hicp.domains] == [str(n) for n in range(1, 11)]
    by_level = {"S": set(), "M": set(), "L": set()}
    for question in hicp.questions:
        level = question.id.split(".")[2]
        by_level[level].add(tuple(question.sizes))
    assert by_level == {"S": {("small",)}, "M": {("medium", "large")}, "L": {("large",)}}
    medium = [q for q in hicp.questions if "medium" in q.sizes]
    large = [q for q in hicp.questions if "large" in q.sizes]
    assert len(medium) == 36 and len(large) == 36 + 34
    assert {q.domain for q in hicp.questions if "small" in q.sizes} == {d.id for d in hicp.domains}


def test_care_covers_the_operational_domains(shipped) -> None:
    care = shipped.frameworks["care"]
    titles = " | ".join(d.title.en for d in care.domains).lower()
    for word in ("governance", "pooling", "awareness", "internet exposure", "active directory",
                 "backups", "remote maintenance", "workstation supervision"):
        assert word in titles
    assert all(any(q.domain == d.id for q in care.questions) for d in care.domains)


def test_every_question_is_bilingual_and_has_a_remediation(shipped) -> None:
    for framework in shipped.frameworks.values():
        for question in framework.questions:
            assert question.text.fr != question.text.en
            assert question.remediation, question.id


def test_crosswalk_is_undirected(shipped) -> None:
    assert "nis2.j" in shipped.links["cis.6.4"]  # written only in nis2.yml
    assert "cis.6.4" in shipped.links["nis2.j"]


def test_bad_value_is_reported_with_path_and_line_and_others_still_load(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(GOOD.replace("weight: 2", "weight: heavy").replace("regional", "bad"))
    (tmp_path / "good.yml").write_text(GOOD)
    catalog = load_catalog([SHIPPED, tmp_path])
    assert "regional" in catalog.frameworks and "bad" not in catalog.frameworks
    assert [(e.location.path, e.location.line) for e in catalog.errors] == [(str(bad), 10)]
    assert "weight" in catalog.errors[0].reason


@pytest.mark.parametrize("change, line, words", [
    (("domain: d1\n    text", "domain: d9\n    text"), 8, "unknown domain 'd9'"),
    (("[cis.11.4]", "[cis.11.4, cis.99.9]"), 11, "unknown question 'cis.99.9'"),
    (("remediation: offline-backups", "evidence: telepathy"), 12, "unknown telemetry check"),
    (("id: regional.q1", "id: other.q1"), 7, "must start with"),
    (("    weight: 2\n", "    weight: 2\n    colour: red\n"), 11, "colour"),
    (("title: {fr:", "title: {fr: [:"), 3, "not valid YAML"),
])
def test_each_kind_of_problem_points_at_its_line(tmp_path: Path, change, line, words) -> None:
    path = tmp_path / "regional.yml"
    path.write_text(GOOD.replace(*change))
    catalog = load_catalog([SHIPPED, path])
    assert len(catalog.errors) == 1, [str(e) for e in catalog.errors]
    error = catalog.errors[0]
    assert (error.location.path, error.location.line) == (str(path), line)
    assert words in str(error)


def test_missing_key_is_reported_on_its_mapping(tmp_path: Path) -> None:
    path = tmp_path / "f.yml"
    path.write_text(GOOD.replace('    text: {fr: "Sauvegardes hors ligne ?", en: "Offline backups?"}\n', ""))
    framework, _, errors = load_file(path)
    assert framework is None
    assert [(e.location.line, "text" in e.reason) for e in errors] == [(7, True)]


def test_user_folder_adds_and_replaces_frameworks(tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "data"
    (data / "frameworks").mkdir(parents=True)
    (data / "frameworks" / "regional.yml").write_text(GOOD)
    override = tmp_path / "override"
    override.mkdir()
    (override / "nis2.yml").write_text(GOOD.replace("regional", "nis2"))
    monkeypatch.setenv("HYGIE_DATA_DIR", str(data))
    catalog = load_catalog(framework_dirs([override]))
    assert catalog.errors == []
    assert "regional" in catalog.frameworks
    assert [q.id for q in catalog.frameworks["nis2"].questions] == ["nis2.q1"]
    assert any("replaces" in note for note in catalog.notes)


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    catalog = load_catalog([SHIPPED, tmp_path / "nowhere"])
    assert [e.reason for e in catalog.errors] == ["no such file or folder"]
    assert len(catalog.frameworks) == 4


def test_example_is_dedented_yaml() -> None:  # guards the fixture's line numbers above
    assert textwrap.dedent(GOOD) == GOOD and GOOD.splitlines()[9] == "    weight: 2"
