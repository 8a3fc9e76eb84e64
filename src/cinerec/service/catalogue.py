"""The catalogue map: every film placed in 2-D by its content (TruncatedSVD, then PCA).

``cinerec map`` (and the demo) writes ``catalogue.png`` and ``catalogue.json``
under ``<home>/map``; the site shows them at ``/map``. Films close together
share genres, people, tags and plot words.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from cinerec.data.vocab import Vocabulary
from cinerec.errors import DataFormatError
from cinerec.fileio import atomic_write
from cinerec.store.db import transaction
from cinerec.store.repos import movies as movie_repo
from cinerec.store.snapshot import load_item_features

PNG, JSON = "catalogue.png", "catalogue.json"


@dataclass(frozen=True)
class CatalogueMap:
    """What was drawn.

    Attributes:
        n_films: films placed (those with any content feature).
        n_features: content feature columns.
        svd_components: TruncatedSVD dimensions.
        svd_explained_variance: share of the feature variance those keep.
        pca_explained_variance: share of the SVD space's variance on the two map axes.
    """

    n_films: int
    n_features: int
    svd_components: int
    svd_explained_variance: float
    pca_explained_variance: float


def build_catalogue_map(engine: Engine, out_dir: Path, n_components: int = 50) -> CatalogueMap:
    """Compute the map from the database's content features and write the PNG and JSON.

    Raises:
        DataFormatError: no films with content in the database.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with transaction(engine, write=False) as session:
        rows = movie_repo.catalogue(session)
    ids, titles, counts, genres = np.array(rows.ids, dtype=np.int64), rows.titles, rows.counts, rows.genres
    if not len(ids):
        raise DataFormatError("the database has no films to map: run `cinerec data import` first")
    feats = load_item_features(engine, Vocabulary(ids))
    if feats.n_features < 3:
        raise DataFormatError("the films have too little content (genres, tags, people, text) to map")
    coords, svd_var, pca_var = feats.map_2d(n_components)
    placed = feats.has_content()
    # colour by each film's rarest genre, so Drama does not swallow the map
    freq = Counter(g for gs in genres.values() for g in gs)
    main = [min(genres.get(int(m), ["(none)"]), key=lambda g: freq.get(g, 0)) for m in ids]
    top = [g for g, _ in Counter(main).most_common(10)]
    pop = np.array([counts.get(int(m), 0) for m in ids], dtype=np.float64)

    fig, ax = plt.subplots(figsize=(11, 8), dpi=110)
    palette = [plt.get_cmap("tab20")(i) for i in (0, 2, 4, 6, 8, 10, 12, 16, 18, 5)]  # no grey: that is "other"
    for j, g in enumerate([*top, "other"]):
        sel = placed & np.array([(x == g) if g != "other" else (x not in top) for x in main])
        ax.scatter(coords[sel, 0], coords[sel, 1], s=4 + 40 * np.sqrt(pop[sel] / max(pop.max(), 1)),
                   color=palette[j] if g != "other" else "#c8c8c8", alpha=0.6, linewidths=0, label=g)
    for i in np.argsort(-pop)[:15]:
        if placed[i]:
            ax.annotate(str(titles[int(ids[i])])[:28], coords[i], fontsize=7, alpha=0.8)
    ax.set_title(f"{int(placed.sum())} films by content: TruncatedSVD-{n_components} keeps {svd_var:.0%} of the feature "
                 f"variance; these two PCA axes show {pca_var:.0%} of that")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="best", fontsize=8, markerscale=2, title="rarest genre")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = CatalogueMap(int(placed.sum()), feats.n_features, n_components, round(svd_var, 4), round(pca_var, 4))
    points = [{"movie_id": int(m), "title": titles[int(m)], "x": round(float(x), 4), "y": round(float(y), 4)}
              for m, (x, y), ok in zip(ids, coords, placed, strict=True) if ok]
    atomic_write(out_dir / JSON, json.dumps({**asdict(info), "points": points}, ensure_ascii=False).encode())
    atomic_write(out_dir / PNG, buf.getvalue())
    return info


#: The last map read per file: (mtime in ns, size) and its figures; a new map (atomic replace) changes the key.
_MAP_CACHE: dict[Path, tuple[tuple[int, int], CatalogueMap]] = {}


def read_catalogue_map(out_dir: Path) -> CatalogueMap | None:
    """The last map's figures, or ``None`` if none was built.

    The JSON (all films' coordinates, several hundred kB) is parsed once and
    kept in memory until the file's modification time or size changes, so the
    /map page costs one ``stat`` per request.
    """
    path = out_dir / JSON
    try:
        st = path.stat()
    except OSError:
        return None
    key = (st.st_mtime_ns, st.st_size)
    cached = _MAP_CACHE.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    info = CatalogueMap(**{k: data[k] for k in CatalogueMap.__dataclass_fields__})
    _MAP_CACHE[path] = (key, info)
    return info
