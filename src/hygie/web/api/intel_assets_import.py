"""An asset inventory imported from CSV in the console or with ``POST /api/v1/intel/assets/import``:
the CLI's reader (``intel.assets.parse_csv``: same columns and checks, a bad row refused with
its line and the others kept) and its upsert by (host, vendor, product), so the same file sent
twice updates what the first added; then the early-warning match, as after an edit. The file is
read in memory, hence the size limit, checked on the announced length before the body is read."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from fastapi import HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import UploadFile

from hygie.intel import assets as asset_csv
from hygie.intel import early_warning
from hygie.store.state import intel_assets_store as assets_store
from hygie.store.state.access import Principal
from hygie.web.security import require

MAX_IMPORT_BYTES = 5 * 1024 * 1024
SLACK = 64 * 1024  # a multipart body's boundaries and its other fields
CSV_TYPES = ("text/csv", "text/plain", "application/csv", "application/vnd.ms-excel")
OPENAPI_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


class RefusedRow(BaseModel):
    line: int = Field(description="Line of the file where the row starts (1 is the header)")
    reason: str


class AssetImport(BaseModel):
    tenant: str
    file: str
    added: int
    updated: int = Field(description="Assets already in the inventory (same host, vendor and product)")
    refused: list[RefusedRow]
    new_warnings: int = Field(description="Early warnings the match raised after the import")


def too_large() -> HTTPException:
    return HTTPException(413, f"a CSV file is limited to {MAX_IMPORT_BYTES // (1024 * 1024)} MiB")


def small_enough(request: Request) -> None:
    """A dependency listed before the caller's (whose CSRF check reads a form): an announced
    body over the limit is refused before a byte of it is read."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_IMPORT_BYTES + SLACK:
        raise too_large()


async def upload_of(request: Request) -> tuple[bytes, str]:
    """The CSV and its file name: a multipart form's ``file``, or a text/csv body; 413 over the
    limit, 415 for another type, 400 with no file."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise HTTPException(400, "choose a CSV file (form field 'file')")
        data, name = await upload.read(MAX_IMPORT_BYTES + 1), upload.filename
    elif kind in CSV_TYPES:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_IMPORT_BYTES:
                raise too_large()
            chunks.append(chunk)
        data, name = b"".join(chunks), "upload.csv"
    else:
        raise HTTPException(415, "send the CSV as text/csv, or as multipart/form-data with a 'file' field")
    if len(data) > MAX_IMPORT_BYTES:
        raise too_large()
    return data, _shown(name)


def _shown(name: str) -> str:
    """The file's own name (no folder a browser may send), printable, for the answer and the audit."""
    base = re.sub(r"[\x00-\x1f\x7f]", "", PurePath(name.replace("\\", "/")).name)
    return base[:100] or "upload.csv"


def import_csv(engine: Any, who: Principal, tenant: str, data: bytes, name: str) -> AssetImport:
    """Import into ``tenant`` (a hospital the caller sees: ``security.chosen_tenant``), audited;
    400 when the header names no host."""
    require(who, "assets.write")
    try:
        assets, problems = asset_csv.parse_csv(data, name)
    except asset_csv.HeaderError as exc:
        raise HTTPException(400, f"line 1: {exc}") from None
    refused = [RefusedRow(line=int(p.where.rsplit(":", 1)[1]), reason=p.reason) for p in problems]
    try:
        added, updated = assets_store.upsert_assets(engine, who.tenants, tenant, assets, who.actor,
                                                    {"file": name, "refused": len(refused)})
    except assets_store.AssetStoreError:
        raise HTTPException(404, "no such tenant") from None
    except IntegrityError:  # another import or edit of the same assets at the same moment
        raise HTTPException(409, "the inventory changed meanwhile: send the file again") from None
    run = early_warning.run_early_warning(engine)
    return AssetImport(tenant=tenant, file=name, added=added, updated=updated, refused=refused,
                       new_warnings=run.new)
