"""``hygie assess``: self-assessment campaigns, telemetry evidence, scores, roadmap, report.

Same ``--data-dir`` / ``--database`` as ``hygie serve``: the campaigns live in its state store,
the evidence files under ``DATA_DIR/evidence``, and the telemetry is read from its event store."""

from __future__ import annotations

import getpass
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hygie.cli.serve import data_dir_default
from hygie.prepare import exports
from hygie.prepare.assessment import assess, import_answers, previous_assessment, store_proposals
from hygie.prepare.evidence import load_config, run_checks
from hygie.prepare.kpis import load_definitions
from hygie.prepare.loader import Catalog, framework_dirs, load_catalog, site_file
from hygie.prepare.roadmap import load_costs, to_csv
from hygie.prepare.scoring import check_value, compare
from hygie.prepare.telemetry import EventStoreTelemetry
from hygie.prepare.trends import month_span
from hygie.store.state.db import open_database, sqlite_dsn
from hygie.store.state.prepare_metrics import asset_data
from hygie.store.state.prepare_store import NotFound, PrepareStore
from hygie.store.state.rule_settings import settings_for
from hygie.store.state.store import StateStore

app = typer.Typer(help="Self-assessment (CaRE, NIS 2, HICP, CIS IG1), roadmap and reports.",
                  no_args_is_help=True)
console = Console()
err = Console(stderr=True)

DATA_DIR = typer.Option(None, "--data-dir", help="Data of 'hygie serve' (default $HYGIE_DATA_DIR "
                        "or ~/.local/share/hygie).")
DATABASE = typer.Option(None, "--database", help="State DSN (default SQLite in the data dir).")
FRAMEWORKS = typer.Option(None, "--frameworks", help="Folder or file of extra framework files "
                          "(repeatable; DATA_DIR/frameworks is always read).")
CAMPAIGN = typer.Option(None, "--campaign", "-c", help="Campaign id (default: latest open).")
BY = typer.Option(None, "--by", help="Who answers (default: the login name).")


class Size(str, Enum):
    small = "small"
    medium = "medium"
    large = "large"


class Lang(str, Enum):
    fr = "fr"
    en = "en"


class Format(str, Enum):
    csv = "csv"
    pdf = "pdf"


def _catalog(extra: list[Path] | None, data_dir: Path | None, show_errors: bool = True) -> Catalog:
    catalog = load_catalog(framework_dirs(extra or [], data_dir or data_dir_default()))
    if show_errors:
        for error in catalog.errors:
            err.print(f"[red]framework error[/] {escape(str(error))}", highlight=False)
    return catalog


def _stores(data_dir: Path | None, database: str | None) -> tuple[StateStore, PrepareStore, Path]:
    base = data_dir or data_dir_default()
    engine = open_database(database or sqlite_dsn(base / "state.db"))
    return StateStore(engine), PrepareStore(engine, base / "evidence"), base


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


@app.command("frameworks")
def frameworks(extra: Optional[list[Path]] = FRAMEWORKS, data_dir: Path = DATA_DIR) -> None:  # noqa: UP007
    """List the frameworks that load, and every file that does not (file:line: reason)."""
    catalog = _catalog(extra, data_dir, show_errors=False)
    table = Table(title=f"{len(catalog.frameworks)} frameworks")
    for column in ("id", "version", "title", "domains", "questions", "file"):
        table.add_column(column, overflow="fold")
    for framework_id, framework in sorted(catalog.frameworks.items()):
        table.add_row(framework_id, framework.version, framework.title.en,
                      str(len(framework.domains)), str(len(framework.questions)),
                      str(catalog.paths[framework_id]))
    console.print(table)
    for note in catalog.notes:
        console.print(f"[yellow]note[/] {escape(note)}", highlight=False)
    for error in catalog.errors:
        console.print(f"[red]error[/] {escape(str(error))}", highlight=False)


@app.command("validate")
def validate(files: list[Path] = typer.Argument(..., help="Framework files to check."),
             extra: Optional[list[Path]] = FRAMEWORKS, data_dir: Path = DATA_DIR) -> None:  # noqa: UP007
    """Check framework files (schema, cross-walk); exit 1 on any error."""
    catalog = load_catalog([*framework_dirs(extra or [], data_dir or data_dir_default()), *files])
    given = {str(f) for f in files}
    errors = [e for e in catalog.errors if e.location.path in given]
    for error in errors:
        console.print(f"[red]error[/] {escape(str(error))}", highlight=False)
    for framework_id, path in catalog.paths.items():
        if str(path) in given and not any(e.location.path == str(path) for e in errors):
            console.print(f"[green]ok[/] {escape(str(path))}: {framework_id}, "
                          f"{len(catalog.frameworks[framework_id].questions)} questions")
    if errors or not set(map(str, catalog.paths.values())) & given:
        raise typer.Exit(1)


@app.command("start")
def start(tenant: str = typer.Argument(...),
          framework: list[str] = typer.Option(..., "--framework", "-f", help="Framework id (repeatable)."),
          size: Size = typer.Option(..., "--size", help="Hospital size profile."),
          beds: Optional[int] = typer.Option(None, "--beds"),  # noqa: UP007
          sites: Optional[int] = typer.Option(None, "--sites"),  # noqa: UP007
          it_staff: Optional[int] = typer.Option(None, "--it-staff"),  # noqa: UP007
          name: str = typer.Option("", "--name"), by: Optional[str] = BY,  # noqa: UP007
          extra: Optional[list[Path]] = FRAMEWORKS, data_dir: Path = DATA_DIR,  # noqa: UP007
          database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Start a campaign for TENANT (the tenant is created if needed)."""
    catalog = _catalog(extra, data_dir)
    unknown = [f for f in framework if f not in catalog.frameworks]
    if unknown:
        raise _fail(f"unknown framework(s) {unknown}; loaded: {sorted(catalog.frameworks)}", 2)
    state, prepare, _ = _stores(data_dir, database)
    state.ensure_tenant(tenant)
    campaign = prepare.create_campaign(tenant, framework, size.value, name=name, beds=beds,
                                       sites=sites, it_staff=it_staff, by=_who(by))
    console.print(f"Campaign [bold]{campaign.id}[/] started for {escape(tenant)}: "
                  f"{', '.join(framework)} ({size.value})")


@app.command("campaigns")
def campaigns(tenant: str, data_dir: Path = DATA_DIR,
              database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """List TENANT's campaigns, newest first."""
    _, prepare, _ = _stores(data_dir, database)
    table = Table(title=f"Campaigns of {tenant}")
    for column in ("id", "name", "frameworks", "size", "created", "closed"):
        table.add_column(column)
    for c in prepare.campaigns(tenant):
        table.add_row(str(c.id), c.name, ", ".join(c.frameworks), c.size,
                      f"{c.created:%Y-%m-%d}", f"{c.closed:%Y-%m-%d}" if c.closed else "-")
    console.print(table)


@app.command("answer")
def answer(tenant: str, question: str, value: str = typer.Argument(..., help="Level, or 'na'."),
           note: str = typer.Option("", "--note"), campaign: Optional[int] = CAMPAIGN,  # noqa: UP007
           by: Optional[str] = BY, extra: Optional[list[Path]] = FRAMEWORKS,  # noqa: UP007
           data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Answer one question (earlier answers stay in the history)."""
    catalog = _catalog(extra, data_dir)
    try:
        checked = check_value(catalog, question, value)
        _, prepare, _ = _stores(data_dir, database)
        chosen = prepare.campaign(tenant, campaign)
        prepare.record_answer(tenant, chosen.id, question, checked, _who(by), note=note)
    except (ValueError, NotFound) as exc:
        raise _fail(str(exc).strip('"'), 2) from None
    console.print(f"{question} = {checked} (campaign {chosen.id})")


@app.command("import")
def import_file(tenant: str, file: Path, campaign: Optional[int] = CAMPAIGN,  # noqa: UP007
                by: Optional[str] = BY, extra: Optional[list[Path]] = FRAMEWORKS,  # noqa: UP007
                data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Import answers from YAML ('answers: {question: value or {value, note}}'); all or none."""
    catalog = _catalog(extra, data_dir)
    _, prepare, _ = _stores(data_dir, database)
    try:
        chosen = prepare.campaign(tenant, campaign)
        report = import_answers(prepare, catalog, tenant, chosen.id, file, _who(by))
    except (ValueError, NotFound) as exc:
        raise _fail(str(exc).strip('"'), 2) from None
    for problem in report.errors or []:
        err.print(f"[red]error[/] {escape(problem)}", highlight=False)
    if report.errors:
        raise typer.Exit(1)
    console.print(f"{report.recorded} answers recorded in campaign {chosen.id}")


@app.command("attach")
def attach(tenant: str, question: str,
           file: Optional[Path] = typer.Option(None, "--file", exists=True, dir_okay=False),  # noqa: UP007
           link: Optional[str] = typer.Option(None, "--link"),  # noqa: UP007
           note: str = typer.Option("", "--note"), campaign: Optional[int] = CAMPAIGN,  # noqa: UP007
           by: Optional[str] = BY, data_dir: Path = DATA_DIR,  # noqa: UP007
           database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Attach evidence to a question: a file (kept by content hash), a link, or a note."""
    _, prepare, _ = _stores(data_dir, database)
    try:
        chosen = prepare.campaign(tenant, campaign)
        row = prepare.add_evidence(tenant, chosen.id, question, _who(by), file=file, url=link,
                                   note=note)
    except (ValueError, NotFound) as exc:
        raise _fail(str(exc).strip('"'), 2) from None
    console.print(f"evidence {row.id} ({row.kind}) attached to {question}"
                  + (f", sha256 {row.sha256}" if row.sha256 else ""))


@app.command("evidence")
def evidence(tenant: str, campaign: Optional[int] = CAMPAIGN,  # noqa: UP007
             config: Optional[Path] = typer.Option(None, "--evidence", help="Override of the "  # noqa: UP007
                                                   "telemetry checks (YAML)."),
             hosts: Optional[Path] = typer.Option(None, "--hosts", help="Windows hosts, one a "  # noqa: UP007
                                                  "line (else: those seen in the logs)."),
             dry_run: bool = typer.Option(False, "--dry-run", help="Show, do not store."),
             extra: Optional[list[Path]] = FRAMEWORKS, data_dir: Path = DATA_DIR,  # noqa: UP007
             database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Run the telemetry checks and store the answers they propose, with proof."""
    catalog = _catalog(extra, data_dir)
    _, prepare, base = _stores(data_dir, database)
    try:
        chosen = prepare.campaign(tenant, campaign)
        settings = load_config(config or site_file(base, "evidence.yml"))
        inventory = hosts.read_text(encoding="utf-8").split() if hosts else None
    except (ValueError, NotFound, OSError) as exc:
        raise _fail(str(exc).strip('"'), 2) from None
    telemetry = EventStoreTelemetry(base / "events")
    try:
        with console.status("Reading the event store..."):
            findings = run_checks(telemetry, tenant, settings, inventory=inventory,
                                  assets=asset_data(prepare.engine, tenant))
    finally:
        telemetry.close()
    table = Table(title=f"Telemetry checks for {tenant}")
    for column in ("check", "data", "score", "proof"):
        table.add_column(column, overflow="fold")
    for finding in findings.values():
        table.add_row(finding.check, "yes" if finding.available else "[yellow]no[/]",
                      "-" if finding.score is None else f"{finding.score:.2f}", escape(finding.proof))
    console.print(table)
    if dry_run:
        return
    made = store_proposals(prepare, catalog, tenant, chosen, findings)
    pending = prepare.proposals(tenant, chosen.id, "pending")
    table = Table(title=f"{len(made)} new proposals, {len(pending)} pending in campaign {chosen.id}")
    for column in ("id", "question", "proposed", "check", "observed"):
        table.add_column(column)
    for p in pending:
        table.add_row(str(p.id), p.question_id, p.value, p.check, f"{p.observed:%Y-%m-%d %H:%M}")
    console.print(table)


@app.command("confirm")
def confirm(tenant: str, proposal: int,
            value: Optional[str] = typer.Option(None, "--value", help="Override with this level."),  # noqa: UP007
            reason: str = typer.Option("", "--reason", help="Why (required to override)."),
            by: Optional[str] = BY, extra: Optional[list[Path]] = FRAMEWORKS,  # noqa: UP007
            data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Confirm a telemetry proposal, or override it with --value and --reason."""
    catalog = _catalog(extra, data_dir)
    _, prepare, _ = _stores(data_dir, database)
    try:
        if value is not None:
            row = next((p for c in prepare.campaigns(tenant)
                        for p in prepare.proposals(tenant, c.id) if p.id == proposal), None)
            if row is None:
                raise NotFound(f"no proposal {proposal} for tenant {tenant!r}")
            value = check_value(catalog, row.question_id, value)
        answer_row = prepare.decide(tenant, proposal, _who(by), value, reason)
    except (ValueError, NotFound) as exc:
        raise _fail(str(exc).strip('"'), 2) from None
    console.print(f"{answer_row.question_id} = {answer_row.value} ({answer_row.origin})")


@app.command("score")
def score_cmd(tenant: str, campaign: Optional[int] = CAMPAIGN, lang: Lang = typer.Option(Lang.en, "--lang"),  # noqa: UP007
              extra: Optional[list[Path]] = FRAMEWORKS, data_dir: Path = DATA_DIR,  # noqa: UP007
              database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Scores per framework and domain, with the change since the previous campaign."""
    catalog = _catalog(extra, data_dir)
    _, prepare, _ = _stores(data_dir, database)
    try:
        chosen = prepare.campaign(tenant, campaign)
    except NotFound as exc:
        raise _fail(str(exc).strip('"'), 2) from None
    result = assess(prepare, catalog, tenant, chosen)
    previous = previous_assessment(prepare, catalog, tenant, chosen)
    changes = {(c.framework, c.domain): c for c in compare(result, previous[1])} if previous else {}
    table = Table(title=f"Campaign {chosen.id} of {tenant} ({chosen.size})")
    for column in ("framework / domain", "score", "coverage", "answered", "change"):
        table.add_column(column, justify="left" if column.startswith("f") else "right")
    rows = [((f, d), result.domains[(f, d)] if d else total)
            for f, total in result.frameworks.items()
            for d in [None, *(dom.id for dom in catalog.frameworks[f].domains)]]
    for (framework_id, domain_id), item in rows:
        if not item.questions:
            continue
        framework = catalog.frameworks[framework_id]
        label = f"[bold]{framework.title.get(lang.value)}[/]" if domain_id is None else \
            "  " + framework.domain(domain_id).title.get(lang.value)
        change = changes.get((framework_id, domain_id))
        table.add_row(label, _pct(item.score), _pct(item.coverage),
                      f"{item.answered}/{item.questions}",
                      "-" if change is None or change.delta is None else f"{change.delta:+.1f}")
    console.print(table)
    conflicts = [q for q in result.questions.values() if q.conflicts]
    for q in conflicts:
        console.print(f"[yellow]check[/] {q.question_id} disagrees with {', '.join(q.conflicts)}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"


@app.command("roadmap")
def roadmap_cmd(tenant: str, output_format: Format = typer.Option(Format.pdf, "--format"),
                lang: Lang = typer.Option(Lang.fr, "--lang"),
                output: Path = typer.Option(..., "--output", "-o"),
                campaign: Optional[int] = CAMPAIGN,  # noqa: UP007
                costs: Optional[Path] = typer.Option(None, "--costs", help="Cost model override."),  # noqa: UP007
                start_date: Optional[str] = typer.Option(None, "--start", help="YYYY-MM-DD (default today)."),  # noqa: UP007
                extra: Optional[list[Path]] = FRAMEWORKS, data_dir: Path = DATA_DIR,  # noqa: UP007
                database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Export the prioritised, costed roadmap of a campaign as PDF or CSV."""
    catalog = _catalog(extra, data_dir)
    _, prepare, base = _stores(data_dir, database)
    try:
        chosen = prepare.campaign(tenant, campaign)
        model = load_costs(costs or site_file(base, "costs.yml"))
        begin = date.fromisoformat(start_date) if start_date else None
    except (ValueError, NotFound) as exc:
        raise _fail(str(exc).strip('"'), 2) from None
    export = exports.campaign_roadmap(prepare, catalog, model, tenant, chosen, begin)
    if output_format is Format.csv:
        output.write_text(to_csv(export.roadmap, lang.value), encoding="utf-8")
    else:
        with console.status("Rendering the PDF..."):
            output.write_bytes(exports.roadmap_pdf(catalog, tenant, export, lang.value))
    first = sum(i.first_90_days for i in export.roadmap.items)
    console.print(f"{len(export.roadmap.items)} actions ({first} in the first 90 days) -> {output}")


@app.command("report")
def report(tenant: str, output: Path = typer.Option(..., "--output", "-o"),
           month: Optional[str] = typer.Option(None, "--month", help="YYYY-MM (default: last month)."),  # noqa: UP007
           lang: Lang = typer.Option(Lang.fr, "--lang"),
           rules: Optional[list[Path]] = typer.Option(None, "--rules", "-r", help="Rule folders "  # noqa: UP007
                                                      "(default: installed rules and packs)."),
           extra: Optional[list[Path]] = FRAMEWORKS, data_dir: Path = DATA_DIR,  # noqa: UP007
           database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Monthly management report (PDF): KPIs, top risks, alerts, roadmap progress, coverage."""
    from hygie.detect.engine import Engine  # the rules' tags, for coverage by tactic
    from hygie.detect.rulesets import rule_folders

    try:
        since, until = month_span(month)
    except ValueError as exc:
        raise _fail(f"--{exc}", 2) from None
    catalog = _catalog(extra, data_dir)
    _, prepare, base = _stores(data_dir, database)
    try:
        model = load_costs(site_file(base, "costs.yml"))
        settings = load_config(site_file(base, "evidence.yml"))
        definitions = load_definitions(landscape=site_file(base, "threat_landscape.yml"))
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    with console.status("Loading rules and reading telemetry..."):
        engine = Engine.from_paths(rule_folders(rules), include_packs=True)
        switches = settings_for(prepare.engine, tenant)  # the rules this hospital left enabled
        tags = [list(s.rule.tags) for s in engine.statuses
                if s.active and switches.enabled(s.rule.rule_id, s.rule.pack)]
        output.write_bytes(exports.monthly_report(prepare, catalog, model, definitions, settings,
                                                  base / "events", tenant, since, until, tags, lang.value))
    console.print(f"report for {tenant}, {since:%Y-%m} -> {output}")




@app.command("close")
def close(tenant: str, campaign: Optional[int] = CAMPAIGN, by: Optional[str] = BY,  # noqa: UP007
          data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Close a campaign: its answers are frozen, the next campaign compares with it."""
    _, prepare, _ = _stores(data_dir, database)
    try:
        chosen = prepare.campaign(tenant, campaign)
        prepare.close_campaign(tenant, chosen.id, by=_who(by))
    except NotFound as exc:
        raise _fail(str(exc).strip('"'), 2) from None
    console.print(f"campaign {chosen.id} closed")
