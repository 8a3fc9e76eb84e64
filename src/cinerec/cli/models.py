"""``cinerec train`` and ``cinerec models``: train, list, activate, roll back."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from cinerec.cli._common import engine, parse_params, runtime_params, settings

if TYPE_CHECKING:
    from cinerec.service.registry import ModelRegistry

app = typer.Typer(no_args_is_help=True)


def _registry() -> ModelRegistry:
    """The model registry under the configured models directory."""
    from cinerec.service.registry import ModelRegistry

    return ModelRegistry(settings().models_dir)


def train(
    algo: str | None = typer.Option(None, "--algo", help="algorithm name (see `cinerec models algorithms`; "
                                    "default implicit-als, with --engine spark: als)"),
    param: list[str] | None = typer.Option(None, "--param", help="ALGO.key=value, repeatable"),
    no_activate: bool = typer.Option(False, "--no-activate", help="publish without switching the live model"),
    device: str | None = typer.Option(None, "--device", help="cpu | cuda | auto, for neural models"),
    engine_name: str = typer.Option("in-process", "--engine",
                                    help="in-process | spark (Apache Spark: MLlib ALS or item-kNN similarities)"),
    master: str = typer.Option("local[2]", "--master",
                               help="with --engine spark: local[N] | spark://HOST:7077 | yarn | k8s://https://HOST:PORT"),
    conf: list[str] | None = typer.Option(None, "--conf", help="with --engine spark: Spark key=value, repeatable"),
    data: str | None = typer.Option(None, "--data",
                                    help="with --engine spark: Parquet/CSV path or URL (user,item,rating[,timestamp]) "
                                         "instead of the database"),
) -> None:
    """Fit ALGO on every rating in the database and publish it as a new model version.

    With --engine spark, Spark MLlib's ALS trains on the database's ratings
    (exported to Parquet) or on --data, and its factors are published as an
    ordinary version (--param als.rank=64 als.reg=0.1 als.iters=10
    als.implicit=true als.alpha=1 als.holdout=0.1 ...); --algo item-knn
    computes item-kNN similarities on Spark and publishes an ordinary item-kNN
    version (--param knn.k=40 knn.shrinkage=100 knn.max_neighbors=400
    knn.max_user_items=0 knn.holdout=0.1 ...).

    Holds the models folder's training lock: it refuses to start while
    another `cinerec train` or a `cinerec worker` run is training.
    """
    import sys

    engine_key = engine_name.strip().lower().replace("_", "-")
    if engine_key == "spark":
        _train_on_spark(algo or "als", param, no_activate, master, conf, data)
        return
    if engine_key not in ("in-process", "inprocess", "local", "python"):
        raise typer.BadParameter(f"{engine_name!r}: use in-process or spark", param_hint="--engine")
    if data is not None or conf:
        raise typer.BadParameter("--data and --conf need --engine spark", param_hint="--engine")

    from cinerec.algorithms.registry import canonical
    from cinerec.cli.worker import require_schema
    from cinerec.service.training import train_from_store
    from cinerec.service.worker import training_lock

    algo = canonical(algo or "implicit-als")  # what the user typed is checked first, then the database
    params = runtime_params(algo, parse_params(param, [algo])[algo], device, progress=sys.stderr.isatty())
    require_schema(settings())
    with training_lock(settings().models_dir):  # never alongside the retraining worker or another train
        info = train_from_store(engine(), _registry(), algo, params, activate=not no_activate,
                                text_encoder=settings().text_encoder)
    typer.echo(f"published {info.version} ({info.algo}, {info.extra.get('ratings')} ratings, "
               f"{info.extra.get('fit_seconds')} s){'' if no_activate else ' and activated it'}")


def _train_on_spark(algo: str, param: list[str] | None, no_activate: bool, master: str, conf: list[str] | None,
                    data: str | None) -> None:
    """``cinerec train --engine spark``: Spark ALS or item-kNN on the database (or --data), published like any version."""
    from cinerec.cli.worker import require_schema
    from cinerec.errors import InvalidParameter
    from cinerec.evaluation.protocols import parse_param
    from cinerec.service.spark_training import parse_conf, spark_algo, train_on_spark
    from cinerec.service.worker import training_lock

    name, params = spark_algo(algo)
    for text in param or []:
        prefix, key, value = parse_param(text)
        if spark_algo(prefix)[0] != name:
            raise InvalidParameter(f"--param {text!r}: with --algo {algo} the parameters are "
                                   f"{'knn' if name == 'item-knn' else 'als'}.KEY=value")
        params[key] = value
    spark_conf = parse_conf(conf)
    if data is None:
        require_schema(settings())
    with training_lock(settings().models_dir):
        info = train_on_spark(_registry(), engine=engine() if data is None else None, data=data, master=master,
                              conf=spark_conf, params=params, algo=algo, activate=not no_activate)
    holdout = info.extra.get("holdout") or {}
    measure = ", ".join(f"{k} {holdout[k]}" for k in ("rmse", "ndcg_at_10") if holdout.get(k) is not None)
    source = "item-kNN similarities" if name == "item-knn" else "ALS"
    typer.echo(f"published {info.version} ({info.algo} from Spark {source} on {master}, {info.extra.get('ratings')} ratings, "
               f"{info.extra.get('fit_seconds')} s{', holdout ' + measure if measure else ''})"
               f"{'' if no_activate else ' and activated it'}")


@app.command("list")
def list_() -> None:
    """Published versions, newest first (* = active)."""
    reg = _registry()
    active = reg.active_version()
    versions = reg.versions()
    if not versions:
        typer.echo("no model versions yet: run `cinerec train`")
    from cinerec.service.worker import read_runs

    gated = {r["version"]: r for r in reversed(read_runs(reg.root)) if r.get("version") and r.get("gate")}
    for v in versions:
        line = f"{'*' if v.version == active else ' '} {v.version}  {v.algo}  {v.created_at}"
        run = gated.get(v.version)
        if run is not None and run.get("outcome") == "rejected" and v.version != active:
            line += f"  rejected by the gate: {run.get('reason')}"
        typer.echo(line)


@app.command()
def runs(limit: int = typer.Option(20, "--limit", min=1, help="show the newest N runs")) -> None:
    """Retraining runs of `cinerec worker`, newest first: outcome, trigger, version, seconds, gate result.

    A run that started but never ended shows as interrupted (its process was
    killed or the machine stopped; the active model was left as it was).
    """
    from cinerec.service.worker import describe_run, read_runs

    found = read_runs(settings().models_dir, limit=limit)
    if not found:
        typer.echo("no retraining runs yet: start `cinerec worker` (or `cinerec worker --once --force`)")
    for rec in found:
        typer.echo(describe_run(rec))


@app.command()
def activate(version: str = typer.Argument(..., help="version to serve")) -> None:
    """Serve VERSION (verified before the switch)."""
    info = _registry().activate(version)
    typer.echo(f"active: {info.version}")


@app.command()
def rollback() -> None:
    """Serve the previously active version again."""
    info = _registry().rollback()
    typer.echo(f"active: {info.version}")


def _predicts(cls: type) -> str:
    """What a model class answers: a ranking, and ratings when it is a rating predictor."""
    import inspect

    flag = inspect.getattr_static(cls, "predicts_ratings", False)
    if isinstance(flag, bool):
        return "ratings + ranking" if flag else "ranking"
    return "ranking (+ ratings when every member predicts them)"


def _needs(cls: type) -> str:
    """What a model class needs beyond the ratings."""
    import inspect

    flag = inspect.getattr_static(cls, "needs_features", False)
    if isinstance(flag, bool):
        return "item features" if flag else "-"
    return "item features when a member needs them"


@app.command()
def algorithms(
    params: bool = typer.Option(False, "--params", help="also print each algorithm's default parameters"),
) -> None:
    """List the registered algorithms: name, class, aliases and what they predict.

    Any of the names, class names and aliases is accepted by --algo and
    --param, in any case and with or without '-', '_' or spaces
    (biased-mf = BiasedMF = biased_mf).
    """
    import sys

    from rich.console import Console
    from rich.table import Table

    from cinerec.algorithms.registry import aliases, create, get_class, names

    table = Table(title="algorithms (names are case- and punctuation-insensitive)")
    for h in ("name", "class", "aliases", "predicts", "needs"):
        table.add_column(h)
    for n in names():
        cls = get_class(n)
        short = [a for a in aliases(n) if a != cls.__name__]
        table.add_row(n, cls.__name__, ", ".join(short) or "-", _predicts(cls),
                      _needs(cls))
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    if params:
        for n in names():
            typer.echo(f"{n}: {create(n).get_params()}")
