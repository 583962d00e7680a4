"""The REST API against its own OpenAPI schema, with schemathesis: generated requests (valid
and invalid) never get a server error, and every answer matches the schema.

The application is built when the module is imported (schemathesis parametrises from a schema
object), over a throw-away state store removed at exit."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from schemathesis.checks import allow_header_conformance, negative_data_rejection, positive_data_acceptance
from hypothesis import HealthCheck, settings

from hygie.intel import early_warning
from hygie.respond import cases
from hygie.store.state import intel_assets_store
from tests.integration.console_util import app_for, seed

_FOLDER = Path(tempfile.mkdtemp(prefix="hygie-openapi-"))
atexit.register(shutil.rmtree, _FOLDER, True)
_SEEDED = seed(f"sqlite:///{_FOLDER / 'state.db'}", _FOLDER)
_CASE = cases.create_case(_SEEDED.context.engine, None, _SEEDED.alert_ids["chu-nord"][:2], "admin")
cases.add_task(_SEEDED.context.engine, None, _CASE, "a task", "admin")
# an asset with a KEV warning (ids 1): generated edits of /intel/assets/1 reach the store
intel_assets_store.upsert_kev(_SEEDED.context.engine, [{"cve_id": "CVE-2024-21762", "vendor": "Fortinet",
                                                        "product": "FortiOS"}])
intel_assets_store.upsert_assets(_SEEDED.context.engine, None, "chu-nord", [{"host": "FW", "vendor": "fortinet",
                                                                              "product": "fortios"}])
early_warning.run_early_warning(_SEEDED.context.engine)
TOKEN = _SEEDED.context.access.create_token("analyst", "analyst", "chu-nord", "schemathesis", "test")
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app_for(_SEEDED))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_schema_and_never_fails(case) -> None:  # type: ignore[no-untyped-def]
    # every default check but three, which are not about our answers: pydantic's lax parsing
    # takes a number as a date-time (Unix time), which schemathesis counts as "invalid data
    # accepted"; a search query or a time like '2h' is a string to the schema and is read by
    # its own parser, whose refusals (400, with the position) schemathesis counts as "valid
    # data rejected"; and on a path served by two routes (GET and POST /cases), Starlette's
    # 405 lists the methods of the first route only
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"},
                           excluded_checks=[negative_data_rejection, positive_data_acceptance,
                                            allow_header_conformance])
