"""Measured growth (issue 13): generate, import and fit at growing sizes; seconds, peak memory, held-out accuracy.

    python benchmarks/scale.py --sizes 1M,10M [--engines sqlite,postgres] \\
        [--algos als,ease,item-knn,spark-als] [--out results.json] [--plot docs/img/scale.png] \\
        [--fit-timeout 1800] [--memory-limit 18G] [--seed 0]

For each size (``100k``, ``1M``, ``10M``, ``25M``, ``50M`` take MovieLens
shapes, see :data:`cinerec.data.synthetic.SIZES`; any other number of
ratings a grown shape):

1. **Generate** the seeded synthetic ratings (:func:`cinerec.data.synthetic.generate`)
   and time it; the arrays go to a temporary ``.npz`` every child reads.
2. **Import** them, each engine in a fresh process on an empty migrated
   database: a new SQLite file, and PostgreSQL (``COPY``) on a fresh schema of
   database ``test`` on 127.0.0.1:5432, dropped afterwards (skipped with a
   note when the server is unreachable). The time is
   :func:`~cinerec.store.importer.import_dataset` alone (the aggregates
   rebuild included); while PostgreSQL imports, ``pg_stat_activity`` is read
   every few seconds and the statement seen running longest is recorded, so a
   stall names its statement.
3. **Fit** each algorithm in a fresh process on one seeded per-user 80/20
   split (:func:`cinerec.data.splits.stratified_split`): first the memory
   preflight the service runs before training
   (:func:`cinerec.service.training.check_memory` on the model's own
   ``estimate_fit_bytes``, against the lower of ``--memory-limit`` and 80% of
   the memory available then); a refused fit is reported as
   ``refused (est. X GB)`` and never started. Then the fit is timed and its
   peak resident memory read (``VmHWM`` of the process, plus its child
   processes: Spark's JVM), then held-out RMSE for rating predictors
   (:func:`cinerec.evaluation.metrics.rmse`) and NDCG@10 over the held-out
   films of up to ``--eval-users`` seeded test users
   (:func:`cinerec.evaluation.metrics.ndcg_at_k`, training films excluded).
   A fit past ``--fit-timeout`` seconds is killed (its whole process group)
   and reported as ``timeout``; a process tree past ``--kill-above`` resident
   bytes is killed and reported as ``killed``.

Algorithms: registry names with their defaults (``als`` is implicit ALS,
32 factors, 15 sweeps; ``ease``; ``item-knn``; any other registered name),
and ``spark-als``: :func:`cinerec.algorithms.spark_als.fit_als` (explicit,
rank 10, 10 sweeps, reg 0.1, as ``cinerec train --engine spark`` by default)
on ``local[2]`` with ``--spark-memory`` of driver heap, the train split
read from Parquet; its factors become the same in-process model
``cinerec train --engine spark`` publishes and are scored like the others.
Spark's fit time excludes the session start (reported apart).

Prints a table per size, writes the results as JSON (``--out``, rewritten
after every step, so an interrupted run keeps what it measured) and a
log-log plot (``--plot``): fit seconds and peak memory against ratings, one
line per algorithm, imports dashed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
SPARK = "spark-als"
GB = 1024.0**3


# ------------------------------------------------------------------ /proc helpers
def _status_kb(pid: int, key: str) -> int:
    """A ``kB`` field (``VmHWM``, ``VmRSS``) of ``/proc/<pid>/status`` (0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def _descendants(pid: int) -> list[int]:
    """The process ids under ``pid`` (children, grandchildren...), from ``/proc/*/stat``."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    out, frontier = [], [pid]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        out += kids
        frontier = kids
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants now."""
    return 1024 * sum(_status_kb(p, "VmRSS") for p in [pid, *_descendants(pid)])


# ------------------------------------------------------------------ children
def _load_split(npz: str, seed: int) -> tuple[Any, Any]:
    from cinerec.data.splits import stratified_split
    from cinerec.data.synthetic import SyntheticRatings

    split = stratified_split(SyntheticRatings.load(npz).interactions(), 0.8, random_state=seed)
    return split.train, split.test


def _score(model: Any, test: Any, eval_users: int, seed: int) -> dict[str, Any]:
    """Held-out RMSE (rating predictors) and NDCG@10 of ``model`` with cinerec's metrics."""
    from cinerec.evaluation.metrics import ndcg_at_k, rmse

    out: dict[str, Any] = {"rmse": None}
    if getattr(model, "predicts_ratings", False) and test.ratings is not None:
        out["rmse"] = rmse(model.predict(test.users, test.items), test.ratings)
    users = np.unique(test.users)
    if len(users) > eval_users:
        users = np.sort(np.random.default_rng(seed).choice(users, eval_users, replace=False))
    recs = np.concatenate([model.recommend(users[s : s + 1024], 10).items for s in range(0, len(users), 1024)])
    out["ndcg10"] = float(ndcg_at_k(recs, test.binary[users], 10).mean())
    out["eval_users"] = len(users)
    return out


def _limit(memory_limit: int) -> int:
    from cinerec.service.memory import default_limit

    available = default_limit()
    return memory_limit if available is None else min(memory_limit, available)


def child_import(args: dict[str, Any]) -> dict[str, Any]:
    """Import the synthetic data into ``args['url']`` (migrated first); seconds of ``import_dataset`` alone."""
    import resource

    from cinerec.data.synthetic import SyntheticRatings
    from cinerec.store.db import make_engine
    from cinerec.store.importer import import_dataset
    from cinerec.store.migrate import upgrade

    upgrade(args["url"])
    ds = SyntheticRatings.load(args["npz"]).dataset("synthetic")
    engine = make_engine(args["url"])
    t0 = time.perf_counter()
    report = import_dataset(engine, ds)
    seconds = time.perf_counter() - t0
    engine.dispose()
    return {"status": "ok", "seconds": seconds, "ratings": report.counts["ratings"],
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB}


def child_fit(args: dict[str, Any]) -> dict[str, Any]:
    """Preflight, fit, peak memory and held-out scores of one in-process algorithm."""
    from cinerec.algorithms.registry import create
    from cinerec.errors import TrainingRefused
    from cinerec.service.training import check_memory

    train, test = _load_split(args["npz"], args["seed"])
    model = create(args["algo"])
    estimate = int(model.estimate_fit_bytes(train.n_users, train.n_items, len(train)))
    limit = _limit(args["memory_limit"])
    out: dict[str, Any] = {"estimate_gb": estimate / GB, "limit_gb": limit / GB, "train_ratings": len(train)}
    try:
        check_memory(model, train.n_users, train.n_items, len(train), limit_bytes=limit)
    except TrainingRefused as exc:
        return {**out, "status": "refused", "message": str(exc)}
    base = _status_kb(os.getpid(), "VmRSS") * 1024
    t0 = time.perf_counter()
    model.fit(train)
    out["fit_s"] = time.perf_counter() - t0
    out["peak_gb"] = _status_kb(os.getpid(), "VmHWM") * 1024 / GB
    out["base_gb"] = base / GB
    return {**out, **_score(model, test, args["eval_users"], args["seed"]), "status": "ok"}


def child_spark(args: dict[str, Any]) -> dict[str, Any]:
    """Spark ALS on ``local[2]``: session start, fit (``fit_als``), peak of Python + JVM, held-out scores."""
    from cinerec.algorithms.spark_als import ALSSettings, fit_als, read_frame, spark_session
    from cinerec.service.spark_training import export_parquet, factor_model

    train, test = _load_split(args["npz"], args["seed"])
    settings = ALSSettings(holdout=0.0, seed=args["seed"])
    out: dict[str, Any] = {"settings": settings.as_dict(), "train_ratings": len(train)}
    with tempfile.TemporaryDirectory(prefix="scale-spark-") as tmp:
        parquet = export_parquet(train, Path(tmp) / "train.parquet")
        t0 = time.perf_counter()
        conf = {"spark.driver.memory": args["spark_memory"], "spark.local.dir": tmp}
        with spark_session("local[2]", conf, app_name="cinerec-scale") as spark:
            out["session_s"] = time.perf_counter() - t0
            frame = read_frame(spark, str(parquet))
            t0 = time.perf_counter()
            factors, _ = fit_als(frame, settings, local=True)
            out["fit_s"] = time.perf_counter() - t0
            jvms = [p for p in _descendants(os.getpid()) if _comm(p) == "java"]
            out["jvm_peak_gb"] = sum(_status_kb(p, "VmHWM") for p in jvms) * 1024 / GB
            out["python_peak_gb"] = _status_kb(os.getpid(), "VmHWM") * 1024 / GB
            out["peak_gb"] = out["jvm_peak_gb"] + out["python_peak_gb"]
    model = factor_model(factors, train, settings)
    return {**out, **_score(model, test, args["eval_users"], args["seed"]), "status": "ok"}


CHILDREN = {"import": child_import, "fit": child_fit, "spark": child_spark}


# ------------------------------------------------------------------ parent
class Runner:
    """Runs children with a wall-clock cap and a resident-memory cap on the whole process tree."""

    def __init__(self, timeout: float, kill_above: int, log: Path | None) -> None:
        self.timeout = timeout
        self.kill_above = kill_above
        self.log = log

    def run(self, task: str, args: dict[str, Any], watch: Any = None) -> dict[str, Any]:
        """Run child ``task`` (a fresh ``nice``-inherited interpreter); its JSON result, or why it has none.

        ``watch`` is called every few seconds while the child runs (the PostgreSQL activity probe).
        """
        cmd = [sys.executable, __file__, "--child", task, json.dumps(args)]
        t0, peak, why = time.monotonic(), 0, None
        out_lines: list[str] = []
        with open(self.log or os.devnull, "a") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
            reader = threading.Thread(target=lambda: out_lines.extend(proc.stdout or []), daemon=True)
            reader.start()
            while proc.poll() is None:
                time.sleep(2.0)
                rss = _tree_rss_bytes(proc.pid)
                peak = max(peak, rss)
                if watch is not None:
                    watch()
                if time.monotonic() - t0 > self.timeout:
                    why = "timeout"
                elif rss > self.kill_above:
                    why = "killed"
                if why:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    break
            reader.join(timeout=10)
        wall = time.monotonic() - t0
        if why == "timeout":
            return {"status": "timeout", "wall_s": wall, "tree_peak_gb": peak / GB}
        if why == "killed":
            return {"status": "killed", "wall_s": wall, "tree_peak_gb": peak / GB,
                    "message": f"resident memory passed {self.kill_above / GB:.1f} GB"}
        for line in reversed(out_lines):
            if line.startswith("{"):
                return {**json.loads(line), "wall_s": wall, "tree_peak_gb": peak / GB}
        return {"status": "failed", "wall_s": wall, "message": f"exit code {proc.returncode} (see the log)"}


def _pg_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_DSN, connect_timeout=3):
            return True
    except Exception:
        return False


class PgProbe:
    """Reads ``pg_stat_activity`` for the import's connection; keeps the statement seen running longest."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.longest: dict[str, Any] = {}
        self.samples: list[tuple[float, str]] = []

    def __call__(self) -> None:
        import psycopg

        try:
            with psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3) as c:
                rows = c.execute(
                    "SELECT extract(epoch FROM now() - query_start), state, left(query, 200) FROM pg_stat_activity "
                    "WHERE datname = 'test' AND pid <> pg_backend_pid() AND state = 'active' "
                    "AND query NOT ILIKE '%pg_stat_activity%'").fetchall()
        except Exception:
            return
        for secs, _state, query in rows:
            q = " ".join(str(query).split())
            self.samples.append((float(secs or 0.0), q))
            if float(secs or 0.0) > self.longest.get("seconds", -1.0):
                self.longest = {"seconds": round(float(secs or 0.0), 1), "query": q}


def import_pg(runner: Runner, npz: str) -> dict[str, Any]:
    """PostgreSQL import on a fresh schema (dropped afterwards), with the activity probe."""
    import psycopg

    schema = f"scale_{secrets.token_hex(4)}"
    with psycopg.connect(PG_DSN, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    probe = PgProbe(schema)
    try:
        url = f"{PG_BASE}?options=-csearch_path%3D{schema}"
        res = runner.run("import", {"url": url, "npz": npz}, watch=probe)
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE")
    res["longest_statement"] = probe.longest
    return res


def cell(fit: dict[str, Any]) -> str:
    """One table cell: ``fit s / peak GB / RMSE / NDCG@10``, or why there is none."""
    status = fit.get("status")
    if status == "refused":
        return f"refused (est. {fit['estimate_gb']:.1f} GB)"
    if status in ("timeout", "killed"):
        return f"{status} ({fit['wall_s']:.0f} s, {fit.get('tree_peak_gb', 0):.1f} GB)"
    if status != "ok":
        return f"failed ({fit.get('message', '')[:60]})"
    r = f"{fit['rmse']:.3f}" if fit.get("rmse") is not None else "–"
    return f"{fit['fit_s']:.1f} s / {fit['peak_gb']:.2f} GB / {r} / {fit['ndcg10']:.3f}"


def table(results: dict[str, Any]) -> str:
    """The markdown table: one row per size."""
    algos = results["algos"]
    head = ["ratings", "users × films", "generate", "import SQLite", "import PG COPY",
            *[f"{a}: fit / peak / RMSE / NDCG@10" for a in algos]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in results["sizes"]:
        imp = s.get("import", {})

        def imp_cell(engine: str, imp: dict[str, Any] = imp) -> str:
            r = imp.get(engine)
            if r is None:
                return "–"
            if r.get("status") != "ok":
                return str(r.get("status"))
            return f"{r['seconds']:.0f} s"

        row = [f"{s['ratings']:,}", f"{s['users']:,} × {s['items']:,}", f"{s['generate_s']:.1f} s",
               imp_cell("sqlite"), imp_cell("postgres"),
               *[cell(s["fits"][a]) if a in s.get("fits", {}) else "–" for a in algos]]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    """Log-log: fit (and import) seconds, and peak GB, against ratings; refusals drawn at their estimate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 4.8))
    sizes = results["sizes"]
    for k, algo in enumerate(results["algos"]):
        color = f"C{k}"
        pts = [(s["ratings"], s["fits"][algo]) for s in sizes if algo in s.get("fits", {})]
        ok = [(n, f) for n, f in pts if f.get("status") == "ok"]
        if ok:
            ax_t.plot([n for n, _ in ok], [f["fit_s"] for _, f in ok], "o-", color=color, label=algo)
            ax_m.plot([n for n, _ in ok], [f["peak_gb"] for _, f in ok], "o-", color=color, label=algo)
        refused = [(n, f) for n, f in pts if f.get("status") == "refused"]
        if refused:
            ax_m.plot([n for n, _ in refused], [f["estimate_gb"] for _, f in refused], "x", color=color, ms=10,
                      label=f"{algo}: refused (estimate)")
        capped = [(n, f) for n, f in pts if f.get("status") in ("timeout", "killed")]
        if capped:
            ax_t.plot([n for n, _ in capped], [f["wall_s"] for _, f in capped], "^", color=color, ms=9,
                      label=f"{algo}: {capped[0][1]['status']}")
    for k, engine in enumerate(("sqlite", "postgres")):
        pts = [(s["ratings"], s["import"][engine]) for s in sizes if s.get("import", {}).get(engine, {}).get("status") == "ok"]
        if pts:
            ax_t.plot([n for n, _ in pts], [r["seconds"] for _, r in pts], "s--", color=f"C{k + 6}",
                      label=f"import {'SQLite' if engine == 'sqlite' else 'PostgreSQL COPY'}")
    if results.get("memory_limit_gb"):
        ax_m.axhline(results["memory_limit_gb"], color="grey", ls=":", label=f"limit {results['memory_limit_gb']:.0f} GB")
    for ax, ylabel, title in ((ax_t, "seconds", "fit (and import) time"), (ax_m, "peak resident GB", "peak memory")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("ratings")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"cinerec growth on synthetic MovieLens-shaped data ({results['machine']['cores']} cores, "
                 f"{results['machine']['memory_gb']:.0f} GB)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024 / GB
    return 0.0


def main() -> None:
    from cinerec.config import parse_size as parse_bytes
    from cinerec.data.synthetic import default_shape, generate, parse_size

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1M,10M", help="comma-separated: 100k, 1M, 10M, 25M, 50M or a number of ratings")
    ap.add_argument("--engines", default="sqlite,postgres", help="import into: sqlite, postgres (empty: no import)")
    ap.add_argument("--algos", default=f"als,ease,item-knn,{SPARK}")
    ap.add_argument("--out", type=Path, default=Path("results/scale.json"))
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--fit-timeout", type=float, default=1800.0, help="seconds per fit or import before it is killed")
    ap.add_argument("--memory-limit", default="18G", help="the preflight's limit (lowered to 80%% of the memory available)")
    ap.add_argument("--kill-above", default="20G", help="kill a child whose process tree passes this resident size")
    ap.add_argument("--spark-memory", default="6g", help="Spark driver heap (spark.driver.memory)")
    ap.add_argument("--eval-users", type=int, default=10_000, help="test users NDCG@10 is averaged over (seeded sample)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log", type=Path, default=None, help="append the children's stderr here")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        res = CHILDREN[args.child[0]](json.loads(args.child[1]))
        print(json.dumps(res), flush=True)
        return

    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    bad = sorted(set(engines) - {"sqlite", "postgres"})
    if bad:
        sys.exit(f"unknown engine(s) {', '.join(bad)}: choose sqlite, postgres")
    from cinerec.algorithms.registry import get_class
    from cinerec.errors import InvalidParameter

    for a in algos:
        if a != SPARK:
            try:
                get_class(a)
            except InvalidParameter as exc:
                sys.exit(str(exc))
    memory_limit = parse_bytes(args.memory_limit)
    runner = Runner(args.fit_timeout, parse_bytes(args.kill_above), args.log)
    results: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/scale.py", *sys.argv[1:]]),
        "machine": {"cores": os.cpu_count(), "memory_gb": _memory_gb(), "python": platform.python_version(),
                    "numpy": np.__version__},
        "seed": args.seed, "split": "stratified per user, 80/20, seed", "algos": algos, "engines": engines,
        "memory_limit_gb": memory_limit / GB, "fit_timeout_s": args.fit_timeout, "sizes": [],
    }

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))

    pg_ok = "postgres" not in engines or _pg_reachable()
    if not pg_ok:
        print("PostgreSQL is not reachable on 127.0.0.1:5432 (database test, user postgres): its import is skipped",
              file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="cinerec-scale-") as tmp:
        for n in sizes:
            users, items = default_shape(n)
            t0 = time.perf_counter()
            data = generate(n, users, items, seed=args.seed)
            gen_s = time.perf_counter() - t0
            npz = str(data.save(Path(tmp) / f"synthetic-{n}.npz"))
            del data
            entry: dict[str, Any] = {"ratings": n, "users": users, "items": items, "generate_s": gen_s,
                                     "import": {}, "fits": {}}
            results["sizes"].append(entry)
            print(f"[{n:,}] generated in {gen_s:.1f} s", flush=True)
            for engine in engines:
                if engine == "sqlite":
                    res = runner.run("import", {"url": f"sqlite:///{tmp}/scale-{n}.db", "npz": npz})
                    Path(f"{tmp}/scale-{n}.db").unlink(missing_ok=True)
                elif pg_ok:
                    res = import_pg(runner, npz)
                else:
                    res = {"status": "skipped", "message": "PostgreSQL unreachable"}
                entry["import"][engine] = res
                print(f"[{n:,}] import {engine}: {json.dumps(res)}", flush=True)
                save()
            for algo in algos:
                child_args = {"npz": npz, "algo": algo, "seed": args.seed, "eval_users": args.eval_users,
                              "memory_limit": memory_limit, "spark_memory": args.spark_memory}
                res = runner.run("spark" if algo == SPARK else "fit", child_args)
                entry["fits"][algo] = res
                print(f"[{n:,}] {algo}: {cell(res)}", flush=True)
                save()
            Path(npz).unlink()
    print()
    print(table(results))
    if args.plot:
        plot(results, args.plot)
        print(f"plot: {args.plot}")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
