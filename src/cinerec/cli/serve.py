"""``cinerec serve`` and ``cinerec demo``."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import typer

from cinerec.cli._common import engine, ensure_schema, settings
from cinerec.service.recipes import DEMO_HYBRID  # the demo's model; re-exported here for its users

#: Environment variables that keep numerical libraries to one thread in every server process (spawned
#: workers read them at import; threadpoolctl only reaches the process it runs in).
ONE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: Seconds the retraining worker gets to stop after SIGTERM (then half as long after a second one) before it is killed.
WORKER_STOP_SECONDS = 10.0
#: :data:`cinerec.service.metrics.MULTIPROC_ENV`, named here so that setting it does not import prometheus_client first.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The ``--with-worker`` child's command line.
WORKER_COMMAND = (sys.executable, "-m", "cinerec", "worker")

log = logging.getLogger("cinerec")


def serve(
    host: str | None = typer.Option(None, help="interface (default CINEREC_HOST, 127.0.0.1)"),
    port: int | None = typer.Option(None, help="port (default CINEREC_PORT, 8000)"),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="server processes sharing the port (uvicorn workers); each loads the model, "
                                     "whose arrays they share through memory maps"),
    with_worker: bool = typer.Option(False, "--with-worker",
                                     help="also run the retraining worker (`cinerec worker`) as a niced child "
                                          "process, stopped with the server"),
) -> None:
    """Serve the site and API with uvicorn.

    Log lines go to stderr, each naming its request id. Metrics are at
    ``/metrics``. With ``--workers N`` (N > 1) uvicorn runs N processes on
    one port; settings reach them through the ``CINEREC_*`` environment, and
    unless ``PROMETHEUS_MULTIPROC_DIR`` is set a fresh temporary folder is
    used for it (removed on exit), so any process's ``/metrics`` answers for
    all of them. In-memory caches and login/signup rate limits are per
    process; set ``CINEREC_REDIS_URL`` to share the rate limits and the
    recommendation lists. ``--with-worker`` starts ``cinerec worker`` beside
    the server (niced) and stops it when the server exits: SIGTERM (it
    finishes the current run), 10 s later a second SIGTERM (it abandons
    the run), 5 s later SIGKILL.
    """
    import uvicorn
    from threadpoolctl import threadpool_limits

    s = settings()
    ensure_schema(s)
    host, port = host or s.host, port or s.port
    # A server's parallelism is its requests: BLAS threads fighting over the cores made each
    # history fold-in ~20x slower under load (measured by benchmarks/history_agreement.py).
    threadpool_limits(1)
    with ExitStack() as stack:
        # uvicorn re-raises a SIGTERM it handled once the server has stopped; with the default action that would
        # kill this process before the cleanup below (the worker child, the temporary metrics folder) runs
        if threading.current_thread() is threading.main_thread():
            stack.callback(signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, _exit_cleanly))
        # prometheus_client picks its storage when first imported: the folder is set before anything imports it
        if workers > 1 or with_worker:  # more than one process records metrics: they share a folder
            stack.enter_context(_multiprocess_metrics_dir())
        if with_worker:
            stack.enter_context(_retraining_worker())
        from cinerec.web.observability import log_config

        if workers == 1:
            from cinerec.web import create_app

            uvicorn.run(create_app(s), host=host, port=port, log_level="info", access_log=False, log_config=log_config())
        else:
            os.environ.update(dict.fromkeys(ONE_THREAD_ENV, "1"))  # spawned workers start a fresh interpreter
            uvicorn.run("cinerec.web.app:create_app", factory=True, workers=workers, host=host, port=port,
                        log_level="info", access_log=False, log_config=log_config())


def _exit_cleanly(signum: int, frame: object) -> None:
    """SIGTERM outside uvicorn's own handling: leave through the ``finally`` blocks, with status 0."""
    raise SystemExit(0)


@contextmanager
def _multiprocess_metrics_dir() -> Iterator[None]:
    """Give the processes of this server a ``PROMETHEUS_MULTIPROC_DIR``: the configured one, else an empty
    temporary folder for the server's lifetime (removed afterwards)."""
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        if not Path(configured).is_dir():
            from cinerec.errors import InvalidParameter

            raise InvalidParameter(f"{MULTIPROC_ENV}={configured} is not a folder: create it (empty) or unset it, "
                                   "and cinerec serve uses a temporary one")
        yield
        return
    folder = tempfile.mkdtemp(prefix="cinerec-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


def _worker_preexec() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Have the kernel stop the worker if the server dies without cleaning up.

    Its priority is the worker's own business (``cinerec worker`` nices
    itself by 10 wherever it runs); nicing it here too would make it 19.
    """
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))


@contextmanager
def _retraining_worker() -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cinerec worker`` (which nices itself) as a child for the duration of the block; stop it afterwards.

    A thread logs the worker's exit if it ends while the server runs (the
    server keeps serving the active model).
    """
    proc = subprocess.Popen(list(WORKER_COMMAND), preexec_fn=_worker_preexec)
    stopping = threading.Event()

    def watch() -> None:
        code = proc.wait()
        if not stopping.is_set():
            log.error("the retraining worker (pid %d) exited with status %s; the server keeps serving", proc.pid, code)

    threading.Thread(target=watch, name="cinerec-worker-watch", daemon=True).start()
    typer.echo(f"started the retraining worker: pid {proc.pid}", err=True)
    try:
        yield proc
    finally:
        stopping.set()
        # the worker ends its loop after the current run on SIGTERM and abandons the run on a second one
        # (its lock is the kernel's, its partial version folder is swept by the next publish)
        for attempt in range(3):
            if proc.poll() is not None:
                break
            if attempt < 2:
                proc.terminate()
                try:
                    proc.wait(timeout=WORKER_STOP_SECONDS if attempt == 0 else WORKER_STOP_SECONDS / 2)
                except subprocess.TimeoutExpired:
                    continue
            else:
                log.warning("the retraining worker did not stop after two SIGTERMs: killing it")
                proc.kill()
                proc.wait()


#: Film metadata that can be read without a network: (folder, file inside it or "" for the folder itself).
OFFLINE_METADATA = (("tmdb-5000", "tmdb_5000_movies.csv"), ("hetrec2011-movielens-2k", ""))


def offline_metadata(dataset_folder: Path, data_dir: Path | None) -> list[Path]:
    """TMDB-CSV and HetRec metadata found beside the dataset or in the data folder, so a newcomer sees
    overviews, keywords and directors without a TMDB key (cast names still need `cinerec data enrich`)."""
    roots = [p for p in (data_dir, dataset_folder.parent) if p is not None]
    found: list[Path] = []
    for folder, name in OFFLINE_METADATA:
        for root in roots:
            path = root / folder / name if name else root / folder
            if path.exists() and path not in found:
                found.append(path)
                break
    return found


def demo(
    data: Path | None = typer.Option(None, "--data", help="local dataset folder instead of downloading"),
    dataset: str = typer.Option("ml-latest-small", "--dataset", help="dataset to fetch when --data is not given"),
    algo: str = typer.Option("hybrid", "--algo", help="model to train (default: implicit ALS + content, "
                             "content alone for profiles under 5 ratings)"),
    retrain: bool = typer.Option(False, "--retrain", help="train even if a model is already active"),
    serve_site: bool = typer.Option(True, "--serve/--no-serve", help="start the site after setting up"),
    social: bool = typer.Option(True, "--social/--no-social", help="seed a social graph among the imported profiles "
                                "(follows by taste, shares, public lists; `cinerec data seed-social`)"),
    host: str | None = typer.Option(None, help="interface"),
    port: int | None = typer.Option(None, help="port"),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="server processes (see `cinerec serve --workers`)"),
) -> None:
    """One command: create the database, get and import a dataset, seed a social graph, train a model, serve the site."""
    from cinerec.cli.data import print_report
    from cinerec.data.fetch import fetch
    from cinerec.data.readers import read_dataset
    from cinerec.data.readers.metadata import read_metadata
    from cinerec.service.registry import ModelRegistry
    from cinerec.service.training import train_from_store
    from cinerec.store.importer import import_dataset
    from cinerec.store.metadata import import_metadata

    s = settings()
    typer.echo(f"cinerec home: {s.home}")
    ensure_schema(s)
    folder = data if data is not None else fetch(dataset, s.resolved_cache_dir, data_dir=s.data_dir)
    typer.echo(f"dataset: {folder}")
    ds = read_dataset(folder)
    print_report(import_dataset(engine(s), ds))
    for meta in offline_metadata(folder, s.data_dir):
        r = import_metadata(engine(s), read_metadata(meta), source=ds.name if meta.is_dir() else None)
        typer.echo(f"metadata {meta.name}: {r.matched_films} films matched, {r.overviews} overviews, "
                   f"{r.credits} new credits, {r.keywords} keywords/tags")
    if social:
        from cinerec.service.social_seed import seed_social

        seeded = seed_social(engine(s))
        typer.echo(f"social graph: {seeded.follows} follows, {seeded.shares} shares, {seeded.lists} lists added "
                   "(`cinerec data seed-social --member NAME` lets your account join it)")
    registry = ModelRegistry(s.models_dir)
    if retrain or registry.active_version() is None:
        params = DEMO_HYBRID if algo == "hybrid" else {}
        info = train_from_store(engine(s), registry, algo, params)
        typer.echo(f"trained {info.version} in {info.extra.get('fit_seconds')} s")
    else:
        typer.echo(f"serving the active model {registry.active_version()} (use --retrain to train again)")
    from cinerec.service.catalogue import build_catalogue_map

    m = build_catalogue_map(engine(s), s.map_dir)
    typer.echo(f"catalogue map: {m.n_films} films, SVD keeps {m.svd_explained_variance:.0%} of the variance")
    if serve_site:
        typer.echo(f"open http://{host or s.host}:{port or s.port}/")
        serve(host=host, port=port, workers=workers, with_worker=False)


def catalogue_map(
    components: int = typer.Option(50, "--components", min=2, max=500, help="TruncatedSVD dimensions before the 2-D PCA"),
) -> None:
    """Draw the 2-D content map of the catalogue for the site (/map)."""
    from cinerec.service.catalogue import build_catalogue_map

    s = settings()
    ensure_schema(s)
    m = build_catalogue_map(engine(s), s.map_dir, components)
    typer.echo(f"mapped {m.n_films} films ({m.n_features} features): TruncatedSVD-{m.svd_components} keeps "
               f"{m.svd_explained_variance:.1%} of the variance, the 2 PCA axes {m.pca_explained_variance:.1%} of that; "
               f"wrote {s.map_dir}")
