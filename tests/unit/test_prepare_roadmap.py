"""Roadmap: ordering (ransomware, then care continuity, then the rest; larger gap first), costs by
size with totals for the first 90 days, user overrides of the cost model, and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest

from hygie.prepare.loader import SHIPPED, load_catalog
from hygie.prepare.roadmap import build, load_costs, to_csv
from hygie.prepare.scoring import score

START = date(2026, 12, 1)
# gaps (weight * (1 - fraction)): ad-tiering 3, offline-backups 3, exposure-reduction 1 (ransomware);
# crisis-exercise 3, incident-response 1 (continuity); awareness-training 2/3 (other)
ANSWERS = {"care.continuity.2": "0", "care.gov.3": "0", "care.aware.1": "1",
           "care.exposure.2": "2", "care.ad.2": "0", "care.gov.4": "0", "care.ad.1": "3"}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog([SHIPPED])


def _roadmap(catalog, costs=None, size="medium"):
    assessment = score(catalog, ["care"], size, ANSWERS)
    return build(catalog, assessment, size, costs or load_costs(), START)


def test_every_shipped_remediation_has_a_cost_entry(catalog) -> None:
    costs = load_costs()
    used = {q.remediation for f in catalog.frameworks.values() for q in f.questions}
    assert used <= set(costs.remediations)
    for entry in costs.remediations.values():  # ranges are low <= high and grow with size
        for ranges in (entry.one_off, entry.yearly):
            assert all(low <= high for low, high in ranges.values())
            assert ranges["small"][1] <= ranges["large"][1]


def test_order_is_risk_class_then_gap(catalog) -> None:
    roadmap = _roadmap(catalog)
    assert [i.remediation for i in roadmap.items] == [
        "ad-tiering", "offline-backups", "exposure-reduction",  # ransomware: 3, 3, 1
        "crisis-exercise", "incident-response",  # continuity: 3, 1
        "awareness-training"]  # other
    assert [i.rank for i in roadmap.items] == [1, 2, 3, 4, 5, 6]
    assert [round(i.gap, 3) for i in roadmap.items] == [3, 3, 1, 3, 1, 0.667]
    assert "care.ad.1" not in roadmap.items[0].questions  # fully in place: no gap


def test_first_90_days_and_totals_by_size(catalog) -> None:
    roadmap = _roadmap(catalog)
    first = [i.remediation for i in roadmap.items if i.first_90_days]
    assert first == ["ad-tiering", "offline-backups", "exposure-reduction", "incident-response"]
    assert roadmap.items[2].due == date(2026, 12, 31)  # exposure: 30 days
    one_off, _ = roadmap.totals(first_only=True)
    assert one_off == (20000 + 30000 + 3000 + 2000, 60000 + 90000 + 15000 + 8000)
    one_off_all, yearly_all = roadmap.totals()
    assert one_off_all == (55000 + 3000 + 2000, 173000 + 12000 + 8000)
    small = _roadmap(catalog, size="small")
    assert small.totals()[0][1] < one_off_all[1]


def test_user_cost_file_overrides_entries(tmp_path: Path, catalog) -> None:
    override = tmp_path / "costs.yml"
    override.write_text(
        "remediations:\n"
        "  offline-backups:\n    one_off: {small: [1, 2], medium: [10, 20], large: [100, 200]}\n"
        "  awareness-training:\n    risk: ransomware\n"
        "assumptions:\n  - {fr: 'Devis régional 2026', en: 'Regional quote 2026'}\n")
    costs = load_costs(override)
    roadmap = _roadmap(catalog, costs)
    backups = next(i for i in roadmap.items if i.remediation == "offline-backups")
    assert backups.one_off == (10, 20) and backups.yearly == (8000, 25000)  # yearly kept
    # awareness is now a ransomware action: it comes before the continuity ones
    order = [i.remediation for i in roadmap.items]
    assert order.index("awareness-training") < order.index("crisis-exercise")
    assert roadmap.assumptions[-1].en == "Regional quote 2026"


def test_bad_cost_file_names_itself(tmp_path: Path) -> None:
    bad = tmp_path / "costs.yml"
    bad.write_text("remediations:\n  offline-backups:\n    risk: meteor\n")
    with pytest.raises(ValueError, match="costs.yml.*meteor"):
        load_costs(bad)


def test_csv_export(catalog) -> None:
    text = to_csv(_roadmap(catalog), "fr")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["remediation"] for r in rows][:2] == ["ad-tiering", "offline-backups"]
    first = rows[0]
    assert first["title"].startswith("Audit et durcissement")
    assert (first["one_off_low"], first["one_off_high"], first["currency"]) == ("20000", "60000", "EUR")
    assert first["due"] == "2027-03-01" and first["first_90_days"] == "yes"
    assert rows[-1]["first_90_days"] == "no"
