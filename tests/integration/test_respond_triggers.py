"""Automatic playbooks: the service's periodic check starts what a tenant's triggers ask for
on alerts stored since its last look, once per case, and never on another tenant's alerts."""

from __future__ import annotations

from hygie.respond import runs
from hygie.respond.actions import Toolkit
from hygie.respond.playbooks.loader import load_library
from hygie.respond.policy import TriggerWatcher, add_trigger
from hygie.store.state.store import RecordResult, StateStore
from tests.integration.console_util import alert, seed


def test_new_alerts_fire_the_tenants_triggers_once(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    engine = seeded.context.engine
    add_trigger(engine, None, "chu-nord", "fiches_reflexes", "admin", min_severity="critical")
    watcher = TriggerWatcher(engine, Toolkit(load_library()))
    assert watcher.check() == []  # the seeded alerts were there before it started
    state = StateStore(engine)
    state.store_results([RecordResult(tenant=t, record_key=f"new-{t}-{level}", source="http", kind="json", received=0.0,
                                      alerts=[alert(f"rule-{level}", f"{t}-NEW", level)])
                         for t in ("chu-nord", "chu-sud") for level in ("critical", "low")])
    started = watcher.check()
    assert len(started) == 1
    run = runs.get_run(engine, None, started[0])
    assert run is not None and run.run.tenant_id == "chu-nord" and run.run.trigger.startswith("severity")
    assert watcher.check() == []
