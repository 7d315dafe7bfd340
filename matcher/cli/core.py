"""Core commands: config check, init, profiles, notices list."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text
from sqlmodel import select

from matcher.config import mask_url
from matcher.cli.common import ConfigOption, console, engine_for, err_console, fail, load

profiles_app = typer.Typer(help="Register and manage SME capability profiles.", no_args_is_help=True)
notices_app = typer.Typer(help="Look at stored notices.", no_args_is_help=True)
config_app = typer.Typer(help="Check the config file.", no_args_is_help=True)


@config_app.command("check")
def config_check(
    file: Path = typer.Argument(None, help="Config file to check (default: the --config file)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there are warnings (for a deployment check)."),
    config: Path = ConfigOption,
) -> None:
    """Validate a config file and print the effective config, defaults filled in; warn about settings a real
    service cannot use (loopback public_base_url, a .invalid sender, no SMTP password in smtp mode)."""
    from matcher.readiness import warnings

    cfg = load(file or config)
    found = warnings(cfg)
    for line in found:
        err_console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
    data = cfg.model_dump(mode="json", exclude={"base_dir"})
    data["database"]["url"] = mask_url(data["database"]["url"])  # passwords in URLs are never printed
    for source in data.get("sources", {}).values():
        source["base_url"] = mask_url(source["base_url"])
    console.print(f"# {file or config}: OK" + (f" ({len(found)} warning(s))" if found else ""), highlight=False)
    console.print(_to_toml(data), highlight=False, markup=False)
    if strict and found:
        raise typer.Exit(1)


def _to_toml(data: dict, prefix: str = "") -> str:
    """Render the effective config as TOML (scalars first, then tables)."""
    out, tables = [], []
    for k, v in data.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif v is not None:
            out.append(f"{k} = {json.dumps(v)}")
    text = "\n".join(out)
    for k, v in tables:
        name = f"{prefix}.{k}" if prefix else k
        body = _to_toml(v, name)
        text += f"\n\n[{name}]\n{body}" if body.strip() and not body.lstrip().startswith("[") else f"\n{body}"
    return text.strip("\n") if not prefix else text


@profiles_app.command("import")
def profiles_import(file: Path = typer.Argument(..., help="A .json or .csv file."), config: Path = ConfigOption) -> None:
    """Import profiles from JSON (eval profiles.json format) or CSV with the same columns."""
    from matcher.store import session_scope
    from matcher.store.profiles import ProfileFileError, read_profiles, save_profiles

    cfg = load(config)
    try:
        report = read_profiles(file)
    except ProfileFileError as e:
        fail(str(e), 2)
    with session_scope(engine_for(cfg)) as s:
        counts = save_profiles(s, report, str(file))
    for err in report.errors:
        err_console.print(Text("skipped ", style="yellow") + Text(err), highlight=False, soft_wrap=True)
    console.print(f"{counts['added']} added, {counts['updated']} updated, {len(report.errors)} rejected", highlight=False)
    if report.errors and not (counts["added"] or counts["updated"]):
        raise typer.Exit(1)


@profiles_app.command("add")
def profiles_add(
    id: str = typer.Option(...),
    name: str = typer.Option(...),
    email: str = typer.Option(...),
    capabilities: str = typer.Option(..., help="What the SME does, in its own words."),
    keyword: list[str] = typer.Option([], "--keyword", "-k"),
    cpv: list[str] = typer.Option([], "--cpv"),
    region: list[str] = typer.Option([], "--region"),
    exclude: list[str] = typer.Option([], "--exclude", help="A word that rules a notice out."),
    value_min: float = typer.Option(None),
    value_max: float = typer.Option(None),
    challenges: bool = typer.Option(False, "--challenges", help="Also send challenges (SBRI, CivTech, innovation partnerships) in any sector."),
    config: Path = ConfigOption,
) -> None:
    """Add (or replace) one profile."""
    from pydantic import ValidationError

    from matcher.store.profiles import save_profile
    from matcher.schema import ProfileSpec
    from matcher.store import session_scope

    cfg = load(config)
    try:
        spec = ProfileSpec(id=id, name=name, email=email, capabilities=capabilities, keywords=keyword, cpv=cpv,
                           regions=region, exclude=exclude, value_min=value_min, value_max=value_max,
                           challenges=challenges)
    except ValidationError as e:
        fail("; ".join(f"--{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()), 2)
    with session_scope(engine_for(cfg)) as s:
        console.print(f"{save_profile(s, spec)} {spec.id}")


@profiles_app.command("list")
def profiles_list(config: Path = ConfigOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """List profiles."""
    from matcher.store.models import Profile
    from matcher.store import session_scope

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        rows = list(s.exec(select(Profile).order_by(Profile.id)))
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r.model_dump(mode="json"), ensure_ascii=False))
        return
    table = Table("id", "name", "email", "regions", "keywords", "state")
    for r in rows:
        state = "unsubscribed" if r.unsubscribed_at else ("enabled" if r.enabled else "disabled")
        state += ", paused after bounces" if r.paused_at else ""
        table.add_row(r.id, r.name, r.email, ", ".join(r.regions), ", ".join(r.keywords[:4]), state)
    console.print(table)


@profiles_app.command("show")
def profiles_show(profile_id: str, config: Path = ConfigOption) -> None:
    """Show one profile in full."""
    from matcher.store.models import Profile
    from matcher.store import session_scope

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        row = s.get(Profile, profile_id)
        if row is None:
            fail(f"no profile {profile_id!r}")
        typer.echo(json.dumps(row.model_dump(mode="json"), indent=2, ensure_ascii=False))


@profiles_app.command("disable")
def profiles_disable(profile_id: str, config: Path = ConfigOption) -> None:
    """Stop matching and sending for a profile (kept for the record)."""
    from matcher.store.models import Profile
    from matcher.store import session_scope

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        row = s.get(Profile, profile_id)
        if row is None:
            fail(f"no profile {profile_id!r}")
        row.enabled = False
        s.add(row)
    console.print(f"disabled {profile_id}")


@notices_app.command("list")
def notices_list(
    source: str = typer.Option(None, "--source", "-s"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per notice."),
    config: Path = ConfigOption,
) -> None:
    """List stored notices."""
    from matcher.store.models import Notice
    from matcher.store import session_scope

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        stmt = select(Notice).order_by(Notice.source, Notice.key)
        if source:
            stmt = stmt.where(Notice.source == source)
        rows = list(s.exec(stmt))
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r.model_dump(mode="json", exclude={"raw", "id"}), ensure_ascii=False))
        return
    table = Table("source", "key", "title", "closes", "stage")
    for r in rows:
        table.add_row(r.source, r.key, r.title[:70], str(r.closes_at or "")[:10], r.stage or "")
    console.print(table)


def init(config: Path = ConfigOption) -> None:
    """Create the store or upgrade it to this release's schema (and the link-signing secret if none is
    configured). Safe to run twice."""
    from matcher.cli.db_cmd import upgrade_store
    from matcher.deliver.secrets import ensure_secret

    cfg = load(config)
    upgrade_store(cfg)
    from matcher.config import ConfigError

    try:
        where = ensure_secret(cfg)
    except ConfigError as e:
        fail(str(e), 2)
    console.print(f"store ready: {mask_url(cfg.database_url())}\nlink-signing key: {where}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
    app.add_typer(profiles_app, name="profiles")
    app.add_typer(notices_app, name="notices")
    app.command("init")(init)

