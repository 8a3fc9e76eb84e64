"""ItemFeatures: movie content as a sparse matrix aligned to an item vocabulary.

Blocks (each row L2-normalised within its block, then weighted):
``genre`` (one-hot), ``year`` (decade one-hot plus a standardised year),
``tag`` (TF-IDF over user tags, with HetRec weights when given), ``person``
(directors and cast, one-hot), ``text`` (TF-IDF over overview, tagline and
keywords), ``embedding`` (a sentence embedding of each film's text, computed
by :mod:`cinerec.nlp.embeddings` from :func:`item_texts` and passed in). :meth:`ItemFeatures.reduce` gives dense TruncatedSVD vectors and
the explained variance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from cinerec.data.vocab import Vocabulary

DEFAULT_WEIGHTS: dict[str, float] = {"genre": 1.0, "year": 0.5, "tag": 1.0, "person": 1.0, "text": 0.8, "embedding": 0.8}


@dataclass(frozen=True, eq=False)
class ItemFeatures:
    """Content features of items.

    Attributes:
        matrix: CSR ``(n_items, n_features)``.
        names: feature names, e.g. ``genre:Drama``, ``person:John Lasseter``, ``text:space``.
        item_vocab: the items the rows belong to.
        blocks: block name -> column slice.
    """

    matrix: sp.csr_matrix
    names: npt.NDArray[np.str_]
    item_vocab: Vocabulary
    blocks: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return int(self.matrix.shape[1])

    def has_content(self) -> npt.NDArray[np.bool_]:
        """Whether each item has any feature."""
        return np.asarray(np.diff(self.matrix.indptr) > 0, dtype=np.bool_)

    def align(self, item_vocab: Vocabulary) -> ItemFeatures:
        """The same features re-indexed to another item vocabulary (missing items get empty rows)."""
        if item_vocab == self.item_vocab:
            return self
        src = self.item_vocab.indices(item_vocab.ids)
        rows = np.flatnonzero(src >= 0)
        sel = sp.csr_matrix((np.ones(len(rows)), (rows, src[rows])), shape=(len(item_vocab), len(self.item_vocab)))
        return ItemFeatures(sp.csr_matrix(sel @ self.matrix), self.names, item_vocab, self.blocks)

    def reduce(self, n_components: int = 128, random_state: int = 42) -> tuple[npt.NDArray[np.float64], float]:
        """TruncatedSVD of the features: ``(vectors, explained variance ratio)``."""
        from sklearn.decomposition import TruncatedSVD

        k = max(1, min(n_components, self.n_features - 1, self.matrix.shape[0] - 1))
        svd = TruncatedSVD(n_components=k, random_state=random_state)
        vec = svd.fit_transform(self.matrix)
        return np.asarray(vec, dtype=np.float64), float(svd.explained_variance_ratio_.sum())


    def map_2d(self, n_components: int = 50, random_state: int = 42) -> tuple[npt.NDArray[np.float64], float, float]:
        """A 2-D map of the items: TruncatedSVD to ``n_components``, then PCA to two axes.

        Returns:
            ``(coordinates (n_items, 2), variance kept by the SVD, share of the
            SVD space's variance on the two PCA axes)``.
        """
        from sklearn.decomposition import PCA

        vec, svd_var = self.reduce(n_components, random_state)
        rows = self.has_content()
        coords = np.zeros((len(vec), 2))
        if rows.sum() >= 3:
            pca = PCA(n_components=2, random_state=random_state)
            coords[rows] = pca.fit_transform(vec[rows])
            return coords, svd_var, float(pca.explained_variance_ratio_.sum())
        return coords, svd_var, 0.0


def _normalise_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float64)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ m)


def _one_hot(vocab: Vocabulary, items: Any, values: Any, prefix: str, weights: Any = None) -> tuple[sp.csr_matrix, list[str]]:
    idx = vocab.indices(np.asarray(items))
    vals = np.asarray(values, dtype=object)
    keep = (idx >= 0) & pd.notna(vals)
    cats, col = np.unique(vals[keep].astype(str), return_inverse=True)
    w = np.ones(keep.sum()) if weights is None else np.asarray(weights, dtype=np.float64)[keep]
    m = sp.csr_matrix((w, (idx[keep], col)), shape=(len(vocab), len(cats)))
    m.sum_duplicates()
    return m, [f"{prefix}:{c}" for c in cats]


def _tfidf(vocab: Vocabulary, items: Any, docs: list[str], prefix: str, max_features: int) -> tuple[sp.csr_matrix, list[str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    idx = vocab.indices(np.asarray(items))
    keep = idx >= 0
    texts = [d for d, k in zip(docs, keep, strict=True) if k]
    if not any(t.strip() for t in texts):
        return sp.csr_matrix((len(vocab), 0)), []
    vec = TfidfVectorizer(max_features=max_features, stop_words="english", min_df=2, sublinear_tf=True)
    try:
        x = vec.fit_transform(texts)
    except ValueError:  # empty vocabulary after pruning
        return sp.csr_matrix((len(vocab), 0)), []
    rows = idx[keep]
    sel = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(len(vocab), len(rows)))
    return sp.csr_matrix(sel @ x), [f"{prefix}:{t}" for t in vec.get_feature_names_out()]


def build_item_features(
    item_vocab: Vocabulary,
    *,
    movies: pd.DataFrame | None = None,
    tags: pd.DataFrame | None = None,
    people: pd.DataFrame | None = None,
    texts: pd.DataFrame | None = None,
    weights: Mapping[str, float] | None = None,
    max_text_features: int = 20000,
    embeddings: tuple[npt.ArrayLike, npt.NDArray[np.floating[Any]]] | None = None,
) -> ItemFeatures:
    """Assemble item features from whatever metadata is available.

    Args:
        item_vocab: rows of the result (raw ids as in the frames' ``item`` column).
        movies: item, genres (list), year.
        tags: item, tag[, weight]; repeated tags add up.
        people: item, name (directors and cast).
        texts: item and any of overview, tagline, keywords (list).
        weights: block weights (defaults :data:`DEFAULT_WEIGHTS`).
        max_text_features: vocabulary cap of each TF-IDF block.
        embeddings: ``(items, vectors)``: a dense text embedding per item.
    """
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    parts: list[tuple[str, sp.csr_matrix, list[str]]] = []
    if movies is not None and len(movies):
        g = movies[["item", "genres"]].explode("genres").dropna()
        parts.append(("genre", *_one_hot(item_vocab, g["item"], g["genres"], "genre")))
        y = movies[["item", "year"]].dropna()
        if len(y):
            years = y["year"].astype(float).to_numpy()
            dec, names = _one_hot(item_vocab, y["item"], (years // 10 * 10).astype(int).astype(str), "decade")
            z = (years - years.mean()) / (years.std() or 1.0)
            zcol, _ = _one_hot(item_vocab, y["item"], np.full(len(y), "z"), "year", weights=z)
            parts.append(("year", sp.hstack([dec, zcol]).tocsr(), [*names, "year:standardised"]))
    if tags is not None and len(tags):
        t = tags.assign(tag=tags["tag"].astype(str).str.lower().str.strip())
        docs = t.groupby("item")["tag"].apply(lambda s: " ".join(s.str.replace(" ", "_"))).reset_index()
        parts.append(("tag", *_tfidf(item_vocab, docs["item"], docs["tag"].tolist(), "tag", max_text_features)))
    if people is not None and len(people):
        parts.append(("person", *_one_hot(item_vocab, people["item"], people["name"], "person")))
    if texts is not None and len(texts):
        def doc(r: pd.Series) -> str:
            kw = " ".join(r["keywords"]) if isinstance(r.get("keywords"), list) else ""
            return " ".join(str(r.get(c) or "") for c in ("overview", "tagline")) + " " + kw

        parts.append(("text", *_tfidf(item_vocab, texts["item"], [doc(r) for _, r in texts.iterrows()], "text", max_text_features)))
    if embeddings is not None and len(embeddings[1]):
        idx = item_vocab.indices(np.asarray(embeddings[0]))
        vec = np.asarray(embeddings[1], dtype=np.float64)
        dense = np.zeros((len(item_vocab), vec.shape[1]))
        dense[idx[idx >= 0]] = vec[idx >= 0]
        parts.append(("embedding", sp.csr_matrix(dense), [f"embedding:{j}" for j in range(vec.shape[1])]))
    mats, names, blocks, start = [], [], {}, 0
    for name, m, n in parts:
        if m.shape[1] == 0:
            continue
        mats.append(_normalise_rows(m) * w.get(name, 1.0))
        names += n
        blocks[name] = (start, start + m.shape[1])
        start += m.shape[1]
    matrix = sp.hstack(mats).tocsr() if mats else sp.csr_matrix((len(item_vocab), 0))
    return ItemFeatures(matrix, np.asarray(names, dtype=str), item_vocab, blocks)


def item_texts(texts: pd.DataFrame | None, tags: pd.DataFrame | None) -> pd.DataFrame:
    """One text per item for sentence embeddings: overview, tagline, keywords and user tags.

    Returns:
        Columns ``item``, ``text`` (items with no text left out).
    """
    parts: list[pd.DataFrame] = []
    if texts is not None and len(texts):
        def doc(r: pd.Series) -> str:
            kw = ", ".join(r["keywords"]) if isinstance(r.get("keywords"), list) else ""
            return " ".join(str(r.get(c) or "") for c in ("overview", "tagline")).strip() + (f" Keywords: {kw}." if kw else "")

        parts.append(pd.DataFrame({"item": texts["item"].to_numpy(), "text": [doc(r) for _, r in texts.iterrows()]}))
    if tags is not None and len(tags):
        t = tags.groupby("item")["tag"].apply(lambda s: ", ".join(dict.fromkeys(s.astype(str).str.strip())))
        parts.append(pd.DataFrame({"item": t.index.to_numpy(), "text": "Tags: " + t.to_numpy().astype(object) + "."}))
    if not parts:
        return pd.DataFrame({"item": [], "text": []})
    out = pd.concat(parts).groupby("item", sort=True)["text"].apply(" ".join).reset_index()
    return out[out["text"].str.strip() != ""].reset_index(drop=True)


def dataset_features(
    item_vocab: Vocabulary,
    movies: pd.DataFrame | None,
    tags: pd.DataFrame | None,
    metadata: list[Any] | None = None,
    weights: Mapping[str, float] | None = None,
    text_encoder: Callable[[list[str]], npt.NDArray[np.floating[Any]]] | None = None,
) -> ItemFeatures:
    """Features for a MovieLens-style dataset plus optional :class:`~cinerec.data.readers.metadata.Metadata`.

    ``movielens``-keyed metadata (HetRec) joins on the item id; ``tmdb``-keyed
    metadata joins through the ``tmdb_id`` column of ``movies``. With
    ``text_encoder`` (texts -> vectors, e.g. ``cinerec.nlp.embeddings.encode``)
    an ``embedding`` block of :func:`item_texts` is added.
    """
    people, texts, all_tags = [], [], [] if tags is None else [tags[["item", "tag"]]]
    tmdb_map = None
    if movies is not None and "tmdb_id" in movies:
        m = movies[["item", "tmdb_id"]].dropna()
        tmdb_map = dict(zip(m["tmdb_id"].astype(np.int64), m["item"], strict=True))
    def rekey(frame: pd.DataFrame | None, key: str) -> pd.DataFrame | None:
        if frame is None or key == "movielens":
            return frame
        if tmdb_map is None:
            return None
        f = frame.assign(item=frame["item"].map(tmdb_map))
        return f[f["item"].notna()]

    for md in metadata or []:
        if (d := rekey(md.directors, md.key)) is not None:
            people.append(d[["item", "name"]])
        if (c := rekey(md.cast, md.key)) is not None:
            people.append(c[["item", "name"]])
        if (t := rekey(md.tags, md.key)) is not None:
            all_tags.append(t)
        if (x := rekey(md.texts, md.key)) is not None:
            texts.append(x)
    tag_frame = pd.concat(all_tags, ignore_index=True) if all_tags else None
    text_frame = pd.concat(texts, ignore_index=True) if texts else None
    embeddings = None
    if text_encoder is not None:
        docs = item_texts(text_frame, tag_frame)
        embeddings = (docs["item"].to_numpy(), text_encoder(docs["text"].tolist()))
    return build_item_features(
        item_vocab, movies=movies, tags=tag_frame,
        people=pd.concat(people, ignore_index=True) if people else None,
        texts=text_frame, weights=weights, embeddings=embeddings,
    )
