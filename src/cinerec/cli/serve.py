"""``cinerec serve`` and ``cinerec demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from cinerec.cli._common import engine, ensure_schema, settings
from cinerec.service.recipes import DEMO_HYBRID  # the demo's model; re-exported here for its users


def serve(
    host: str | None = typer.Option(None, help="interface (default CINEREC_HOST, 127.0.0.1)"),
    port: int | None = typer.Option(None, help="port (default CINEREC_PORT, 8000)"),
) -> None:
    """Serve the site and API with uvicorn.

    Log lines go to stderr, each naming its request id. Metrics are at
    ``/metrics``; with several processes set ``PROMETHEUS_MULTIPROC_DIR`` to an
    empty folder shared by all of them before starting.
    """
    import uvicorn
    from threadpoolctl import threadpool_limits

    from cinerec.web import create_app
    from cinerec.web.observability import log_config

    # A server's parallelism is its requests: BLAS threads fighting over the cores made each
    # history fold-in ~20x slower under load (measured by benchmarks/history_agreement.py).
    threadpool_limits(1)
    s = settings()
    ensure_schema(s)
    uvicorn.run(create_app(s), host=host or s.host, port=port or s.port, log_level="info", access_log=False,
                log_config=log_config())


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
        serve(host=host, port=port)


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
