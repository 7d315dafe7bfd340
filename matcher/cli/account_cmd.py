"""What the SME pages do, as commands: `matcher profiles enable|unsubscribe|resubscribe|edit|link`, and
`matcher profiles unpause` (after hard bounces), and `matcher signups list|confirm|purge`."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from matcher.cli.common import ConfigOption, NowOption, console, engine_for, fail, load, parse_now_option
from matcher.cli.core import profiles_app

signups_app = typer.Typer(help="Web sign-ups waiting for their confirmation link (double opt-in).", no_args_is_help=True)


def _change(config: Path, profile_id: str, what: str, now: str | None = None) -> None:
    from matcher.store import accounts, session_scope

    cfg = load(config)
    when = parse_now_option(now)
    with session_scope(engine_for(cfg)) as s:
        try:
            if what == "enable":
                changed = accounts.set_enabled(s, profile_id, True, now=when)
            elif what == "unsubscribe":
                changed = accounts.unsubscribe(s, profile_id, via="cli", now=when)
            else:
                changed = accounts.resubscribe(s, profile_id, via="cli", now=when)
        except accounts.AccountError as e:
            fail(str(e))
        paused = accounts.get_profile(s, profile_id).paused_at is not None
    done = {"enable": "enabled", "unsubscribe": "unsubscribed", "resubscribe": "resubscribed"}[what]
    console.print(Text(f"{done} {profile_id}" if changed else f"{profile_id} was already {done}"))
    if paused and what != "unsubscribe":
        console.print(Text(f"{profile_id} is still paused after hard bounces: once its address is fixed, "
                           f"`matcher profiles unpause {profile_id}` sends it digests again"))


@profiles_app.command("unpause")
def profiles_unpause(profile_id: str, now: str = NowOption, config: Path = ConfigOption) -> None:
    """Send digests again to an SME paused after hard bounces (fix its address first: `profiles edit ID --email`)."""
    from matcher.store import accounts, session_scope

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        try:
            ended = accounts.unpause(s, profile_id, via="cli", now=parse_now_option(now))
        except accounts.AccountError as e:
            fail(str(e))
    console.print(Text(f"unpaused {profile_id} (it was {ended}); its next digest goes out as usual" if ended
                       else f"{profile_id} was not paused"))


@profiles_app.command("enable")
def profiles_enable(profile_id: str, config: Path = ConfigOption) -> None:
    """Match and send for a profile again after `profiles disable`."""
    _change(config, profile_id, "enable")


@profiles_app.command("unsubscribe")
def profiles_unsubscribe(profile_id: str, now: str = NowOption, config: Path = ConfigOption) -> None:
    """Stop the digest for a profile, as its unsubscribe link does."""
    _change(config, profile_id, "unsubscribe", now)


@profiles_app.command("resubscribe")
def profiles_resubscribe(profile_id: str, now: str = NowOption, config: Path = ConfigOption) -> None:
    """Start the digest again for an unsubscribed profile, as its re-subscribe button does."""
    _change(config, profile_id, "resubscribe", now)


@profiles_app.command("reminders")
def profiles_reminders(profile_id: str, state: str = typer.Argument(..., help="on or off"),
                       config: Path = ConfigOption) -> None:
    """Deadline reminders on or off for a profile (their own unsubscribe, and coming back); the digest is untouched."""
    from matcher.store import accounts, session_scope

    if state not in ("on", "off"):
        fail(f"state {state!r}: say on or off", 2)
    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        try:
            changed = accounts.set_reminders(s, profile_id, state == "on", via="cli")
        except accounts.AccountError as e:
            fail(str(e))
    console.print(Text(f"{profile_id}: deadline reminders {state}" + ("" if changed else " (already)")))


@profiles_app.command("edit")
def profiles_edit(
    profile_id: str,
    name: str = typer.Option(None),
    email: str = typer.Option(None, help="The SME's first recipient (e.g. after its address bounced)."),
    capabilities: str = typer.Option(None, help="What the SME does, in its own words."),
    keyword: list[str] = typer.Option(None, "--keyword", "-k", help="Replaces the keywords (repeatable)."),
    cpv: list[str] = typer.Option(None, "--cpv", help="Replaces the CPV codes (repeatable)."),
    region: list[str] = typer.Option(None, "--region", help="Replaces the regions (repeatable)."),
    value_min: float = typer.Option(None),
    value_max: float = typer.Option(None),
    challenges: bool = typer.Option(None, "--challenges/--no-challenges"),
    cadence: str = typer.Option(None, "--cadence", help="weekly, or daily for new notices only (from the next digest)."),
    config: Path = ConfigOption,
) -> None:
    """Change a profile as its owner can on the profile page (from the next digest on); refused if it empties it."""
    from matcher.store import accounts, session_scope

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        try:
            row = accounts.get_profile(s, profile_id)
            data = row.model_dump(include=set(accounts.EDITABLE))
            given = {"name": name, "email": email, "capabilities": capabilities, "keywords": keyword or None, "cpv": cpv or None,
                     "regions": region or None, "value_min": value_min, "value_max": value_max, "challenges": challenges,
                     "cadence": cadence}
            data.update({k: v for k, v in given.items() if v is not None})
            edited = accounts.edit_profile(s, profile_id, data, via="cli")
        except accounts.AccountError as e:
            fail(str(e))
    console.print(Text(f"{profile_id}: " + (", ".join(edited.changed) + " changed" if edited.changed else "nothing changed")))


@profiles_app.command("link")
def profiles_link(profile_id: str, now: str = NowOption, config: Path = ConfigOption) -> None:
    """Print the signed link to view and edit a profile (the one every email carries)."""
    from matcher.deliver.tokens import LinkSigner
    from matcher.store import accounts, session_scope

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        try:
            accounts.get_profile(s, profile_id)
        except accounts.AccountError as e:
            fail(str(e))
    typer.echo(LinkSigner.from_config(cfg).profile_url(profile_id, parse_now_option(now)))


@signups_app.command("list")
def signups_list(as_json: bool = typer.Option(False, "--json"), config: Path = ConfigOption) -> None:
    """Sign-ups from the web form, confirmed or not."""
    from sqlmodel import select

    from matcher.store import session_scope
    from matcher.store.models import Signup

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        rows = list(s.exec(select(Signup).order_by(Signup.id)))
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r.model_dump(mode="json"), ensure_ascii=False))
        return
    table = Table("id", "business", "email", "created", "expires", "state")
    for r in rows:
        state = f"confirmed: {r.profile_id}" if r.confirmed_at else "waiting"
        table.add_row(*(Text(str(x)) for x in (r.id, r.data.get("name", ""), r.email, f"{r.created_at:%Y-%m-%d %H:%M}",
                                                f"{r.expires_at:%Y-%m-%d %H:%M}", state)))
    console.print(table)


@signups_app.command("confirm")
def signups_confirm(signup_id: int, now: str = NowOption, config: Path = ConfigOption) -> None:
    """Confirm a sign-up as its emailed link does (for an SME who confirmed some other way)."""
    from matcher.store import accounts, session_scope

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        try:
            done = accounts.confirm_signup(s, signup_id, parse_now_option(now))
        except accounts.AccountError as e:
            fail(str(e))
    console.print(Text(f"{'confirmed' if done.first_time else 'already confirmed'}: profile {done.profile.id}"))


@signups_app.command("purge")
def signups_purge(now: str = NowOption, config: Path = ConfigOption) -> None:
    """Delete unconfirmed sign-ups whose link has expired."""
    from matcher.store import accounts, session_scope

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        n = accounts.purge_expired(s, parse_now_option(now))
    console.print(f"{n} expired sign-up(s) deleted")


def register(app: typer.Typer) -> None:
    app.add_typer(signups_app, name="signups")


@profiles_app.command("past-weeks")
def profiles_past_weeks(
    profile_id: str,
    weeks: int = typer.Option(4, "--weeks", min=1, max=12, help="How many past weeks to rank."),
    as_json: bool = typer.Option(False, "--json", help="Print the weeks as JSON."),
    now: str = NowOption,
    config: Path = ConfigOption,
) -> None:
    """What a profile would have received in each of the last weeks, from the stored notices (the sign-up
    page's preview). Writes nothing but embeddings to the vector cache."""
    from matcher.embed import Embedder, EmbeddingError, cached_embed
    from matcher.store import accounts, session_scope
    from matcher.store.profiles import to_spec
    from matcher.web.preview import past_weeks

    cfg = load(config)
    engine = engine_for(cfg)
    embedder = Embedder(cfg.embedding)

    def encode(texts):  # noqa: ANN001, ANN202
        with session_scope(engine) as s:
            return cached_embed(s, embedder, texts)[0]

    with session_scope(engine) as s:
        try:
            spec = to_spec(accounts.get_profile(s, profile_id))
            result = past_weeks(s, cfg, spec, parse_now_option(now), encode, weeks)
        except accounts.AccountError as e:
            fail(str(e))
        except EmbeddingError as e:
            fail(str(e), 2)
    if result.error:
        fail(f"profile {profile_id}: {result.error}")
    if as_json:
        from dataclasses import asdict

        typer.echo(json.dumps(asdict(result), indent=2, ensure_ascii=False))
        return
    table = Table("week", "#", "notice", "buyer", "score", title=f"{profile_id}: the last {weeks} weeks, from "
                  f"{result.candidates} stored notice(s)")
    for w in result.weeks:
        for n, item in enumerate(w.items, 1):
            table.add_row(*(Text(str(x)) for x in (w.week, n, item.title, item.buyer or "-", f"{item.score:.2f}")))
        if not w.items:
            table.add_row(Text(w.week), "", Text("(nothing above the threshold)"), "", "")
    console.print(table)
