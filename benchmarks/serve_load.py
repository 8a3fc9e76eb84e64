"""Serving load benchmark: members' recommendations and rating writes, with L1 (no lost writes) and L2.

    python benchmarks/serve_load.py [--users 50] [--duration 60] [--rate 400] [--workers 1,2]
                                    [--db sqlite|postgres] [--members 200] [--experiment off|on|both]
                                    [--json results/serve_load.json]

Builds once (cached under ``--home``, one site per database, algorithm,
member count and history length) a site from ml-latest-small in
``CINEREC_DATA_DIR`` (default ``../shared/data``): the schema, the import,
the demo's model (``--algo``, default :data:`cinerec.service.recipes.DEMO_HYBRID`)
and ``--members`` site members ``bench0001``... created after the model was
trained (as members who joined since the last training), member ``i`` with a
copy of dataset profile ``i``'s ratings (all of them, or its first
``--history`` ones) written through the service (aggregates and events as a
member's own ratings). SQLite is the default; ``--db postgres`` builds it in
PostgreSQL (``--pg-url``, database ``cinerec_bench_<site key>``).

Each run (one per ``--workers`` count) serves a fresh copy of that site
(SQLite's backup API, PostgreSQL's ``CREATE DATABASE ... TEMPLATE``) with
``cinerec serve --workers N`` on 127.0.0.1, logs every member in through
``POST /api/v1/auth/token`` and drives it from this process with
``--users`` virtual users over keep-alive HTTP/1.1 connections
(``benchmarks/_loadgen.py``). Every member belongs to one virtual user, so
each member's requests are sequential and "the last acknowledged write" is
well defined. Unless ``--cold``, each member's list is requested once over
its user's connection before timing starts (a server that has been up has
computed them; without it the first seconds queue 200 list computations).
Each timed request, for the user's next member in turn, is:

- 90%: ``GET /api/v1/me/recommendations?k=10``;
- 10% (``--write-share``): ``PUT /api/v1/movies/{id}/rating``: for the first
  ``--hot-members`` (100) members half of their writes re-rate one hot film
  (the most rated) with a value that changes at every write; all other writes
  rate a film the member has not rated (a unique member-film pair).

Load model: ``--rate R`` requests/s in total on a fixed schedule (open loop;
latency counted from when each request was due, so a stalled server shows in
p99 instead of slowing the generator down) or ``--rate 0`` (closed loop:
back to back, the saturation throughput).

``--experiment on`` serves every member under a running 50/50 A/B
experiment (the site's model against popularity): two model versions live
at once, each member's first list logged as an exposure and its films as
impression events by the batched exposure log; ``both`` runs each worker
count without and then with it, so the table shows what logging costs.

After each run the database is read (TESTPLAN L1): the rows of the written
unique pairs must equal the acknowledged unique writes, the members' rating
count must have grown by exactly the acknowledged new pairs, and each hot
re-rater's final value must be its last acknowledged one. L2: bar p99 <= 50
ms, >= 300 req/s, 0 errors; goal p99 <= 20 ms, >= 1000 req/s. The table and
``--json`` file hold both per run. Exit status: 1 on an L1 failure or any
error, 3 when only the L2 bar was missed (unless ``--no-bar``).

Figures depend on the machine and on whatever else runs on it: the table
notes the core count and the load average before and after each run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loadgen import (
    ROOT,
    TRANSPORT_ERRORS,
    Connection,
    Server,
    build_base_site,
    cpu_seconds,
    data_dir,
    drive,
    free_port,
    loadavg,
    percentile,
    print_table,
    run,
    server_command,
    start_server,
    stop_server,
    wait_ready,
)

PASSWORD = "a quiet evening with 42 films"
PG_URL = os.environ.get("CINEREC_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/cinerec_bench")
READ_PATH = "/api/v1/me/recommendations?k=10"
#: L2 (TESTPLAN): (p99 ms at most, requests/s at least) for the bar and the goal; both need 0 errors.
BAR = (50.0, 300.0)
GOAL = (20.0, 1000.0)


@dataclass(frozen=True)
class Site:
    """A built benchmark site: where its database and models are and who its members are."""

    db: str
    database_url: str
    models_dir: Path
    folder: Path
    members: list[str]


def site_key(args: argparse.Namespace) -> str:
    """What a cached site depends on, as a folder name."""
    algo = re.sub(r"[^a-z0-9]+", "-", args.algo.lower())
    return f"{args.db}-{algo}-m{args.members}-h{args.history}"


def _pg_url(base: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(base).set(database=database).render_as_string(hide_password=False)


def _pg_admin(base: str, *statements: str) -> None:
    """Run statements on the server's ``postgres`` database in autocommit (CREATE/DROP DATABASE)."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(base)
    try:
        with psycopg.connect(host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username, password=u.password,
                             dbname="postgres", autocommit=True, connect_timeout=5) as conn:
            for sql in statements:
                conn.execute(sql)
    except psycopg.OperationalError as exc:
        raise SystemExit(f"PostgreSQL at {u.host}:{u.port} is not reachable ({exc}); set --pg-url") from exc


def build(args: argparse.Namespace) -> Site:
    """The cached site for these arguments, built first if it is not there."""
    key = site_key(args)
    folder = (args.home / key).resolve()
    if args.db == "postgres":
        name = "cinerec_bench_" + hashlib.sha1(key.encode()).hexdigest()[:10]
        url = _pg_url(args.pg_url, name)
    else:
        url = f"sqlite:///{folder / 'cinerec.db'}"
    stamp = folder / "site.json"
    if stamp.is_file():
        from cinerec.store.migrate import upgrade

        upgrade(url)  # the cached site follows the code's schema
        facts = json.loads(stamp.read_text())
        return Site(args.db, url, folder / "models", folder, list(facts["members"]))
    data = data_dir()
    if not (data / "ml-latest-small" / "ratings.csv").is_file():
        raise SystemExit(f"ml-latest-small not found under {data}: set CINEREC_DATA_DIR")
    print(f"building the benchmark site {key} in {folder} (once)", flush=True)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if args.db == "postgres":
        _pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    t0 = time.perf_counter()
    build_base_site(url, folder / "models", data, args.algo)
    t1 = time.perf_counter()
    members = add_members(url, args.members, args.history)
    print(f"  import + training {t1 - t0:.0f} s; {len(members)} members with histories "
          f"{time.perf_counter() - t1:.0f} s", flush=True)
    stamp.write_text(json.dumps({"database_url": url, "algo": args.algo, "members": members}))
    return Site(args.db, url, folder / "models", folder, members)


def add_members(url: str, count: int, history: int) -> list[str]:
    """Create ``count`` members; member ``i`` rates what dataset profile ``i`` rated (its first ``history``; 0 = all)."""
    from sqlalchemy import select

    from cinerec.service.accounts import hash_password
    from cinerec.service.members import rate_many
    from cinerec.store.db import make_engine, transaction
    from cinerec.store.models import Rating, User
    from cinerec.store.repos import users as user_repo

    eng = make_engine(url)
    digest = hash_password(PASSWORD)  # one argon2 hash for all: creating 200 accounts is not what is measured
    names = [f"bench{i + 1:04d}" for i in range(count)]
    try:
        with transaction(eng) as session:
            profiles = list(session.scalars(select(User.id).where(User.source.is_not(None)).order_by(User.id)
                                            .limit(count)))
            if len(profiles) < count:
                raise SystemExit(f"--members {count}: the dataset has only {len(profiles)} profiles")
            ids = [user_repo.create_account(session, n, None, digest).id for n in names]
        for uid, profile in zip(ids, profiles, strict=True):
            with transaction(eng, write=False) as session:
                q = (select(Rating.movie_id, Rating.value).where(Rating.user_id == profile)
                     .order_by(Rating.created_at, Rating.movie_id))
                rows = session.execute(q.limit(history) if history else q).all()
            rate_many(eng, uid, {m: v for m, v in rows})
    finally:
        eng.dispose()
    return names


def fresh_copy(site: Site, workers: int) -> tuple[str, Path]:
    """A copy of the site's database for one run (the cached one stays as built); returns its URL and home."""
    home = site.folder / f"run-{workers}"
    if home.exists():
        shutil.rmtree(home)
    home.mkdir()
    (home / "models").symlink_to(site.models_dir)
    if site.db == "postgres":
        from sqlalchemy.engine import make_url

        base = make_url(site.database_url)
        name = f"{base.database}_run"
        _pg_admin(site.database_url, f'DROP DATABASE IF EXISTS "{name}"',
                  f'CREATE DATABASE "{name}" TEMPLATE "{base.database}"')
        return _pg_url(site.database_url, name), home
    src = sqlite3.connect(site.folder / "cinerec.db")
    dst = sqlite3.connect(home / "cinerec.db")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{home / 'cinerec.db'}", home


@dataclass
class Plan:
    """What the run will write, read from the run's database before it starts."""

    user_ids: dict[str, int]
    hot_movie: int
    hot_members: set[str]
    #: per member, films it has not rated, in the order its unique writes take them
    unrated: dict[str, list[int]]
    rows_before: int
    hot_rated_before: set[str]


def make_plan(url: str, members: list[str], hot_members: int, seed: int) -> Plan:
    """Member ids, the hot film (the most rated), and a shuffled list of unrated films per member."""
    from sqlalchemy import func, select

    from cinerec.store.db import make_engine, transaction
    from cinerec.store.models import Movie, MovieStats, Rating, User

    eng = make_engine(url)
    try:
        with transaction(eng, write=False) as session:
            ids = dict(session.execute(select(User.username, User.id).where(User.username.in_(members))).all())
            hot = session.scalar(select(MovieStats.movie_id).order_by(MovieStats.n_ratings.desc(),
                                                                      MovieStats.movie_id).limit(1))
            movies = list(session.scalars(select(Movie.id).order_by(Movie.id)))
            rated: dict[int, set[int]] = {}
            for uid, mid in session.execute(select(Rating.user_id, Rating.movie_id)
                                            .where(Rating.user_id.in_(ids.values()))).all():
                rated.setdefault(uid, set()).add(mid)
            rows = session.scalar(select(func.count()).select_from(Rating).where(Rating.user_id.in_(ids.values())))
    finally:
        eng.dispose()
    if hot is None:
        raise SystemExit("the site has no rated films")
    rng = random.Random(seed)
    unrated = {}
    for name in members:
        films = [m for m in movies if m != hot and m not in rated.get(ids[name], set())]
        rng.shuffle(films)
        unrated[name] = films
    hot_set = set(members[:hot_members])
    return Plan(ids, hot, hot_set, unrated, int(rows or 0),
                {n for n in hot_set if hot in rated.get(ids[n], set())})


async def login_all(port: int, members: list[str], concurrency: int = 8) -> dict[str, str]:
    """A bearer token per member from ``POST /api/v1/auth/token`` (argon2 on the server: a few at a time)."""
    tokens: dict[str, str] = {}
    queue = list(members)

    async def one() -> None:
        conn = Connection(port)
        try:
            while queue:
                name = queue.pop()
                status, body = await conn.request("POST", "/api/v1/auth/token",
                                                  json_body={"username": name, "password": PASSWORD})
                if status != 200:
                    raise SystemExit(f"logging in {name} answered {status}: {body[:200]!r}")
                tokens[name] = json.loads(body)["access_token"]
        finally:
            conn.close()

    await asyncio.gather(*(one() for _ in range(concurrency)))
    return tokens


@dataclass
class Tally:
    """What one run sent and got back."""

    read_lat: list[float] = field(default_factory=list)
    write_lat: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    #: (member, film) -> value of the acknowledged unique writes
    unique_acked: dict[tuple[str, int], float] = field(default_factory=dict)
    unique_unacked: set[tuple[str, int]] = field(default_factory=set)
    #: member -> values of its hot-film writes in order, with whether each was acknowledged
    hot_writes: dict[str, list[tuple[float, bool]]] = field(default_factory=dict)

    def error(self, what: str) -> None:
        """Count one failed request under ``what`` (a status or an exception name)."""
        self.errors[what] = self.errors.get(what, 0) + 1


def workload(args: argparse.Namespace, plan: Plan, tokens: dict[str, str], members: list[str], port: int,
             tally: Tally) -> tuple[list[Connection], Any]:
    """The virtual users' connections and the per-request action for :func:`_loadgen.drive`."""
    users = args.users
    owned = [members[i::users] for i in range(users)]  # member j belongs to user j % users
    conns = [Connection(port, {"Accept": "application/json"}) for _ in range(users)]
    reads = {n: conns[0].encode("GET", READ_PATH, headers={"Authorization": f"Bearer {tokens[n]}"}) for n in members}
    turn = [0] * users
    rngs = [random.Random(args.seed * 1000 + i) for i in range(users)]
    next_film = dict.fromkeys(members, 0)
    hot_seq = dict.fromkeys(members, 0)
    halves = [0.5 * k for k in range(1, 11)]

    async def act(i: int, sent: float) -> bool:
        name = owned[i][turn[i] % len(owned[i])]
        turn[i] += 1
        rng = rngs[i]
        conn = conns[i]
        if rng.random() >= args.write_share:
            try:
                status, _ = await conn.send(reads[name])
            except TRANSPORT_ERRORS as exc:
                tally.error(type(exc).__name__)
                return True
            if status == 200:
                tally.read_lat.append(time.perf_counter() - sent)
            else:
                tally.error(str(status))
            return True
        hot = name in plan.hot_members and rng.random() < 0.5
        if hot:
            n = hot_seq[name]
            hot_seq[name] = n + 1
            value = halves[(plan.user_ids[name] + n) % 10]  # differs from the member's previous hot value
            film = plan.hot_movie
        else:
            films = plan.unrated[name]
            if next_film[name] >= len(films):
                raise SystemExit(f"{name} has rated every film: use more members or a shorter run")
            film = films[next_film[name]]
            next_film[name] += 1
            value = rng.choice(halves)
        auth = {"Authorization": f"Bearer {tokens[name]}"}
        try:
            status, body = await conn.request("PUT", f"/api/v1/movies/{film}/rating", headers=auth,
                                              json_body={"rating": value})
        except TRANSPORT_ERRORS as exc:
            status, body = 0, type(exc).__name__.encode()
        ok = status == 200
        if ok:
            answer = json.loads(body)
            if answer.get("movie_id") != film or answer.get("rating") != value:
                tally.error("wrong write answer")
                ok = False
            else:
                tally.write_lat.append(time.perf_counter() - sent)
        else:
            tally.error(str(status) if status else body.decode())
        if hot:
            tally.hot_writes.setdefault(name, []).append((value, ok))
        elif ok:
            tally.unique_acked[(name, film)] = value
        else:
            tally.unique_unacked.add((name, film))
        return True

    return conns, act


def check_l1(url: str, plan: Plan, tally: Tally) -> dict[str, Any]:
    """Read the run's database and compare it with what the server acknowledged (TESTPLAN L1)."""
    from sqlalchemy import select

    from cinerec.store.db import make_engine, transaction
    from cinerec.store.models import Rating

    eng = make_engine(url)
    try:
        with transaction(eng, write=False) as session:
            stored = {(u, m): v for u, m, v in session.execute(
                select(Rating.user_id, Rating.movie_id, Rating.value)
                .where(Rating.user_id.in_(plan.user_ids.values()))).all()}
    finally:
        eng.dispose()
    ids = plan.user_ids
    present = {p for p in tally.unique_acked if (ids[p[0]], p[1]) in stored}
    wrong_value = [p for p in present if stored[(ids[p[0]], p[1])] != tally.unique_acked[p]]
    unacked_present = sum(1 for p in tally.unique_unacked if (ids[p[0]], p[1]) in stored)
    hot_bad, hot_ambiguous, hot_new = [], 0, 0
    for name, writes in tally.hot_writes.items():
        acked = [v for v, ok in writes if ok]
        final = stored.get((ids[name], plan.hot_movie))
        if not acked:
            continue
        if name not in plan.hot_rated_before:
            hot_new += 1
        last = max(i for i, (_, ok) in enumerate(writes) if ok)
        later = {v for v, ok in writes[last + 1:] if not ok}  # sent after the last ack, unanswered: may have landed
        if final == acked[-1]:
            continue
        if final in later:
            hot_ambiguous += 1
        else:
            hot_bad.append({"member": name, "final": final, "last_acknowledged": acked[-1]})
    rows_after = len(stored)
    expected_growth = len(tally.unique_acked) + hot_new
    growth = rows_after - plan.rows_before
    unacked_landed = unacked_present + hot_ambiguous
    ok = (len(present) == len(tally.unique_acked) and not wrong_value and not hot_bad
          and expected_growth <= growth <= expected_growth + unacked_landed + len(tally.hot_writes))
    if not tally.errors:
        ok = ok and growth == expected_growth
    return {"pass": ok, "unique_acknowledged": len(tally.unique_acked), "unique_rows": len(present),
            "unique_wrong_value": len(wrong_value), "unacknowledged_unique_present": unacked_present,
            "hot_members_written": len(tally.hot_writes), "hot_writes": sum(len(w) for w in tally.hot_writes.values()),
            "hot_final_not_last_acknowledged": hot_bad[:10], "hot_ambiguous": hot_ambiguous,
            "member_rows_before": plan.rows_before, "member_rows_after": rows_after,
            "expected_new_rows": expected_growth}


def _ms(values: list[float], q: float) -> float | None:
    return round(percentile(values, q) * 1e3, 2) if values else None


def start_experiment(site: Site, url: str) -> str:
    """Put every member in a running 50/50 A/B experiment: the active model vs popularity (trained once, cached).

    Returns the experiment's name. Lists are then served from two model
    versions and every member's first list and its films are logged by the
    exposure log, which is what this mode measures.
    """
    from cinerec.service import experiments
    from cinerec.service.registry import ModelRegistry
    from cinerec.service.training import train_from_store
    from cinerec.store.db import make_engine

    reg = ModelRegistry(site.models_dir)
    engine = make_engine(url)
    try:
        stamp = site.folder / "ab_version.txt"
        other = stamp.read_text().strip() if stamp.is_file() else ""
        if not other or other not in {v.version for v in reg.versions()}:
            other = train_from_store(engine, reg, "popularity", activate=False).version
            stamp.write_text(other)
        active = reg.active_version()
        assert active is not None
        variants = [experiments.VariantSpec("control", active, 1), experiments.VariantSpec("treatment", other, 1)]
        experiments.create(engine, reg, "load", variants)
        experiments.start(engine, reg, "load")
    finally:
        engine.dispose()
    return "load"


def exposure_rows(url: str) -> tuple[int, int]:
    """(exposure rows, impression events) in the run's database."""
    from sqlalchemy import func, select

    from cinerec.store.db import make_engine, transaction
    from cinerec.store.models import Event, ExperimentExposure

    engine = make_engine(url)
    try:
        with transaction(engine, write=False) as s:
            return (int(s.scalar(select(func.count()).select_from(ExperimentExposure)) or 0),
                    int(s.scalar(select(func.count()).select_from(Event).where(Event.kind == "impression")) or 0))
    finally:
        engine.dispose()


def one_run(args: argparse.Namespace, site: Site, workers: int, experiment: bool = False) -> dict[str, Any]:
    """Serve a fresh copy of the site with ``workers`` processes, load it, check L1; returns the run's record.

    With ``experiment`` every member is in a running A/B experiment (:func:`start_experiment`).
    """
    url, home = fresh_copy(site, workers)
    if experiment:
        start_experiment(site, url)
    plan = make_plan(url, site.members, args.hot_members, args.seed)
    server = start_server(free_port(), workers, {"CINEREC_HOME": str(home), "CINEREC_DATABASE_URL": url},
                          home / "server.log")
    tally = Tally()
    load_before = loadavg()
    try:
        wait_ready(server)
        tokens = run(login_all(server.port, site.members))
        _warm_up(server, tokens, workers)
        cpu0, wall0 = cpu_seconds(server.proc.pid), time.process_time()
        conns, act = workload(args, plan, tokens, site.members, server.port, tally)
        users = args.users
        reads = [[conns[0].encode("GET", READ_PATH, headers={"Authorization": f"Bearer {tokens[n]}"})
                  for n in site.members[i::users]] for i in range(users)]

        async def go() -> float:
            await asyncio.gather(*(c.open() for c in conns))
            try:
                if not args.cold:
                    await asyncio.gather(*(_warm_lists(conns[i], reads[i]) for i in range(args.users)))
                return await drive(args.users, args.rate, args.duration, act)
            finally:
                for c in conns:
                    c.close()

        seconds = run(go())
        server_cpu = cpu_seconds(server.proc.pid) - cpu0
        client_cpu = time.process_time() - wall0
    finally:
        stop_server(server)
    load_after = loadavg()
    l1 = check_l1(url, plan, tally)
    exposures, impressions = exposure_rows(url)
    if site.db == "postgres":
        from sqlalchemy.engine import make_url

        _pg_admin(site.database_url, f'DROP DATABASE IF EXISTS "{make_url(url).database}"')
    done = sorted(tally.read_lat + tally.write_lat)
    errors = sum(tally.errors.values())
    rps = len(done) / seconds
    p99 = _ms(done, 0.99)
    record = {
        "workers": workers, "db": site.db, "algo": args.algo, "experiment": experiment, "exposures": exposures,
        "impressions": impressions, "members": len(site.members), "users": args.users,
        "rate_offered": args.rate or None, "duration_s": args.duration, "seconds": round(seconds, 2),
        "requests": len(done) + errors, "req_per_s": round(rps, 1),
        "p50_ms": round(statistics.median(done) * 1e3, 2) if done else None,
        "p95_ms": _ms(done, 0.95), "p99_ms": p99,
        "read_p50_ms": _ms(sorted(tally.read_lat), 0.5), "read_p99_ms": _ms(sorted(tally.read_lat), 0.99),
        "write_p50_ms": _ms(sorted(tally.write_lat), 0.5), "write_p99_ms": _ms(sorted(tally.write_lat), 0.99),
        "reads": len(tally.read_lat), "writes_acknowledged": len(tally.write_lat), "errors": errors,
        "error_kinds": tally.errors, "l1": l1,
        "l2_bar": errors == 0 and p99 is not None and p99 <= BAR[0] and rps >= BAR[1],
        "l2_goal": errors == 0 and p99 is not None and p99 <= GOAL[0] and rps >= GOAL[1],
        "server_cpu_ms_per_request": round(server_cpu * 1e3 / max(1, len(done)), 2),
        "client_cpu_s": round(client_cpu, 1), "loadavg_before": load_before, "loadavg_after": load_after,
        "cpus": os.cpu_count(), "server": " ".join(server_command(0, workers)[1:4]), "cold_start": args.cold,
    }
    print(f"  {workers} worker(s), {site.db}{', A/B on' if experiment else ''}: {record['req_per_s']} req/s, p50 {record['p50_ms']} ms, "
          f"p99 {p99} ms, {errors} errors, {len(tally.write_lat)} writes acknowledged; "
          f"L1 {'PASS' if l1['pass'] else 'FAIL'}; loadavg {load_before} -> {load_after}", flush=True)
    return record


async def _warm_lists(conn: Connection, requests: list[bytes]) -> None:
    """Each of a user's members' lists once over that user's connection (so in the process that serves it)."""
    for raw in requests:
        status, body = await conn.send(raw)
        if status != 200:
            raise SystemExit(f"warm-up: {READ_PATH} answered {status}: {body[:300]!r}")


def _warm_up(server: Server, tokens: dict[str, str], workers: int) -> None:
    """A few recommendations on new connections, so that every worker has loaded the model (checks the answer)."""
    import httpx

    names = list(tokens)
    for j in range(10 * workers):
        r = httpx.get(server.base + READ_PATH, headers={"Authorization": f"Bearer {tokens[names[j % len(names)]]}"},
                      timeout=60)
        if r.status_code != 200 or not r.json().get("data"):
            raise SystemExit(f"warm-up: {READ_PATH} answered {r.status_code}: {r.text[:300]}")


def _row(r: dict[str, Any]) -> tuple[str, ...]:
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    ab = f"on ({r['exposures']} exposed)" if r.get("experiment") else "off"
    return (str(r["workers"]), r["db"], ab, f"{r['req_per_s']:.0f}", f(r["p50_ms"]), f(r["p95_ms"]), f(r["p99_ms"]),
            str(r["errors"]), str(r["writes_acknowledged"]), "PASS" if r["l1"]["pass"] else "FAIL",
            "pass" if r["l2_bar"] else "miss", "pass" if r["l2_goal"] else "miss",
            f"{r['server_cpu_ms_per_request']:.1f}", f"{r['loadavg_before']} / {r['loadavg_after']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=50, help="virtual users (keep-alive connections)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per run")
    ap.add_argument("--rate", type=float, default=400.0, help="requests/s offered in total; 0 = closed loop")
    ap.add_argument("--workers", default="1,2", help="server processes; a comma list runs each in turn")
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server (its database name is replaced)")
    ap.add_argument("--members", type=int, default=200, help="site members with histories")
    ap.add_argument("--history", type=int, default=0, help="ratings copied per member (0: the whole profile)")
    ap.add_argument("--hot-members", type=int, default=100, help="members who also re-rate one hot film")
    ap.add_argument("--write-share", type=float, default=0.1, help="share of requests that are rating writes")
    ap.add_argument("--algo", default="hybrid", help="model trained for the site (the demo's by default)")
    ap.add_argument("--home", type=Path, default=ROOT / "results" / "serve-load-home", help="cached sites")
    ap.add_argument("--json", type=Path, default=ROOT / "results" / "serve_load.json", help="where to write results")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--no-bar", action="store_true", help="do not fail the exit status on the L2 bar")
    ap.add_argument("--experiment", choices=("off", "on", "both"), default="off",
                    help="serve every member under a running 50/50 A/B experiment (two model versions, exposures "
                         "logged); 'both' runs each worker count without and with it, for the ratio")
    ap.add_argument("--cold", action="store_true",
                    help="start timing with every member's list uncomputed (default: each member's list is "
                         "requested once over its user's connection first, as on a server that has been up)")
    args = ap.parse_args(argv)
    try:
        args.worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    except ValueError:
        ap.error(f"--workers: a comma list of process counts, not {args.workers!r}")
    if not args.worker_counts or min(args.worker_counts) < 1:
        ap.error("--workers: at least one count, each >= 1")
    if args.users < 1 or args.members < args.users:
        ap.error(f"--members ({args.members}) must be at least --users ({args.users}) and --users >= 1: "
                 "each member belongs to one virtual user")
    if args.rate < 0 or args.duration <= 0 or not 0 <= args.write_share <= 1 or args.history < 0:
        ap.error("--rate >= 0, --duration > 0, --write-share in 0..1 and --history >= 0, please")
    args.hot_members = max(0, min(args.hot_members, args.members))
    args.home = args.home.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    """Build the site, run each worker count, print the table, write the JSON; returns the exit status."""
    args = parse_args(argv)
    site = build(args)
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.experiment]
    records = [one_run(args, site, w, ab) for w in args.worker_counts for ab in modes]
    mode = f"open loop at {args.rate:.0f} req/s offered" if args.rate else "closed loop"
    print(f"\n{args.users} users, {mode}, {args.duration:.0f} s per run, {1 - args.write_share:.0%} "
          f"GET {READ_PATH} / {args.write_share:.0%} PUT rating, {len(site.members)} members, model {args.algo}, "
          f"{os.cpu_count()} CPUs; L2 bar p99 <= {BAR[0]:.0f} ms and >= {BAR[1]:.0f} req/s, "
          f"goal p99 <= {GOAL[0]:.0f} ms and >= {GOAL[1]:.0f} req/s")
    print_table([("workers", "db", "A/B", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "writes acked", "L1",
                  "L2 bar", "L2 goal", "server CPU ms/req", "loadavg before / after"),
                 *(_row(r) for r in records)], left=2)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"args": {k: (str(v) if isinstance(v, Path) else v)
                                              for k, v in vars(args).items()}, "runs": records}, indent=2))
    print(f"\nwritten to {args.json}")
    for r in records:
        if not r["l1"]["pass"]:
            print(f"L1 FAIL ({r['workers']} workers): {json.dumps(r['l1'])}")
        if r["errors"]:
            print(f"errors ({r['workers']} workers): {r['error_kinds']}")
    if any(not r["l1"]["pass"] or r["errors"] for r in records):
        return 1
    print(f"L1 PASS in every run ({sum(r['writes_acknowledged'] for r in records)} acknowledged writes checked)")
    if not args.no_bar and not all(r["l2_bar"] for r in records):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
