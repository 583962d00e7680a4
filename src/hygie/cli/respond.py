"""``hygie respond``: playbooks (list, validate), runs on a case (dry run, approve, reject,
rollback), auto-approved actions and triggers, connector secrets, NIS 2 flag, details and reports."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer
import yaml
from rich.console import Console
from rich.table import Table

from hygie.cli.serve import _state, data_dir_default
from hygie.respond import nis2, nis2_report, policy, runs
from hygie.respond.actions import Toolkit
from hygie.respond.playbooks import PlaybookError, load_file, load_library
from hygie.respond.secrets import SecretError, SecretStore, load_key
from hygie.respond.settings import SettingsError, load_settings

console = Console()
app = typer.Typer(help="Response: CACAO playbooks, actions with approval, NIS 2 reports.", no_args_is_help=True)
nis2_app = typer.Typer(help="NIS 2 significant incidents and their reports.", no_args_is_help=True)
app.add_typer(nis2_app, name="nis2")
DATA_DIR = typer.Option(None, "--data-dir", help="As given to 'hygie serve'.")
DATABASE = typer.Option(None, "--database", help="State DSN, as given to 'hygie serve'.")
PLAYBOOKS = typer.Option(None, "--playbooks", help="Folder of extra playbooks (default: <data dir>/playbooks).")
ACTOR = typer.Option("cli", "--actor", help="Name written to the timeline and audit log.")


def _fail(exc: Exception) -> None:
    console.print(f"[red]{exc}[/red]")
    raise typer.Exit(2)


def _folder(data_dir: Path | None) -> Path:
    return data_dir or data_dir_default()


def _toolkit(data_dir: Path | None, database: str | None, playbooks: Path | None) -> tuple[object, Toolkit]:
    folder = _folder(data_dir)
    engine = _state(data_dir, database).engine
    extra = playbooks or folder / "playbooks"
    try:
        settings = load_settings(folder / "connectors.json")
        secrets = SecretStore(engine, load_key(folder))
    except (SettingsError, SecretError) as exc:
        _fail(exc)
    return engine, Toolkit(load_library([extra] if extra.exists() else []), settings, secrets)


@app.command("playbooks")
def playbooks_list(playbooks: Optional[Path] = PLAYBOOKS, data_dir: Path = DATA_DIR,  # noqa: UP007
                   lang: str = typer.Option("en", "--lang", help="fr or en.")) -> None:
    """List the playbooks (Hygie's and the site's) and the files that failed to load."""
    extra = playbooks or _folder(data_dir) / "playbooks"
    library = load_library([extra] if extra.exists() else [])
    table = Table("file", "id", "name", "steps")
    aliases = {v: k for k, v in library.aliases.items()}
    for playbook in sorted(library.playbooks.values(), key=lambda p: p.path):
        table.add_row(aliases.get(playbook.id, ""), playbook.id, playbook.text(lang)[0], str(len(playbook.data["workflow"])))
    console.print(table)
    for problem in library.problems:
        console.print(f"[red]{problem}[/red]")


@app.command("validate")
def validate(paths: list[Path] = typer.Argument(..., help="Playbook JSON files.")) -> None:
    """Validate playbook files against Hygie's CACAO 2.0 schema; exit 1 if one is bad."""
    bad = 0
    for path in paths:
        try:
            playbook = load_file(path)
            console.print(f"[green]ok[/green] {path}: {playbook.name}")
        except PlaybookError as exc:
            bad += 1
            for problem in exc.problems:
                console.print(f"[red]{problem}[/red]")
    raise typer.Exit(1 if bad else 0)


@app.command("run")
def run(playbook: str = typer.Argument(..., help="Playbook id or file name (ransomware_workstation)."),
        case: Optional[int] = typer.Option(None, "--case"),  # noqa: UP007
        alert: Optional[int] = typer.Option(None, "--alert", help="Run on this alert's case (opened if needed)."),  # noqa: UP007
        dry_run: bool = typer.Option(False, "--dry-run", help="Say what each action would do; change nothing."),
        var: Optional[list[str]] = typer.Option(None, "--var", help="name=value (repeatable)."),  # noqa: UP007
        actor: str = ACTOR, playbooks: Optional[Path] = PLAYBOOKS,  # noqa: UP007
        data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Start a playbook on a case; it runs until it ends or waits for an approval."""
    engine, toolkit = _toolkit(data_dir, database, playbooks)
    variables = dict(v.split("=", 1) for v in var or [] if "=" in v)
    try:
        run_id = runs.start_run(engine, None, toolkit, playbook, actor, case_id=case, alert_id=alert,  # type: ignore[arg-type]
                                dry_run=dry_run, variables=variables)
    except runs.RunError as exc:
        _fail(exc)
    _show(engine, run_id)


def _show(engine: object, run_id: int) -> None:
    view = runs.get_run(engine, None, run_id)  # type: ignore[arg-type]
    if view is None:
        _fail(runs.RunError(f"no run {run_id}"))
        return
    console.print(f"Run {run_id} ({view.run.playbook_name}) on case {view.run.case_id}: [bold]{view.run.status}[/bold]"
                  + (f" — {view.run.error}" if view.run.error else ""))
    table = Table("step", "type", "name", "status", "result")
    for step in view.steps:
        outcomes = step.result.get("outcomes", [])
        text = "; ".join(o["summary"] for o in outcomes) or step.result.get("summary", "")
        if step.status == "awaiting_approval":
            text = "; ".join(c["text"] for c in step.commands)
        table.add_row(str(step.id), step.step_type, step.name, step.status, text)
    console.print(table)


@app.command("show")
def show(run_id: int, data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """A run and its steps."""
    _show(_state(data_dir, database).engine, run_id)


@app.command("pending")
def pending(data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Steps waiting for an analyst's approval."""
    table = Table("run", "step", "case", "tenant", "name", "commands")
    for run_row, step in runs.pending_approvals(_state(data_dir, database).engine, None):
        table.add_row(str(run_row.id), str(step.id), str(run_row.case_id), run_row.tenant_id, step.name,
                      "; ".join(c["text"] for c in step.commands))
    console.print(table)


def _decide(run_id: int, step: int, approve: bool, actor: str, playbooks: Path | None, data_dir: Path | None,
            database: str | None) -> None:
    engine, toolkit = _toolkit(data_dir, database, playbooks)
    try:
        runs.decide(engine, None, toolkit, run_id, step, actor, approve)  # type: ignore[arg-type]
    except runs.RunError as exc:
        _fail(exc)
    _show(engine, run_id)


@app.command("approve")
def approve(run_id: int, step: int = typer.Argument(..., help="Step id (see 'hygie respond pending')."),
            actor: str = ACTOR, playbooks: Optional[Path] = PLAYBOOKS, data_dir: Path = DATA_DIR,  # noqa: UP007
            database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Approve a waiting step: its actions run now."""
    _decide(run_id, step, True, actor, playbooks, data_dir, database)


@app.command("reject")
def reject(run_id: int, step: int, actor: str = ACTOR, playbooks: Optional[Path] = PLAYBOOKS,  # noqa: UP007
           data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Reject a waiting step: it is skipped and the workflow goes on."""
    _decide(run_id, step, False, actor, playbooks, data_dir, database)


@app.command("rollback")
def rollback(run_id: int, step: Optional[int] = typer.Option(None, "--step"), actor: str = ACTOR,  # noqa: UP007
             playbooks: Optional[Path] = PLAYBOOKS, data_dir: Path = DATA_DIR,  # noqa: UP007
             database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Undo what a run did (re-enable, re-add to groups, unblock, release), newest first."""
    engine, toolkit = _toolkit(data_dir, database, playbooks)
    try:
        outcomes = runs.rollback(engine, None, toolkit, run_id, actor, step)  # type: ignore[arg-type]
    except runs.RunError as exc:
        _fail(exc)
    for outcome in outcomes:
        console.print(("[green]ok[/green] " if outcome.ok else "[red]failed[/red] ") + outcome.summary)
    raise typer.Exit(0 if all(o.ok for o in outcomes) else 1)


@app.command("auto")
def auto(tenant: str, action: str, allow: bool = typer.Option(True, "--allow/--deny"), actor: str = ACTOR,
         data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Let an action run without approval for a tenant (--deny to withdraw)."""
    try:
        policy.set_auto(_state(data_dir, database).engine, None, tenant, action, allow, actor)
    except policy.PolicyError as exc:
        _fail(exc)


@app.command("trigger")
def trigger(tenant: str, playbook: str, rule: Optional[str] = typer.Option(None, "--rule"),  # noqa: UP007
            min_severity: Optional[str] = typer.Option(None, "--min-severity"), actor: str = ACTOR,  # noqa: UP007
            data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Start a playbook automatically on a tenant's alerts of a rule or a severity."""
    library = load_library()
    found = library.get(playbook)
    if found is None:
        _fail(ValueError(f"no playbook {playbook}"))
        return
    try:
        typer.echo(policy.add_trigger(_state(data_dir, database).engine, None, tenant, found.id, actor,
                                      rule_id=rule, min_severity=min_severity))
    except policy.PolicyError as exc:
        _fail(exc)


@app.command("secret")
def secret(tenant: str, name: str, actor: str = ACTOR, data_dir: Path = DATA_DIR,
           database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Store a connector secret (read from the terminal, or stdin when piped), encrypted."""
    value = getpass.getpass(f"Value of {name}: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    engine = _state(data_dir, database).engine
    try:
        SecretStore(engine, load_key(_folder(data_dir))).set(tenant, name, value, actor)
    except SecretError as exc:
        _fail(exc)
    console.print(f"Secret {name} stored for {tenant}.")


def _when(text: str | None) -> datetime:
    if not text:
        return datetime.now(timezone.utc)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=nis2.zone(nis2.DEFAULT_TZ))


@nis2_app.command("flag")
def nis2_flag(case: int, aware: Optional[str] = typer.Option(None, "--aware", help="ISO time (local Paris if no offset)."),  # noqa: UP007
              tz: str = typer.Option(nis2.DEFAULT_TZ, "--tz"), malicious: bool = typer.Option(False, "--malicious"),
              cross_border: bool = typer.Option(False, "--cross-border"), actor: str = ACTOR,
              data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Flag a case as a significant incident and start the deadlines."""
    engine = _state(data_dir, database).engine
    try:
        if not nis2.flag(engine, None, case, actor, _when(aware), tz=tz, suspected_malicious=malicious,
                         cross_border=cross_border):
            _fail(nis2.Nis2Error(f"no case {case}"))
    except nis2.Nis2Error as exc:
        _fail(exc)
    nis2_deadlines(case, data_dir, database)


@nis2_app.command("deadlines")
def nis2_deadlines(case: int, data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """The reports owed for a case, with their countdowns."""
    state = nis2.status(_state(data_dir, database).engine, None, case)
    if state is None:
        _fail(nis2.Nis2Error(f"case {case} is not flagged"))
        return
    table = Table("report", f"due ({state.timezone})", "countdown")
    for report in state.reports:
        table.add_row(report.kind, report.due_local.strftime("%Y-%m-%d %H:%M %Z"), report.countdown)
    console.print(table)


def _details_file(path: Path) -> dict[str, Any]:
    """A YAML or JSON mapping: ``suspected_malicious``, ``cross_border`` (booleans),
    ``cross_border_detail``, ``summary`` and the details, flat or under ``details``."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise nis2.Nis2Error(f"{path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise nis2.Nis2Error(f"{path}:{exc.lineno}: {exc.msg}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise nis2.Nis2Error(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise nis2.Nis2Error(f"{path}: expected a mapping of fields, not a {type(data).__name__}")
    nested = data.pop("details", None) or {}
    if not isinstance(nested, dict):
        raise nis2.Nis2Error(f"{path}: 'details' must be a mapping")
    return {**data, **nested}


def _details_args(extra: list[str]) -> dict[str, str]:
    """``--field value`` / ``--field=value`` pairs after the case (``--entity-category`` is
    ``entity_category``); which fields exist is ``nis2_fields.json``'s business."""
    found: dict[str, str] = {}
    tokens = list(extra)
    while tokens:
        token = tokens.pop(0)
        if not token.startswith("--") or len(token) < 3:
            raise nis2.Nis2Error(f"unexpected {token!r}: give fields as --name value")
        name, has_value, value = token[2:].partition("=")
        if not has_value:
            if not tokens:
                raise nis2.Nis2Error(f"--{name} needs a value (an empty one, \"\", removes the field)")
            value = tokens.pop(0)
        found[name.replace("-", "_")] = value
    return found


_FLAGS = {"suspected_malicious": bool, "cross_border": bool, "cross_border_detail": str, "summary": str}


@nis2_app.command("details", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def nis2_details(ctx: typer.Context, case: int = typer.Argument(..., help="The case (before the fields)."),
                 file: Optional[Path] = typer.Option(None, "--file", help="YAML or JSON mapping."),  # noqa: UP007
                 malicious: Optional[bool] = typer.Option(None, "--malicious/--not-malicious"),  # noqa: UP007
                 cross_border: Optional[bool] = typer.Option(None, "--cross-border/--no-cross-border"),  # noqa: UP007
                 cross_border_detail: Optional[str] = typer.Option(None, "--cross-border-detail"),  # noqa: UP007
                 summary: Optional[str] = typer.Option(None, "--summary"),  # noqa: UP007
                 tenant: Optional[str] = typer.Option(None, "--tenant", help="Only this tenant's case."),  # noqa: UP007
                 actor: str = ACTOR, data_dir: Path = DATA_DIR,
                 database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Set what the NIS 2 reports need that the case cannot say: --contact "...", --status
    ongoing, --entity-category essential, --incident-start 2026-03-28T08:00+01:00... (the
    fields of nis2_fields.json, as on the case page and in the API; an empty value removes
    one), or --file details.yml. Audited; with no field, shows the current ones."""
    try:
        given = _details_file(file) if file else {}
        given.update(_details_args(ctx.args))
        options = {"suspected_malicious": malicious, "cross_border": cross_border,
                   "cross_border_detail": cross_border_detail, "summary": summary}
        given.update({k: v for k, v in options.items() if v is not None})
        flags: dict[str, Any] = {}
        for name, kind in _FLAGS.items():
            if name in given:
                value = given.pop(name)
                if not isinstance(value, kind) or (kind is str and len(value) > 5000):
                    wanted = "true or false" if kind is bool else "a text (5000 at most)"
                    raise nis2.Nis2Error(f"{name} must be {wanted}")
                flags[name] = value
        # YAML reads yes/no as booleans: the fields that take them want the words back
        details = {k: ("yes" if v else "no") if isinstance(v, bool) else v if isinstance(v, str) or v is None
                   else str(v) for k, v in given.items()}
        engine = _state(data_dir, database).engine
        tenants = frozenset({tenant}) if tenant else None
        if flags or details:
            nis2.update(engine, tenants, case, actor, details=details, **flags)
        state = nis2.status(engine, tenants, case)
        if state is None:
            raise nis2.Nis2Error(f"case {case} is not flagged as a significant incident")
    except nis2.Nis2Error as exc:
        _fail(exc)
        return
    table = Table("field", "value")
    for name in ("suspected_malicious", "cross_border", "cross_border_detail", "summary"):
        table.add_row(name, str(getattr(state, name)))
    for name, value in sorted(state.details.items()):
        table.add_row(name, value)
    console.print(table)


@nis2_app.command("sent")
def nis2_sent(case: int, kind: str, actor: str = ACTOR, data_dir: Path = DATA_DIR,
              database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Record that a report was sent to the authority."""
    try:
        nis2.mark_submitted(_state(data_dir, database).engine, None, case, kind, actor)
    except nis2.Nis2Error as exc:
        _fail(exc)


@nis2_app.command("report")
def nis2_report_command(case: int, kind: str = typer.Option("early_warning", "--kind"),
                        lang: str = typer.Option("fr", "--lang"), fmt: str = typer.Option("json", "--format", help="json or pdf."),
                        output: Optional[Path] = typer.Option(None, "--output", "-o"),  # noqa: UP007
                        data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Draft a report from the case, as JSON or PDF, for review before sending."""
    try:
        report = nis2_report.draft(_state(data_dir, database).engine, None, case, kind, lang)
    except nis2_report.ReportError as exc:
        _fail(exc)
        return
    if fmt == "pdf":
        if output is None:
            _fail(ValueError("--output is needed for a PDF"))
            return
        output.write_bytes(nis2_report.to_pdf(report))
    elif output is not None:
        output.write_text(nis2_report.to_json(report), encoding="utf-8")
    else:
        typer.echo(nis2_report.to_json(report))
