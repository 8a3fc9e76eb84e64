"""``cinerec data seed-social``: the demo's social graph among the imported dataset profiles."""

from __future__ import annotations

import typer

from cinerec.cli._common import engine, ensure_schema


def seed_social(
    seed: int = typer.Option(42, "--seed", help="random seed (same seed and data: same graph)"),
    follows: int = typer.Option(8, "--follows", min=0, max=100, help="nearest neighbours by taste each profile follows"),
    random_follows: int = typer.Option(2, "--random-follows", min=0, max=100,
                                       help="further members each profile follows at random"),
    shares: int = typer.Option(3, "--shares", min=0, max=50, help="top-rated films each profile shares"),
    list_fraction: float = typer.Option(0.5, "--list-fraction", min=0.0, max=1.0,
                                        help="share of profiles that make public lists"),
    days: float = typer.Option(90.0, "--days", min=1.0, max=3650.0, help="spread the actions over this many past days"),
    member: str | None = typer.Option(None, "--member", help="a site account (see `cinerec users create`) that "
                                      "follows profiles of similar taste and gets followers, to see the social pages"),
) -> None:
    """Make follows (taste neighbours + random), shares and public lists among the imported profiles.

    Idempotent: running it again adds nothing that exists (follows, a member's
    share of a film, a member's list of the same title, likes).
    """
    from cinerec.service.social_seed import SeedParams
    from cinerec.service.social_seed import seed_social as run

    ensure_schema()
    params = SeedParams(follows=follows, random_follows=random_follows, shares=shares, list_fraction=list_fraction,
                        days=days, seed=seed)
    r = run(engine(), params, member=member)
    typer.echo(f"social graph: {r.follows} follows, {r.shares} shares, {r.lists} lists ({r.list_items} films), "
               f"{r.list_likes} list likes, {r.events} events, {r.notifications} notifications added")
