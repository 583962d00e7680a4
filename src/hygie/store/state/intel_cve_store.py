"""NVD CVE records (shared by every tenant, like the KEV catalog) and their product index: a
CVE is found from an asset's (vendor, product) without reading every record."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, delete, func, select, tuple_
from sqlalchemy.orm import Session

from hygie.store.state.models_intel import IntelCve, IntelCveProduct

CVE_FIELDS = ("published", "last_modified", "description", "severity", "score", "configurations")
CHUNK = 500


def upsert_cves(engine: Engine, records: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Add or replace CVE records, each with its products (``products``: (vendor, product)
    keys); returns (added, updated). A record older than the stored one (``last_modified``)
    is left out, so re-importing an old file never undoes a newer one."""
    added = updated = 0
    now = datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        for start in range(0, len(records), CHUNK):
            chunk = records[start:start + CHUNK]
            known = {c.cve_id: c for c in session.scalars(
                select(IntelCve).where(IntelCve.cve_id.in_([r["cve_id"] for r in chunk])))}
            for record in chunk:
                row = known.get(record["cve_id"])
                if row is None:
                    row = known[record["cve_id"]] = IntelCve(cve_id=record["cve_id"])
                    session.add(row)
                    added += 1
                elif row.last_modified and record.get("last_modified", "") < row.last_modified:
                    continue
                else:
                    updated += 1
                for name in CVE_FIELDS:
                    setattr(row, name, record.get(name, getattr(row, name)))
                row.updated = now
                session.flush()
                session.execute(delete(IntelCveProduct).where(IntelCveProduct.cve_id == row.cve_id))
                session.add_all([IntelCveProduct(cve_id=row.cve_id, vendor=vendor[:200], product=product[:200])
                                 for vendor, product in sorted(record.get("products", ()))])
    return added, updated


def get_cves(engine: Engine, cve_ids: Iterable[str]) -> dict[str, IntelCve]:
    wanted = sorted(set(cve_ids))
    found: dict[str, IntelCve] = {}
    with Session(engine) as session:
        for start in range(0, len(wanted), CHUNK):
            found.update((c.cve_id, c) for c in session.scalars(
                select(IntelCve).where(IntelCve.cve_id.in_(wanted[start:start + CHUNK]))))
    return found


def products_of(engine: Engine, cve_ids: Iterable[str]) -> dict[str, set[tuple[str, str]]]:
    wanted = sorted(set(cve_ids))
    found: dict[str, set[tuple[str, str]]] = {}
    with Session(engine) as session:
        for start in range(0, len(wanted), CHUNK):
            for cve_id, vendor, product in session.execute(
                    select(IntelCveProduct.cve_id, IntelCveProduct.vendor, IntelCveProduct.product)
                    .where(IntelCveProduct.cve_id.in_(wanted[start:start + CHUNK]))):
                found.setdefault(cve_id, set()).add((vendor, product))
    return found


def cves_for_products(engine: Engine, keys: Iterable[tuple[str, str]], limit: int = 2000) -> list[IntelCve]:
    """The CVEs with a vulnerable criteria naming one of ``keys`` (or any vendor/product, ``*``),
    newest first."""
    wanted = sorted({k for vendor, product in keys for k in ((vendor, product), (vendor, "*"), ("*", product))}
                    | {("*", "*")})
    with Session(engine) as session:
        ids = select(IntelCveProduct.cve_id).where(
            tuple_(IntelCveProduct.vendor, IntelCveProduct.product).in_(wanted)).distinct()
        return list(session.scalars(select(IntelCve).where(IntelCve.cve_id.in_(ids))
                                    .order_by(IntelCve.published.desc()).limit(limit)))


def cve_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(IntelCve)) or 0
