"""Train and measure the sentiment models on labelled corpora.

One protocol for every corpus: a seeded, stratified held-out split (by corpus
and label) of the pooled corpora of a language; the model is fitted on the
training part and measured on each corpus' held-out part next to the lexicon
baseline, then (by default) refitted on everything and saved with its figures.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cinerec.data.readers.reviews import SENTIMENT_CORPORA, read_sentiment_corpus
from cinerec.errors import InvalidParameter
from cinerec.nlp.lang import Language
from cinerec.nlp.sentiment import SentimentModel, lexicon_score

#: The recipe per language, chosen by 3-fold CV on the training part only
#: (see the closing note of the NLP issue for the grid).
RECIPES: dict[str, dict[str, Any]] = {
    "en": {"word_ngrams": (1, 2), "char_ngrams": (2, 5), "encoder": "minilm", "embedding_weight": 1.0, "C": 1.0},
    "zh": {"word_ngrams": None, "char_ngrams": (1, 3), "encoder": None, "C": 8.0},
}


@dataclass
class CorpusScore:
    """Held-out figures of one corpus."""

    corpus: str
    n_test: int
    accuracy: float
    f1: float
    lexicon_accuracy: float
    lexicon_f1: float
    majority: float


@dataclass
class SentimentReport:
    """What :func:`train_sentiment` measured."""

    language: str
    n_train: int
    scores: list[CorpusScore] = field(default_factory=list)
    fit_seconds: float = 0.0
    path: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (kept in the artefact's manifest)."""
        return {"language": self.language, "n_train": self.n_train, "fit_seconds": round(self.fit_seconds, 1),
                "corpora": {s.corpus: {k: v for k, v in vars(s).items() if k != "corpus"} for s in self.scores}}


def _f1(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return round(float(f1_score(y, p, average="macro")), 4)


def load_corpora(folders: Sequence[Path], language: Language) -> pd.DataFrame:
    """Pool the labelled corpora of ``language`` found in ``folders``.

    Raises:
        InvalidParameter: a folder holds another language's corpus, or none is given.
    """
    frames = []
    for folder in folders:
        lang = SENTIMENT_CORPORA.get(Path(folder).name)
        if lang is not None and lang != language:
            raise InvalidParameter(f"{folder} is a {lang} corpus, not {language}")
        frames.append(read_sentiment_corpus(folder))
    if not frames:
        raise InvalidParameter(f"no {language} corpus given")
    return pd.concat(frames, ignore_index=True)


def default_corpora(data_dir: Path, language: Language) -> list[Path]:
    """The known corpora of ``language`` under ``data_dir/reviews`` (or ``data_dir``)."""
    out = []
    for name, lang in SENTIMENT_CORPORA.items():
        for base in (data_dir / "reviews", data_dir):
            if lang == language and (base / name).is_dir():
                out.append(base / name)
                break
    return out


def train_sentiment(
    corpora: Sequence[Path],
    language: Language,
    *,
    out: Path | None = None,
    holdout: float = 0.2,
    refit: bool = True,
    random_state: int = 42,
    params: dict[str, Any] | None = None,
) -> tuple[SentimentModel, SentimentReport]:
    """Fit, measure on a held-out split, optionally refit on all data, and save.

    Args:
        corpora: corpus folders (see :data:`~cinerec.data.readers.reviews.SENTIMENT_CORPORA`).
        language: ``en`` or ``zh``.
        out: where to write the ``.npz`` (nothing written when ``None``).
        holdout: held-out share, stratified by corpus and label.
        refit: after measuring, refit on all rows before saving.
        params: overrides of the language's :data:`RECIPES` entry.
    """
    from sklearn.model_selection import train_test_split

    if not 0 < holdout < 1:
        raise InvalidParameter("holdout must be between 0 and 1")
    df = load_corpora(corpora, language)
    recipe = {**RECIPES[language], **(params or {})}
    train, test = train_test_split(df, test_size=holdout, random_state=random_state,
                                   stratify=df["corpus"] + ":" + df["label"].astype(str))
    t0 = time.perf_counter()
    model = SentimentModel(language=language, **recipe).fit(train["text"].tolist(), train["label"])
    report = SentimentReport(language, len(train), fit_seconds=time.perf_counter() - t0)
    for corpus, part in test.groupby("corpus", sort=True):
        y = part["label"].to_numpy()
        pred = model.predict(part["text"].tolist())
        lex = np.array([lexicon_score(t, language) > 0 for t in part["text"]], dtype=np.int64)
        report.scores.append(CorpusScore(
            str(corpus), len(part), round(float((pred == y).mean()), 4), _f1(y, pred),
            round(float((lex == y).mean()), 4), _f1(y, lex),
            round(float(max(y.mean(), 1 - y.mean())), 4)))
    if refit:
        model = SentimentModel(language=language, **recipe).fit(df["text"].tolist(), df["label"])
    if out is not None:
        report.path = model.save(out, metrics=report.as_dict())
    return model, report
