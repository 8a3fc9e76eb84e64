"""Train and measure the sentiment models on labelled corpora.

One protocol for every corpus: a seeded, stratified held-out split (by corpus
and label) of the pooled corpora of a language; the model is fitted on the
training part and measured on each corpus' held-out part next to the lexicon
baseline, then (by default) refitted on everything and saved with its figures.

Every figure comes from the model's calibrated probabilities at 0.5: accuracy,
macro-F1, ROC AUC and the expected calibration error before and after Platt
scaling. Calibration is then checked where it matters: on the held-out texts
resampled to another class prior (by default 87% positive, as a
positive-heavy review site), the model must beat always-positive once the
batch's prior is estimated by EM (see :mod:`cinerec.nlp.calibration`).
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
from cinerec.nlp.calibration import estimate_prior, expected_calibration_error, sigmoid
from cinerec.nlp.embeddings import reuse_embeddings
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
    """Held-out figures of one corpus.

    Attributes:
        accuracy: of the calibrated probability at 0.5.
        f1: macro-F1 (the mean of the positive and negative classes' F1).
        auc: ROC AUC of the model's scores (threshold-free ranking quality).
        ece_raw: expected calibration error of the logistic regression's own probabilities.
        ece: expected calibration error after Platt scaling.
        majority: accuracy of always answering the corpus' majority class.
    """

    corpus: str
    n_test: int
    accuracy: float
    f1: float
    auc: float
    ece_raw: float
    ece: float
    lexicon_accuracy: float
    lexicon_f1: float
    majority: float


@dataclass
class PriorShiftCheck:
    """Calibration on the held-out texts resampled to another positive share.

    ``*_raw``: the logistic regression's own probabilities; ``*_calibrated``:
    after Platt scaling (training prior); ``*_adjusted``: moved to the prior
    that EM estimated on the slice. ``always_positive`` is the accuracy of
    answering positive for every text, i.e. the slice's positive share.
    """

    prior: float
    n: int
    estimated_prior: float
    auc: float
    always_positive: float
    accuracy_raw: float
    accuracy_calibrated: float
    accuracy_adjusted: float
    f1_raw: float
    f1_calibrated: float
    f1_adjusted: float
    ece_raw: float
    ece_calibrated: float
    ece_adjusted: float


@dataclass
class SentimentReport:
    """What :func:`train_sentiment` measured."""

    language: str
    n_train: int
    scores: list[CorpusScore] = field(default_factory=list)
    prior_shift: PriorShiftCheck | None = None
    fit_seconds: float = 0.0
    path: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (kept in the artefact's manifest)."""
        return {"language": self.language, "n_train": self.n_train, "fit_seconds": round(self.fit_seconds, 1),
                "corpora": {s.corpus: {k: v for k, v in vars(s).items() if k != "corpus"} for s in self.scores},
                "prior_shift": None if self.prior_shift is None else vars(self.prior_shift)}


def _f1(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return round(float(f1_score(y, p, average="macro")), 4)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(y, score)), 4) if len(np.unique(y)) == 2 else float("nan")


def _acc(y: np.ndarray, p: np.ndarray) -> float:
    return round(float(((p > 0.5).astype(np.int64) == y).mean()), 4)


def resample_to_prior(labels: np.ndarray, prior: float, random_state: int = 42) -> np.ndarray:
    """Indices of a subsample of ``labels`` whose positive share is ``prior``, dropping as few rows as possible.

    Raises:
        InvalidParameter: ``prior`` outside ``(0, 1)`` or a class missing.
    """
    if not 0 < prior < 1:
        raise InvalidParameter(f"the check prior must be strictly between 0 and 1, not {prior}")
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    if len(pos) == 0 or len(neg) == 0:
        raise InvalidParameter("resampling to a prior needs both classes")
    rng = np.random.default_rng(random_state)
    n_neg = round(len(pos) * (1 - prior) / prior)
    if n_neg <= len(neg):
        keep_pos, keep_neg = pos, rng.choice(neg, n_neg, replace=False)
    else:
        keep_pos, keep_neg = rng.choice(pos, round(len(neg) * prior / (1 - prior)), replace=False), neg
    return np.sort(np.concatenate([keep_pos, keep_neg]))


def check_prior_shift(model: SentimentModel, texts: Sequence[str], labels: np.ndarray, prior: float,
                      random_state: int = 42) -> PriorShiftCheck:
    """Measure ``model`` on ``texts`` resampled to positive share ``prior``, before and after calibration and EM.

    Raises:
        InvalidParameter: see :func:`resample_to_prior`; a model saved before calibration.
    """
    idx = resample_to_prior(labels, prior, random_state)
    y = labels[idx]
    z = model.decision_function([texts[i] for i in idx])
    raw = sigmoid(z)
    a, b = model.calibration_
    cal = sigmoid(a * z + b)
    if model.prior_ is None:
        raise InvalidParameter("the model has no training prior; refit it")
    estimated, adjusted = estimate_prior(cal, model.prior_)
    return PriorShiftCheck(
        prior=round(float(y.mean()), 4), n=len(y), estimated_prior=round(estimated, 4), auc=_auc(y, z),
        always_positive=round(float(y.mean()), 4), accuracy_raw=_acc(y, raw), accuracy_calibrated=_acc(y, cal),
        accuracy_adjusted=_acc(y, adjusted), f1_raw=_f1(y, (raw > 0.5).astype(np.int64)),
        f1_calibrated=_f1(y, (cal > 0.5).astype(np.int64)),
        f1_adjusted=_f1(y, (adjusted > 0.5).astype(np.int64)),
        ece_raw=round(expected_calibration_error(raw, y), 4), ece_calibrated=round(expected_calibration_error(cal, y), 4),
        ece_adjusted=round(expected_calibration_error(adjusted, y), 4))


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


@reuse_embeddings()  # the held-out texts are encoded to measure, to check the prior and to refit
def train_sentiment(
    corpora: Sequence[Path],
    language: Language,
    *,
    out: Path | None = None,
    holdout: float = 0.2,
    refit: bool = True,
    random_state: int = 42,
    params: dict[str, Any] | None = None,
    check_prior: float | None = 0.87,
) -> tuple[SentimentModel, SentimentReport]:
    """Fit, measure on a held-out split, optionally refit on all data, and save.

    Args:
        corpora: corpus folders (see :data:`~cinerec.data.readers.reviews.SENTIMENT_CORPORA`).
        language: ``en`` or ``zh``.
        out: where to write the ``.npz`` (nothing written when ``None``).
        holdout: held-out share, stratified by corpus and label.
        refit: after measuring, refit on all rows before saving.
        params: overrides of the language's :data:`RECIPES` entry.
        check_prior: positive share of the prior-shift check on the pooled held-out
            texts (:func:`check_prior_shift`); ``None`` skips it.

    Each text is embedded once (:func:`~cinerec.nlp.embeddings.reuse_embeddings`) however many of the fits,
    measures and the refit use it.
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
        z = model.decision_function(part["text"].tolist())
        a, b = model.calibration_
        proba = sigmoid(a * z + b)
        pred = (proba > 0.5).astype(np.int64)
        lex = np.array([lexicon_score(t, language) > 0 for t in part["text"]], dtype=np.int64)
        report.scores.append(CorpusScore(
            str(corpus), len(part), round(float((pred == y).mean()), 4), _f1(y, pred), _auc(y, z),
            round(expected_calibration_error(sigmoid(z), y), 4), round(expected_calibration_error(proba, y), 4),
            round(float((lex == y).mean()), 4), _f1(y, lex),
            round(float(max(y.mean(), 1 - y.mean())), 4)))
    if check_prior is not None:
        report.prior_shift = check_prior_shift(model, test["text"].tolist(), test["label"].to_numpy(), check_prior,
                                               random_state)
    if refit:
        model = SentimentModel(language=language, **recipe).fit(df["text"].tolist(), df["label"])
    if out is not None:
        report.path = model.save(out, metrics=report.as_dict())
    return model, report
