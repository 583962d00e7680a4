"""``/api/v1/intel``: indicators (search, add, expire, detail with context), feeds (list,
add, edit, refresh, enable/disable, remove), the caller's sightings and warnings from other
hospitals' sightings. Everything goes through ``intel_store``'s tenant scope; a foreign id is
404 before any role check. The console pages call the helpers here too.

TLP:RED: only admins and analysts (the SOC's people) read TLP:RED indicators; hospital and
viewer roles never get them in lists, sightings or warnings, and get 404 for one asked by id."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from hygie.core.moments import as_utc as utc
from hygie.core.secrets import Cipher, SecretError
from hygie.intel import manual
from hygie.intel.refresh import is_refreshing, refresh_in_background
from hygie.store.state import intel_context, intel_store
from hygie.store.state.access import Principal
from hygie.store.state.intel_context import IndicatorContext
from hygie.store.state.models_intel import IntelFeed, IntelIndicator, IntelSighting
from hygie.web.api.intel_schemas import (FeedIn, FeedOut, FeedUpdate, IndicatorDetail, IndicatorIn,
                                         IndicatorOut, IndicatorPage, IndicatorType, RefreshStarted,
                                         SightingOut, SightingPage, WarningOut)
from hygie.web.api.schemas import ERROR_RESPONSES, PathId, Problem
from hygie.web.security import check_tenant, chosen_tenant, principal, require

RESPONSES: dict[int | str, dict[str, object]] = {
    **ERROR_RESPONSES,
    400: {"model": Problem, "description": "A value that is no indicator of its type, a feed "
                                           "location that is no http(s) URL, a time out of range"},
    409: {"model": Problem, "description": "Not possible now (a disabled or hand-made feed "
                                           "refreshed, a credential with no usable key)"}}
router = APIRouter(prefix="/intel", tags=["intel"], responses=RESPONSES)
SECRET_OPTIONS = {"password", "key", "secret", "api_key", "token"}  # never shown, even from the CLI
RED_READERS = {"admin", "analyst"}


def reads_red(who: Principal) -> bool:
    return who.role in RED_READERS


def _engine(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.context.engine


def _since(moment: datetime | None) -> datetime | None:
    """In UTC, as the store keeps times (400 for a time that cannot be)."""
    try:
        return moment.astimezone(timezone.utc) if moment and moment.tzinfo else \
            moment.replace(tzinfo=timezone.utc) if moment else None
    except OverflowError:
        raise HTTPException(400, "since: out of range") from None


def _scope(who: Principal, tenant: str | None) -> frozenset[str] | None:
    """The caller's tenants, or only ``tenant`` (404 unless the caller sees it)."""
    check_tenant(who, tenant)
    return frozenset({tenant}) if tenant else who.tenants


def owner_for(request: Request, who: Principal, tenant: str | None, shared: bool) -> str | None:
    """The tenant a new indicator or feed belongs to (None: shared); 404 for a tenant the
    caller does not see, 403 for a role that may not add, or a shared one by a non-admin."""
    if not shared:
        tenant = chosen_tenant(request, who, tenant or "")
    elif tenant:
        check_tenant(who, tenant)
    require(who, "rules.write")
    if shared and who.tenants is not None:
        raise HTTPException(403, "shared indicators and feeds are added by a platform admin")
    return None if shared else tenant


def indicator_out(row: IntelIndicator) -> IndicatorOut:
    expires = utc(row.expires) if row.expires else None
    return IndicatorOut(id=row.id, tenant=row.tenant_id, shared=row.tenant_id is None, feed_id=row.feed_id,
                        type=row.type, value=row.value, confidence=row.confidence, tlp=row.tlp,
                        first_seen=utc(row.first_seen), last_seen=utc(row.last_seen), expires=expires,
                        active=expires is None or expires > datetime.now(expires.tzinfo),
                        description=row.description, tags=list(row.tags or []), ref=row.ref)


def detail_out(found: IndicatorContext) -> IndicatorDetail:
    other = found.elsewhere
    return IndicatorDetail(**indicator_out(found.indicator).model_dump(), feed_name=found.feed_name,
                           feed_kind=found.feed_kind, sightings=found.sightings,
                           last_sighting=found.last_sighting,
                           other_hospitals=other.tenants if other else 0,
                           other_sightings=other.sightings if other else 0,
                           other_last_seen=other.last_seen if other else None,
                           named=list(other.named) if other else [])


def feed_out(feed: IntelFeed) -> FeedOut:
    def when(value: datetime | None) -> datetime | None:
        return utc(value) if value else None
    options = {k: v for k, v in (feed.options or {}).items() if k.lower() not in SECRET_OPTIONS}
    return FeedOut(id=feed.id, tenant=feed.tenant_id, shared=feed.tenant_id is None, name=feed.name,
                   kind=feed.kind, location=without_password(feed.location), options=options,
                   schedule_minutes=feed.schedule_minutes, enabled=feed.enabled, created=utc(feed.created),
                   last_run=when(feed.last_run), last_success=when(feed.last_success),
                   last_error=feed.last_error, indicator_count=feed.indicator_count,
                   problem_count=feed.problem_count, has_credential=bool(feed.credential),
                   cursor=feed.cursor, refreshing=is_refreshing(feed.id))


def without_password(location: str) -> str:
    """A URL's ``user:password@`` shown as ``user:***@`` (a location given on the command line)."""
    try:
        parts = urlsplit(location)
        if parts.password is None:
            return location
    except ValueError:
        return location
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


# -- shared with the console pages --------------------------------------------------------------
def add_indicator(request: Request, who: Principal, owner: str | None, value: str, kind: str | None,
                  tlp: str, confidence: int, expires: datetime | None, description: str) -> IntelIndicator:
    """Checks and stores one indicator of ``owner`` (from ``owner_for``: tenancy and role are
    checked before the entry is); 400 with the reason when it cannot be one."""
    try:
        checked = manual.indicator(value, kind, tlp, confidence, expires, description)
    except manual.InputError as exc:
        raise HTTPException(400, str(exc)) from None
    try:
        return intel_store.add_indicator(_engine(request), who.tenants, owner, checked, who.actor)
    except intel_store.IntelStoreError as exc:
        raise HTTPException(403, str(exc)) from None


def expire_indicator(request: Request, who: Principal, indicator_id: int) -> IntelIndicator:
    engine = _engine(request)
    if not visible_indicator(request, who, indicator_id):
        raise HTTPException(404, f"no indicator {indicator_id}")
    require(who, "rules.write")
    if not intel_store.expire_indicator(engine, who.tenants, indicator_id, actor=who.actor):
        raise HTTPException(403, "a shared indicator is expired by a platform admin")
    return intel_store.get_indicators(engine, who.tenants, [indicator_id])[0]


def visible_indicator(request: Request, who: Principal, indicator_id: int) -> IntelIndicator | None:
    rows = intel_store.get_indicators(_engine(request), who.tenants, [indicator_id])
    return rows[0] if rows and (reads_red(who) or rows[0].tlp != "red") else None


def add_feed(request: Request, who: Principal, owner: str | None, body: FeedIn) -> IntelFeed:
    """Checks and stores a feed of ``owner`` (from ``owner_for``), its credential sealed."""
    secret = body.credential.get_secret_value()
    try:
        options = manual.feed(body.name, body.kind, body.location, body.schedule_minutes, body.tlp,
                              body.confidence, body.expire_days, body.user, secret)
    except manual.InputError as exc:
        raise HTTPException(400, str(exc)) from None
    context = request.app.state.context
    try:
        sealed = Cipher.of(context.data_dir).seal(secret) if secret else None
    except SecretError as exc:  # an unsafe key file: say so, store nothing
        raise HTTPException(409, f"the credential cannot be stored: {exc}") from None
    return intel_store.add_feed(context.engine, who.tenants, owner, body.name.strip(), body.kind,
                                body.location.strip(), options, body.schedule_minutes, sealed, who.actor)


def writable_feed(request: Request, who: Principal, feed_id: int) -> IntelFeed:
    """The feed if the caller sees it (else 404) and may change it (else 403)."""
    feed = intel_store.get_feed(_engine(request), who.tenants, feed_id)
    if feed is None:
        raise HTTPException(404, f"no feed {feed_id}")
    require(who, "rules.write")
    if feed.tenant_id is None and who.tenants is not None:
        raise HTTPException(403, "a shared feed is changed by a platform admin")
    return feed


FEED_OPTIONS = ("tlp", "confidence", "expire_days", "user")  # what the console sets; other options stay
SECRET_SOURCES = ("key", "key_env", "password", "password_env")  # a credential the CLI gave


def edit_feed(request: Request, who: Principal, feed_id: int, body: FeedUpdate) -> IntelFeed:
    """Change what ``body`` gives, checked by ``manual.feed`` with the rest as stored (400 with
    the reason); a location given as shown (password masked) is the stored one. A credential
    given replaces the stored one, sealed; none keeps it."""
    feed = writable_feed(request, who, feed_id)
    context = request.app.state.context
    given = {k for k in body.model_fields_set if k != "enabled"}
    given -= {k for k in ("name", "location", "user", "credential") if getattr(body, k) is None}
    if given:
        if feed.kind == "manual":
            raise HTTPException(409, "the feed of indicators added by hand is only enabled or disabled")
        options = dict(feed.options or {})
        location = (body.location or "").strip() if "location" in given else feed.location
        kept = location in (feed.location, without_password(feed.location))
        secret = body.credential.get_secret_value() if body.credential is not None else ""
        stored_user = str(options.get("user", "")) if feed.kind in manual.CREDENTIAL_KINDS else ""
        user = body.user if body.user is not None else stored_user
        values = {name: getattr(body, name) if name in given else options.get(name)
                  for name in ("tlp", "confidence", "expire_days")}
        name = (body.name or "") if "name" in given else feed.name
        schedule = body.schedule_minutes if "schedule_minutes" in given else feed.schedule_minutes
        try:
            checked = manual.feed(name, feed.kind, location, schedule, _text(values["tlp"]),
                                  _whole(values["confidence"]), _whole(values["expire_days"]), user, secret,
                                  location_kept=kept, credential_kept=bool(feed.credential) or any(
                                      k in options for k in SECRET_SOURCES))
        except manual.InputError as exc:
            raise HTTPException(400, str(exc)) from None
        try:
            sealed = Cipher.of(context.data_dir).seal(secret) if secret else None
        except SecretError as exc:  # an unsafe key file: say so, change nothing
            raise HTTPException(409, f"the credential cannot be stored: {exc}") from None
        changes = {"name": name.strip(), "location": feed.location if kept else location,
                   "schedule_minutes": schedule, "credential": sealed,
                   "options": {**{k: v for k, v in options.items() if k not in FEED_OPTIONS}, **checked}}
        intel_store.update_feed(context.engine, who.tenants, feed_id, changes, who.actor, without_password)
    if body.enabled is not None:
        intel_store.set_feed_enabled(context.engine, who.tenants, feed_id, body.enabled, who.actor)
    return intel_store.get_feed(context.engine, who.tenants, feed_id)  # type: ignore[return-value]


def _text(value: object) -> str | None:
    return str(value) if value else None


def _whole(value: object) -> int | None:
    """A stored option as the check takes it (the CLI keeps what it was given)."""
    try:
        return None if value is None or isinstance(value, bool) else int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def refresh(request: Request, who: Principal, feed_id: int) -> RefreshStarted:
    feed = writable_feed(request, who, feed_id)
    if feed.kind == "manual":
        raise HTTPException(409, "indicators added by hand have no source to read")
    if not feed.enabled:
        raise HTTPException(409, "the feed is disabled: enable it first")
    context = request.app.state.context
    intel_store.note_refresh(context.engine, who.tenants, feed_id, who.actor)
    started = refresh_in_background(context.engine, feed, context.data_dir)
    return RefreshStarted(feed_id=feed_id, started=started,
                          detail="refresh started" if started else "a refresh is already running")


# -- routes ------------------------------------------------------------------------------------
@router.get("/indicators", response_model=IndicatorPage)
def list_indicators(request: Request, q: str | None = Query(None, max_length=200),
                    type: IndicatorType | None = None, tenant: str | None = Query(None, max_length=64),
                    feed_id: int | None = Query(None, ge=1, le=2**53), active: bool | None = None,
                    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=1_000_000),
                    who: Principal = Depends(principal)) -> IndicatorPage:
    """Own and shared indicators (``tenant``: those that apply to that hospital), newest first."""
    rows, total = intel_store.search_indicators(_engine(request), _scope(who, tenant), q or None, type,
                                                limit, offset, feed_id, active, hide_red=not reads_red(who))
    return IndicatorPage(total=total, limit=limit, offset=offset, items=[indicator_out(r) for r in rows])


@router.post("/indicators", response_model=IndicatorOut, status_code=201)
def post_indicator(request: Request, body: IndicatorIn, who: Principal = Depends(principal)) -> IndicatorOut:
    """Add an indicator by hand (the same value again updates it and makes it match again);
    the running service matches it within its refresh period (a minute)."""
    owner = owner_for(request, who, body.tenant, body.shared)
    return indicator_out(add_indicator(request, who, owner, body.value, body.type, body.tlp,
                                       body.confidence, body.expires, body.description))


@router.get("/indicators/{indicator_id:int}", response_model=IndicatorDetail)
def get_indicator(request: Request, indicator_id: PathId, who: Principal = Depends(principal)) -> IndicatorDetail:
    if not visible_indicator(request, who, indicator_id):
        raise HTTPException(404, f"no indicator {indicator_id}")
    [found] = intel_context.indicator_context(_engine(request), who.tenants, [indicator_id])
    return detail_out(found)


@router.post("/indicators/{indicator_id:int}/expire", response_model=IndicatorOut)
def post_expire(request: Request, indicator_id: PathId, who: Principal = Depends(principal)) -> IndicatorOut:
    """Stop an indicator matching now (it stays listed)."""
    return indicator_out(expire_indicator(request, who, indicator_id))


@router.get("/feeds", response_model=list[FeedOut])
def list_feeds(request: Request, tenant: str | None = Query(None, max_length=64),
               who: Principal = Depends(principal)) -> list[FeedOut]:
    """Own and shared feeds with their last refresh: success, error, counts."""
    return [feed_out(f) for f in intel_store.list_feeds(_engine(request), _scope(who, tenant))]


@router.post("/feeds", response_model=FeedOut, status_code=201)
def post_feed(request: Request, body: FeedIn, who: Principal = Depends(principal)) -> FeedOut:
    """Add a feed (read it with ``/refresh``; scheduled ones are read by the service)."""
    return feed_out(add_feed(request, who, owner_for(request, who, body.tenant, body.shared), body))


@router.get("/feeds/{feed_id:int}", response_model=FeedOut)
def get_feed(request: Request, feed_id: PathId, who: Principal = Depends(principal)) -> FeedOut:
    feed = intel_store.get_feed(_engine(request), who.tenants, feed_id)
    if feed is None:
        raise HTTPException(404, f"no feed {feed_id}")
    return feed_out(feed)


@router.patch("/feeds/{feed_id:int}", response_model=FeedOut)
def patch_feed(request: Request, feed_id: PathId, body: FeedUpdate, who: Principal = Depends(principal)) -> FeedOut:
    """Change a feed: enable or disable it (a disabled feed's indicators stop matching), or its
    name, location, schedule, defaults and credential (checked as when it was added; they apply
    from its next refresh)."""
    return feed_out(edit_feed(request, who, feed_id, body))


@router.post("/feeds/{feed_id:int}/refresh", response_model=RefreshStarted, status_code=202)
def post_refresh(request: Request, feed_id: PathId, who: Principal = Depends(principal)) -> RefreshStarted:
    """Read the feed now, in the background: its status (``GET /feeds/{id}``) says how it went."""
    return refresh(request, who, feed_id)


@router.delete("/feeds/{feed_id:int}", status_code=204)
def delete_feed(request: Request, feed_id: PathId, who: Principal = Depends(principal)) -> Response:
    """Remove a feed with its indicators and their sightings."""
    writable_feed(request, who, feed_id)
    intel_store.remove_feed(_engine(request), who.tenants, feed_id, who.actor)
    return Response(status_code=204)


@router.get("/sightings", response_model=SightingPage)
def list_sightings(request: Request, tenant: str | None = Query(None, max_length=64),
                   indicator_id: int | None = Query(None, ge=1, le=2**53), since: datetime | None = None,
                   limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=1_000_000),
                   who: Principal = Depends(principal)) -> SightingPage:
    """Indicators seen in the caller's hospitals, newest first."""
    rows, total = intel_context.sighting_page(_engine(request), _scope(who, tenant), limit, offset,
                                              indicator_id, _since(since), hide_red=not reads_red(who))
    return SightingPage(total=total, limit=limit, offset=offset, items=[sighting_out(s, i) for s, i in rows])


def sighting_out(seen: IntelSighting, indicator: IntelIndicator) -> SightingOut:
    return SightingOut(id=seen.id, tenant=seen.tenant_id, indicator_id=indicator.id, type=indicator.type,
                       value=indicator.value, field=seen.field, record_key=seen.record_key, seen=utc(seen.seen))


@router.get("/warnings", response_model=list[WarningOut])
def list_warnings(request: Request, tenant: str | None = Query(None, max_length=64),
                  since: datetime | None = None, limit: int = Query(100, ge=1, le=1000),
                  who: Principal = Depends(principal)) -> list[WarningOut]:
    """Shared indicators seen in other hospitals: how many, how often, when last; a hospital
    is named only if it agreed."""
    warnings = intel_store.shared_warnings(_engine(request), _scope(who, tenant), _since(since), limit,
                                           hide_red=not reads_red(who))
    return [WarningOut(indicator_id=w.indicator_id, type=w.type, value=w.value, hospitals=w.tenants,
                       sightings=w.sightings, last_seen=w.last_seen, named=list(w.named)) for w in warnings]
