"""Tables of threat intelligence: feeds, indicators, sightings, sharing consent, assets, the
known-exploited vulnerability catalog, NVD applicability, internet exposure and the early
warnings they raise.

A feed or indicator with no ``tenant_id`` is shared: every hospital's events are matched
against it. Indicators belong to the feed that brought them (a refresh replaces its own
indicators and no one else's), so their tenant is the feed's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
                        text)
from sqlalchemy.orm import Mapped, mapped_column

from hygie.store.state.models import Base


class IntelFeed(Base):
    """Where indicators come from (a MISP feed or instance, STIX, TAXII, a list) and how its
    last refresh went: what the console's feed status shows."""

    __tablename__ = "intel_feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"), nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # misp-feed/misp/stix/taxii/csv/text
    location: Mapped[str] = mapped_column(String(2000))  # URL or path
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    schedule_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: by hand
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_run: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_success: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    indicator_count: Mapped[int] = mapped_column(Integer, default=0)
    problem_count: Mapped[int] = mapped_column(Integer, default=0)  # entries skipped last run
    # a MISP API key or TAXII password given in the console: Fernet ciphertext (core.secrets)
    credential: Mapped[str | None] = mapped_column(Text, nullable=True)
    # TAXII: the newest date_added polled, sent as added_after next time (migration 0010)
    cursor: Mapped[str | None] = mapped_column(String(64), nullable=True)


class IntelIndicator(Base):
    """One indicator of one feed, its value normalised (see ``hygie.intel.indicators``)."""

    __tablename__ = "intel_indicators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("intel_feeds.id", ondelete="CASCADE"))
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"), nullable=True, index=True)
    type: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(2048))
    confidence: Mapped[int] = mapped_column(Integer, default=50)
    tlp: Mapped[str] = mapped_column(String(12), default="clear")
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    ref: Mapped[str] = mapped_column(String(200), default="")  # id in the source
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("feed_id", "type", "value", name="intel_indicators_unique"),
        Index("intel_indicators_value", "type", "value"),
        Index("intel_indicators_updated", "updated"),
    )


class IntelSighting(Base):
    """An indicator seen in one event of one tenant. ``anonymised``: when the tenant had not
    agreed to be named, other tenants see the sighting without its identity."""

    __tablename__ = "intel_sightings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("intel_indicators.id", ondelete="CASCADE"),
                                              index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    record_key: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(200), default="")
    seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    anonymised: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        UniqueConstraint("indicator_id", "tenant_id", "record_key", name="intel_sightings_unique"),
        Index("intel_sightings_tenant_seen", "tenant_id", "seen"),
    )


class IntelSharing(Base):
    """A tenant's consent: whether its sightings may name it to the other tenants."""

    __tablename__ = "intel_sharing"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    named: Mapped[bool] = mapped_column(Boolean, default=False)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IntelAsset(Base):
    """A host, application or medical system of a tenant, with what vulnerability matching
    needs (vendor, product, version, CPE 2.3) and what ranks a warning (criticality, exposure)."""

    __tablename__ = "intel_assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    host: Mapped[str] = mapped_column(String(255))
    ip: Mapped[str] = mapped_column(String(45), default="")
    vendor: Mapped[str] = mapped_column(String(200), default="")
    product: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[str] = mapped_column(String(100), default="")
    cpe: Mapped[str] = mapped_column(String(500), default="")
    criticality: Mapped[str] = mapped_column(String(12), default="support")  # vital/important/support
    exposed: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str] = mapped_column(String(200), default="")
    zone: Mapped[str] = mapped_column(String(100), default="")
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # where it came from (csv, console, scan: an address an exposure scan found, not inventoried;
    # observed: a host that sent events)
    source: Mapped[str] = mapped_column(String(20), default="csv", server_default=text("'csv'"))
    exposure_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # last scan
    # when the host sent events (``intel.observed``; None: never seen since observation runs)
    first_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    observed: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # names, addresses, OS, apps

    __table_args__ = (UniqueConstraint("tenant_id", "host", "vendor", "product", name="intel_assets_unique"),)


class KevEntry(Base):
    """One entry of CISA's Known Exploited Vulnerabilities catalog (shared by all tenants)."""

    __tablename__ = "intel_kev"

    cve_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    vendor: Mapped[str] = mapped_column(String(200))
    product: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(500), default="")
    date_added: Mapped[str] = mapped_column(String(10), default="")
    due_date: Mapped[str] = mapped_column(String(10), default="")
    ransomware: Mapped[str] = mapped_column(String(20), default="Unknown")
    description: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str] = mapped_column(Text, default="")


class EarlyWarning(Base):
    """What an asset of a tenant should be warned of: a known-exploited vulnerability
    (``kind`` kev, ``cve_id``) or a risky service open to the internet (``kind`` exposure,
    ``exposure_id``). Raised as an alert once (``alert_id``); a warning that no longer applies
    (patched version, port closed) is resolved by the next match."""

    __tablename__ = "intel_warnings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("intel_assets.id", ondelete="CASCADE"))
    cve_id: Mapped[str | None] = mapped_column(ForeignKey("intel_kev.cve_id", ondelete="CASCADE"), nullable=True)
    rank: Mapped[int] = mapped_column(Integer, default=0)  # higher first
    reason: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(12), default="new")  # new/acknowledged/resolved/dismissed
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(12), default="kev", server_default=text("'kev'"))
    exposure_id: Mapped[int | None] = mapped_column(ForeignKey("intel_exposures.id", ondelete="CASCADE"),
                                                    nullable=True)
    level: Mapped[str] = mapped_column(String(20), default="medium", server_default=text("'medium'"))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # ranges matched, service
    alert_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    note: Mapped[str] = mapped_column(String(500), default="", server_default=text("''"))

    __table_args__ = (
        UniqueConstraint("asset_id", "cve_id", name="intel_warnings_unique"),
        UniqueConstraint("exposure_id", name="intel_warnings_exposure"),
        Index("intel_warnings_tenant", "tenant_id", "rank"),
    )


class IntelExposure(Base):
    """A service of an asset seen open to the internet by a scan (nmap, an internet-scan
    service) or declared in the console; ``risk`` names the risky-service entry it matched
    (``intel/exposure.yml``), empty when none. ``open`` turns false when a later scan of the
    address no longer sees it."""

    __tablename__ = "intel_exposures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("intel_assets.id", ondelete="CASCADE"), index=True)
    ip: Mapped[str] = mapped_column(String(45))
    port: Mapped[int] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(4), default="tcp")
    service: Mapped[str] = mapped_column(String(100), default="")
    product: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[str] = mapped_column(String(100), default="")
    cpe: Mapped[str] = mapped_column(String(500), default="")
    risk: Mapped[str] = mapped_column(String(40), default="")
    severity: Mapped[str] = mapped_column(String(20), default="")
    cves: Mapped[list[str]] = mapped_column(JSON, default=list)  # reported by the scan service
    source: Mapped[str] = mapped_column(String(20))  # nmap/shodan/console
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("asset_id", "ip", "port", "transport", name="intel_exposures_unique"),)


class IntelCve(Base):
    """A CVE record from NVD (JSON 2.0) with its applicability: the configurations as NVD gives
    them (nodes of CPE match criteria with version ranges), read by ``hygie.intel.nvd``."""

    __tablename__ = "intel_cves"

    cve_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    published: Mapped[str] = mapped_column(String(30), default="")
    last_modified: Mapped[str] = mapped_column(String(30), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(12), default="")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    configurations: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IntelCveProduct(Base):
    """(vendor, product) of each vulnerable CPE criteria of a CVE, names as compared with an
    asset's (lower case, punctuation as ``_``): the index that finds a CVE's candidate assets."""

    __tablename__ = "intel_cve_products"

    cve_id: Mapped[str] = mapped_column(ForeignKey("intel_cves.cve_id", ondelete="CASCADE"), primary_key=True)
    vendor: Mapped[str] = mapped_column(String(200), primary_key=True)
    product: Mapped[str] = mapped_column(String(200), primary_key=True)

    __table_args__ = (Index("intel_cve_products_name", "vendor", "product"),)
