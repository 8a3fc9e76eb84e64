"""Load benchmark of the sharing pages and API, as members inside the demo's social graph.

    python benchmarks/load_social.py [--duration 8] [--connections 50] [--rate 400] [--workers 2]
                                     [--routes feed,feed api] [--no-rate-events]

Builds (once, cached under ``--home``) a copy of ``benchmarks/load.py``'s
demo-size site with the demo's social graph (:func:`cinerec.service.social_seed.seed_social`:
about 670 profiles following each other by taste, shares, public lists,
likes, their events and notifications) and two site members:

- ``socialite`` rates 20 popular films and joins the graph through the
  seed's ``member`` option (it follows its 8 nearest profiles by taste and
  half of them follow it back), so it has a feed and notifications, and it
  has read :data:`READ_NOTICES` older notices (a member of long standing);
- ``heavyfollower`` follows the :data:`HEAVY_FOLLOWS` most active profiles:
  the feed's worst case, every page is cut from the events of 200 people.

Unless ``--no-rate-events``, the site's events also hold a ``rate`` event
for every imported rating (about 100,000, dated at the rating and older
than the social graph's actions), as on a site where the profiles rated
their films themselves: the feed then has to find 20 visible items among
all the ratings of the people a member follows.

Then, as ``benchmarks/load.py`` does (with the load generator of
``benchmarks/_loadgen.py``), it starts the server on 127.0.0.1 and offers
``--rate`` requests/s to each route in turn over ``--connections`` keep-alive connections, latency counted from
when each request was due. The table has the reference rows of
``benchmarks/load.py`` (home and a film page for a visitor) measured in the
same run, and each route's p50 and p99 as a multiple of the visitor's home
page (``x home``), so runs on a busy machine stay comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # benchmarks/load.py: the base site
from _loadgen import (
    ROOT,
    RouteResult,
    data_dir,
    free_port,
    percentile,
    print_table,
    run,
    run_route,
    start_server,
    stop_server,
    wait_ready,
)

#: Profiles the heavy follower follows (the most active ones).
HEAVY_FOLLOWS = 200
#: Notices the socialite has already read (older than the social graph's).
READ_NOTICES = 30_000
PASSWORD = "a quiet evening with 42 films"
#: (name, path, who: ``""`` visitor, ``"member"`` the socialite, ``"heavy"`` the heavy follower)
ROUTES: list[tuple[str, str, str]] = [
    ("home", "/", ""),
    ("film page", "/movies/{film}", ""),
    ("home (member)", "/", "member"),
    ("film page (member)", "/movies/{film}", "member"),
    ("feed", "/feed", "member"),
    ("feed api", "/api/v1/me/feed", "member"),
    ("feed (heavy)", "/feed", "heavy"),
    ("feed api (heavy)", "/api/v1/me/feed", "heavy"),
    ("notifications", "/notifications", "member"),
    ("notifications api", "/api/v1/me/notifications", "member"),
    ("lists", "/lists", ""),
    ("list page", "/lists/{list}", ""),
    ("share page", "/s/{token}", ""),
    ("profile", "/u/{profile}", "heavy"),
    ("social recs", "/api/v1/me/recommendations/social", "member"),
    ("social recs (heavy)", "/api/v1/me/recommendations/social", "heavy"),
]


def build_social_site(base: Path, home: Path, data_dir: Path, algo: str, *, rate_events: bool) -> dict[str, str]:
    """Copy the load site to ``home`` and add the social graph and the two members, unless done already.

    Returns:
        The path fillers of :data:`ROUTES`: a film in many lists that the
        socialite's followees rated, the most liked public list, a public
        share's token and the socialite's username (dataset profiles have no
        member page; the heavy follower looks at the socialite's).
    """
    load.build_site(base, data_dir, algo)
    facts = home / "social.json"
    if facts.is_file():
        os.environ["CINEREC_HOME"] = str(home)
        from cinerec.config import get_settings
        from cinerec.store.migrate import upgrade

        get_settings.cache_clear()
        upgrade(get_settings().resolved_database_url)  # the cached site follows the code's schema
        return dict(json.loads(facts.read_text()))
    print(f"building the social benchmark site in {home} (once)", flush=True)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(base / "cinerec.db", home / "cinerec.db")
    if not (home / "models").exists():
        (home / "models").symlink_to((base / "models").resolve())
    os.environ["CINEREC_HOME"] = str(home)
    from sqlalchemy import func, insert, literal, select

    from cinerec.config import get_settings
    from cinerec.service.accounts import create_user
    from cinerec.service.members import rate_many
    from cinerec.service.social_seed import seed_social
    from cinerec.store.db import make_engine, transaction
    from cinerec.store.models import (
        Event,
        Follow,
        ListItem,
        MovieList,
        MovieStats,
        Notification,
        Rating,
        Share,
        User,
        utcnow,
    )
    from cinerec.store.repos import follows as follow_repo

    get_settings.cache_clear()
    eng = make_engine(get_settings().resolved_database_url)
    with transaction(eng) as session:
        popular = list(session.scalars(select(MovieStats.movie_id).order_by(MovieStats.n_ratings.desc(),
                                                                             MovieStats.movie_id).limit(40)))
        if rate_events:  # older than the graph's actions, so inserted first: event ids grow with time
            ratings = (select(Rating.user_id, Rating.movie_id, literal("rate"), Rating.value, Rating.created_at)
                       .order_by(Rating.created_at, Rating.id))
            session.execute(insert(Event).from_select(["user_id", "movie_id", "kind", "value", "created_at"],
                                                      ratings))
    member = create_user(eng, "socialite", PASSWORD)
    heavy = create_user(eng, "heavyfollower", PASSWORD)
    rate_many(eng, member.id, {m: 5.0 - (i % 5) * 0.5 for i, m in enumerate(popular[:20])})
    rate_many(eng, heavy.id, {m: 4.0 for m in popular[20:30]})
    report = seed_social(eng, member="socialite")
    with transaction(eng) as session:  # a member of long standing: notices read over the months before
        old, seen = utcnow() - timedelta(days=400), utcnow() - timedelta(days=100)
        profiles = select(User.id, literal(member.id), literal("follow"), literal(old, Notification.created_at.type),
                          literal(seen, Notification.read_at.type)).where(User.source.is_not(None))
        for _ in range(READ_NOTICES // 600):
            session.execute(insert(Notification).from_select(["actor_id", "user_id", "kind", "created_at", "read_at"],
                                                             profiles.limit(600)))
    print(f"social graph: {report}", flush=True)
    now = utcnow()
    with transaction(eng) as session:
        active = session.scalars(select(Rating.user_id).join(User, User.id == Rating.user_id)
                                 .where(User.source.is_not(None)).group_by(Rating.user_id)
                                 .order_by(func.count().desc(), Rating.user_id).limit(HEAVY_FOLLOWS))
        for uid in list(active):
            follow_repo.add(session, heavy.id, uid, now)
        followees = select(Follow.followee_id).where(Follow.follower_id == member.id)
        film = session.scalar(select(ListItem.movie_id).join(Rating, Rating.movie_id == ListItem.movie_id)
                              .where(Rating.user_id.in_(followees)).group_by(ListItem.movie_id)
                              .order_by(func.count().desc(), ListItem.movie_id).limit(1))
        lst = session.scalar(select(MovieList.id).where(MovieList.is_public.is_(True))
                             .order_by(MovieList.like_count.desc(), MovieList.item_count.desc(), MovieList.id)
                             .limit(1))
        token = session.scalar(select(Share.token).where(Share.token.is_not(None), Share.revoked_at.is_(None))
                               .order_by(Share.id).limit(1))
        n_events = session.scalar(select(func.count()).select_from(Event))
    eng.dispose()
    fill = {"film": str(film or popular[0]), "list": str(lst), "token": str(token), "profile": "socialite"}
    facts.write_text(json.dumps(fill))
    print(f"{n_events} events; routes use {fill}", flush=True)
    return fill


def tokens(base: str) -> dict[str, str]:
    """Bearer tokens of the two members (logged in through the API)."""
    import httpx

    out = {}
    with httpx.Client(base_url=base, timeout=30) as c:
        for who, name in (("member", "socialite"), ("heavy", "heavyfollower")):
            r = c.post("/api/v1/auth/token", json={"username": name, "password": PASSWORD})
            r.raise_for_status()
            out[who] = str(r.json()["access_token"])
    return out


def _p(lat: list[float], q: float) -> float:
    return percentile(lat, q) * 1e3


def main() -> None:
    """Parse arguments, build the site, start the server, load each route, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=8.0, help="seconds per route (capped at 60)")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--rate", type=float, default=400.0, help="total requests/s per route; 0 = closed loop")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--algo", default="hybrid", help="model trained for the site (the demo's by default)")
    ap.add_argument("--base-home", type=Path, default=ROOT / "results" / "load-home",
                    help="benchmarks/load.py's cached site, copied once")
    ap.add_argument("--home", type=Path, default=ROOT / "results" / "load-social-home", help="cached social site")
    ap.add_argument("--no-rate-events", action="store_true", help="build the site without a rate event per rating")
    ap.add_argument("--routes", default="", help="comma-separated route names (default: all)")
    args = ap.parse_args()
    home = args.home.resolve()
    fill = build_social_site(args.base_home.resolve(), home, data_dir(), args.algo,
                             rate_events=not args.no_rate_events)
    server = start_server(free_port(), args.workers, {"CINEREC_HOME": str(home)}, home / "server.log")
    base = server.base
    duration = min(args.duration, 60.0)
    wanted = {r.strip() for r in args.routes.split(",") if r.strip()}
    results: list[tuple[RouteResult, str]] = []
    try:
        wait_ready(server)
        auth = tokens(base)
        import httpx

        for name, path, who in ROUTES:
            if wanted and name not in wanted and name not in ("home", "film page"):
                continue
            url = path.format(**fill)
            token = auth.get(who)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            for _ in range(10 * args.workers):  # new connections, so that every worker warms its caches
                r = httpx.get(base + url, headers=headers, timeout=30)
                if r.status_code != 200:
                    raise SystemExit(f"{name}: {url} answered {r.status_code}")
            results.append((run(run_route(server.port, name, url, token, args.connections, args.rate, duration)), url))
            done = results[-1][0]
            print(f"  {name}: {done.row()[1]} req/s, p50 {done.row()[2]} ms, p99 {done.row()[3]} ms, "
                  f"{done.errors} errors", flush=True)
    finally:
        stop_server(server)
    mode = f"open loop at {args.rate:.0f} req/s offered" if args.rate else "closed loop"
    print(f"\n{args.connections} connections, {mode}, {duration:.0f} s per route, "
          f"{args.workers} uvicorn workers, {os.cpu_count()} CPUs; x home = p50/p99 over the visitor's home page")
    ref = next((sorted(r.latencies) for r, _ in results if r.name == "home" and r.latencies), None)
    header = ("route", "path", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "x home p50", "x home p99")
    rows = [header]
    for r, url in results:
        lat = sorted(r.latencies)
        if not lat:
            rows.append((r.name, url, "0", "-", "-", "-", str(r.errors), "-", "-"))
            continue
        p50, p95, p99 = statistics.median(lat) * 1e3, _p(lat, 0.95), _p(lat, 0.99)
        x50 = f"{p50 / (statistics.median(ref) * 1e3):.1f}" if ref else "-"
        x99 = f"{p99 / _p(ref, 0.99):.1f}" if ref else "-"
        rows.append((r.name, url if len(url) <= 40 else url[:37] + "...", f"{len(lat) / r.seconds:.0f}",
                     f"{p50:.1f}", f"{p95:.1f}", f"{p99:.1f}", str(r.errors), x50, x99))
    print_table(rows, left=2)


if __name__ == "__main__":
    main()
