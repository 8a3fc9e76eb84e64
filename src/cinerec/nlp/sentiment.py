"""Review sentiment in English and Chinese.

Two layers:

- :class:`SentimentModel`, a light trained classifier per language: TF-IDF
  word and character n-grams (plus, for English, an all-MiniLM-L6-v2 sentence
  embedding) into a logistic regression whose probabilities are calibrated
  (Platt scaling on out-of-fold logits) and can be moved to the class prior
  of the texts being scored (see :mod:`cinerec.nlp.calibration`). Trained by
  ``cinerec reviews train-sentiment`` on a labelled corpus and saved as one
  ``.npz`` (no pickle).
- A lexicon fallback when no trained model is installed: VADER for English
  (it also reads emoji), SnowNLP for Chinese.

:class:`SentimentAnalyzer` picks the language (:func:`~cinerec.nlp.lang.detect_language`)
and the best available layer, and returns a score in ``[-1, 1]``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Self, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cinerec.errors import DataFormatError, InvalidParameter, NotFittedError
from cinerec.fileio import atomic_open
from cinerec.nlp.lang import Language, detect_language

log = logging.getLogger(__name__)

#: Longest text analysed, in characters; longer input is rejected, not truncated.
MAX_TEXT_CHARS = 50_000
#: |score| below this is neutral.
NEUTRAL_BAND = 0.05
FORMAT_VERSION = 1

Label = Literal["positive", "negative", "neutral"]
Method = Literal["model", "lexicon", "none"]
#: The positive share of the texts being scored: ``None`` keeps the training
#: corpus' share, a number in ``(0, 1)`` is a known share, ``"auto"`` estimates
#: it on the batch by EM (needs a batch of tens of texts from one population).
Prior: TypeAlias = float | Literal["auto"] | None
_WS = re.compile(r"\s+")


def check_text(text: str) -> str:
    """Validate review text: a ``str`` within :data:`MAX_TEXT_CHARS`; returns it with whitespace collapsed.

    Raises:
        InvalidParameter: not a string, or too long (the message gives the limit).
    """
    if not isinstance(text, str):
        raise InvalidParameter(f"review text must be a string, not {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidParameter(f"review text is {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}. "
                               "Shorten it or split it into several reviews.")
    return _WS.sub(" ", text).strip()


@dataclass(frozen=True)
class Sentiment:
    """The sentiment of one text.

    Attributes:
        score: from -1 (negative) to 1 (positive).
        label: ``positive``, ``negative`` or ``neutral`` (``|score| <`` :data:`NEUTRAL_BAND`).
        language: ``en``, ``zh`` or ``und``.
        method: ``model`` (trained classifier), ``lexicon`` (VADER/SnowNLP) or ``none`` (no text).
    """

    score: float
    label: Label
    language: Language
    method: Method

    @classmethod
    def of(cls, score: float, language: Language, method: Method) -> Sentiment:
        """Build from a score, deriving the label."""
        score = float(np.clip(score, -1.0, 1.0))
        label: Label = "neutral" if abs(score) < NEUTRAL_BAND else ("positive" if score > 0 else "negative")
        return cls(round(score, 4), label, language, method)


class SentimentModel:
    """TF-IDF n-grams (+ optional sentence embedding) -> logistic regression for one language.

    Args:
        language: ``en`` or ``zh``.
        word_ngrams: n-gram range over words; ``None`` for none (Chinese has no spaces).
        char_ngrams: n-gram range over characters (within word boundaries for English).
        encoder: ``minilm`` to append a sentence embedding (English), or ``None``.
        embedding_weight: scale of the embedding block against the TF-IDF blocks.
        C: inverse L2 regularisation of the logistic regression.
        min_df: drop n-grams seen in fewer training texts (keeps the artefact small).
        calibration_folds: folds of the out-of-fold logits that Platt scaling is
            fitted on; 0 leaves the logistic regression's own probabilities.
    """

    def __init__(self, language: Language = "en", word_ngrams: tuple[int, int] | None = (1, 2),
                 char_ngrams: tuple[int, int] | None = (2, 5), encoder: str | None = None,
                 embedding_weight: float = 1.0, C: float = 4.0, min_df: int = 2, calibration_folds: int = 5) -> None:
        if language not in ("en", "zh"):
            raise InvalidParameter(f"language must be 'en' or 'zh', not {language!r}")
        if word_ngrams is None and char_ngrams is None:
            raise InvalidParameter("a sentiment model needs word or character n-grams")
        if calibration_folds == 1 or calibration_folds < 0:
            raise InvalidParameter(f"calibration_folds must be 0 (off) or at least 2, not {calibration_folds}")
        self.language = language
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.encoder = encoder
        self.embedding_weight = embedding_weight
        self.C = C
        self.min_df = min_df
        self.calibration_folds = calibration_folds

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {"language": self.language, "word_ngrams": self.word_ngrams, "char_ngrams": self.char_ngrams,
                "encoder": self.encoder, "embedding_weight": self.embedding_weight, "C": self.C,
                "min_df": self.min_df, "calibration_folds": self.calibration_folds}

    def _vectorizers(self, vocabularies: list[list[str]] | None = None) -> list[Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        specs = []
        if self.word_ngrams is not None:
            specs.append({"analyzer": "word", "ngram_range": tuple(self.word_ngrams),
                          "token_pattern": r"(?u)\b\w+\b|[!?]"})
        if self.char_ngrams is not None:
            analyzer = "char_wb" if self.language == "en" else "char"
            specs.append({"analyzer": analyzer, "ngram_range": tuple(self.char_ngrams)})
        return [TfidfVectorizer(sublinear_tf=True, min_df=self.min_df if vocabularies is None else 1,
                                vocabulary=None if vocabularies is None else vocabularies[i], dtype=np.float32, **spec)
                for i, spec in enumerate(specs)]

    def _features(self, texts: Sequence[str], fit: bool = False) -> sp.csr_matrix:
        texts = [_WS.sub(" ", t).strip() for t in texts]
        blocks = [v.fit_transform(texts) if fit else v.transform(texts) for v in self.vectorizers_]
        if self.encoder:
            from cinerec.nlp.embeddings import encode

            blocks.append(sp.csr_matrix(encode(texts, self.encoder) * self.embedding_weight))
        return sp.hstack(blocks).tocsr()

    def _classifier(self) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.C, max_iter=2000, solver="liblinear")

    def fit(self, texts: Sequence[str], labels: npt.ArrayLike) -> Self:
        """Fit on texts with 0/1 labels (1 = positive), then calibrate.

        Platt scaling is fitted on out-of-fold logits (``calibration_folds``
        stratified folds over the same features), so the probabilities are
        calibrated for texts the model has not seen, under the training
        corpus' positive share (kept as ``prior_``).

        Raises:
            InvalidParameter: labels that are not 0/1 for every text, or one class only.
        """
        from sklearn.model_selection import StratifiedKFold

        from cinerec.nlp.calibration import fit_platt

        y = np.asarray(labels, dtype=np.int64)
        if len(texts) != len(y) or len(y) == 0 or set(np.unique(y)) != {0, 1}:
            raise InvalidParameter("training needs as many 0/1 labels as texts, with both classes present")
        self.vectorizers_ = self._vectorizers()
        x = self._features(texts, fit=True)
        clf = self._classifier().fit(x, y)
        self.coef_ = clf.coef_.ravel().astype(np.float32)
        self.intercept_ = float(clf.intercept_[0])
        self.prior_: float | None = float(y.mean())
        self.calibration_ = (1.0, 0.0)
        if self.calibration_folds and min(np.bincount(y)) >= self.calibration_folds:
            oof = np.empty(len(y), dtype=np.float64)
            folds = StratifiedKFold(self.calibration_folds, shuffle=True, random_state=0)
            for fit_idx, held_idx in folds.split(np.zeros(len(y)), y):
                oof[held_idx] = self._classifier().fit(x[fit_idx], y[fit_idx]).decision_function(x[held_idx])
            self.calibration_ = fit_platt(oof, y)
        self.metrics_: dict[str, Any] = {}
        return self

    def decision_function(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """The logit of being positive for each text."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("SentimentModel is not fitted; train it with `cinerec nlp train-sentiment`")
        x = self._features(texts)
        return np.asarray(x @ self.coef_, dtype=np.float64) + self.intercept_

    def predict_proba(self, texts: Sequence[str], prior: Prior = None) -> npt.NDArray[np.float64]:
        """Calibrated probability that each text is positive.

        Args:
            prior: the positive share of the texts being scored (see :data:`Prior`):
                ``None`` keeps the training corpus' share; a number moves the
                probabilities to it by Bayes' rule; ``"auto"`` estimates it on
                these texts by EM (Saerens et al. 2002) first.

        Raises:
            NotFittedError: before :meth:`fit`.
            InvalidParameter: a prior outside ``(0, 1)``, or a prior for a model saved before calibration.
        """
        from cinerec.nlp.calibration import estimate_prior, shift_prior, sigmoid

        z = self.decision_function(texts)
        a, b = self.calibration_
        p = sigmoid(a * z + b)
        if prior is None or len(p) == 0:
            return p
        if self.prior_ is None:
            raise InvalidParameter("this sentiment model was saved before calibration; retrain it with "
                                   "`cinerec reviews train-sentiment` to score with a prior")
        if prior == "auto":
            return estimate_prior(p, self.prior_)[1]
        return shift_prior(p, self.prior_, float(prior))

    def predict(self, texts: Sequence[str], prior: Prior = None, threshold: float = 0.5) -> npt.NDArray[np.int64]:
        """0/1 labels: calibrated probability (under ``prior``, see :meth:`predict_proba`) above ``threshold``."""
        return (self.predict_proba(texts, prior) > threshold).astype(np.int64)

    def save(self, path: Path | str, metrics: dict[str, Any] | None = None) -> Path:
        """Write one ``.npz`` (``allow_pickle=False`` readable), atomically.

        Args:
            metrics: held-out figures to keep in the artefact's manifest.
        """
        if not hasattr(self, "coef_"):
            raise NotFittedError("SentimentModel is not fitted")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        manifest = {"format": FORMAT_VERSION, "kind": "sentiment", "params": self.get_params(),
                    "intercept": self.intercept_, "calibration": list(self.calibration_), "prior": self.prior_,
                    "metrics": metrics or {}}
        arrays: dict[str, npt.NDArray[Any]] = {
            "manifest": np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8),
            "coef": self.coef_,
        }
        for i, v in enumerate(self.vectorizers_):
            terms = v.get_feature_names_out()
            if any("\n" in t for t in terms):
                raise ValueError("n-gram with a newline; texts are whitespace-normalised first")
            arrays[f"terms{i}"] = np.frombuffer("\n".join(terms).encode(), dtype=np.uint8)
            arrays[f"idf{i}"] = v.idf_.astype(np.float32)
        with atomic_open(path) as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
        return path

    @classmethod
    def load(cls, path: Path | str) -> SentimentModel:
        """Read a model written by :meth:`save`.

        Raises:
            DataFormatError: not a sentiment artefact, or from an incompatible version.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            manifest = json.loads(arrays["manifest"].tobytes().decode())
        except (OSError, ValueError, KeyError) as exc:
            raise DataFormatError(f"{path}: not a cinerec sentiment model ({exc})", path=str(path)) from exc
        if manifest.get("kind") != "sentiment" or manifest.get("format") != FORMAT_VERSION:
            raise DataFormatError(f"{path}: sentiment model format {manifest.get('format')!r} is not supported "
                                  f"(expected {FORMAT_VERSION}); retrain it", path=str(path))
        p = manifest["params"]
        model = cls(**{**p, "word_ngrams": tuple(p["word_ngrams"]) if p["word_ngrams"] else None,
                       "char_ngrams": tuple(p["char_ngrams"]) if p["char_ngrams"] else None})
        n = sum(1 for k in arrays if k.startswith("terms"))
        vocabularies = [arrays[f"terms{i}"].tobytes().decode().split("\n") for i in range(n)]
        model.vectorizers_ = model._vectorizers(vocabularies)
        for i, v in enumerate(model.vectorizers_):
            v.idf_ = arrays[f"idf{i}"].astype(np.float64)
        model.coef_ = arrays["coef"].astype(np.float32)
        model.intercept_ = float(manifest["intercept"])
        # artefacts written before calibration have neither: raw probabilities, no prior shift
        a, b = manifest.get("calibration") or (1.0, 0.0)
        model.calibration_ = (float(a), float(b))
        model.prior_ = None if manifest.get("prior") is None else float(manifest["prior"])
        model.metrics_ = dict(manifest.get("metrics", {}))
        return model


@lru_cache(maxsize=1)
def _vader() -> Any:
    """VADER's analyser, built once per process (it reads its lexicon files on construction)."""
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as exc:
        raise InvalidParameter("English sentiment needs the nlp extra: pip install 'cinerec[nlp]'") from exc
    return SentimentIntensityAnalyzer()


def lexicon_score(text: str, language: Language) -> float:
    """Lexicon sentiment in ``[-1, 1]``: VADER's compound (English, emoji) or SnowNLP (Chinese)."""
    if language == "zh":
        try:
            from snownlp import SnowNLP
        except ImportError as exc:
            raise InvalidParameter("Chinese sentiment needs the nlp extra: pip install 'cinerec[nlp]'") from exc
        return 2.0 * float(SnowNLP(text).sentiments) - 1.0
    return float(_vader().polarity_scores(text)["compound"])


class SentimentAnalyzer:
    """Language detection + the best available sentiment layer for each text.

    Args:
        models_dir: where trained models live (``sentiment-en.npz``,
            ``sentiment-zh.npz``); a missing model means the lexicon is used.
    """

    def __init__(self, models_dir: Path | str | None = None) -> None:
        self.models_dir = Path(models_dir) if models_dir else None
        self._models: dict[str, SentimentModel | None] = {}

    @staticmethod
    def model_path(models_dir: Path | str, language: str) -> Path:
        """Where the trained model for ``language`` is kept."""
        return Path(models_dir) / f"sentiment-{language}.npz"

    def model(self, language: str) -> SentimentModel | None:
        """The trained model for ``language``, or ``None`` (loaded once)."""
        if language not in self._models:
            path = self.model_path(self.models_dir, language) if self.models_dir else None
            self._models[language] = SentimentModel.load(path) if path and path.exists() else None
        return self._models[language]

    def analyze(self, text: str) -> Sentiment:
        """Sentiment of one text (see :meth:`analyze_many`)."""
        return self.analyze_many([text])[0]

    def analyze_many(self, texts: Sequence[str], prior: Prior = None) -> list[Sentiment]:
        """Sentiment of each text.

        Empty text is neutral with method ``none``; emoji-only text goes to
        VADER, which knows emoji; mixed text is treated as its dominant
        language. A trained model's score is ``2p - 1`` for its calibrated
        probability ``p``.

        Args:
            prior: the positive share of these texts for the trained models
                (see :data:`Prior`); ``"auto"`` estimates it per language on
                this batch, so pass a batch from one population (one film's
                reviews, one site's import). The lexicons ignore it.

        Raises:
            InvalidParameter: a text that is not a string or is over :data:`MAX_TEXT_CHARS`.
        """
        clean = [check_text(t) for t in texts]
        langs = [detect_language(t) for t in clean]
        out: list[Sentiment | None] = [None] * len(clean)
        for lang in ("en", "zh"):
            idx = [i for i, lg in enumerate(langs) if lg == lang]
            if not idx:
                continue
            model = self.model(lang)
            if model is not None:
                p = model.predict_proba([clean[i] for i in idx], prior)
                for i, pi in zip(idx, p, strict=True):
                    out[i] = Sentiment.of(2.0 * pi - 1.0, lang, "model")
            else:
                for i in idx:
                    out[i] = Sentiment.of(self._lexicon(clean[i], lang), lang, "lexicon")
        for i, t in enumerate(clean):
            if out[i] is None:
                out[i] = (Sentiment.of(self._lexicon(t, "en"), "und", "lexicon") if t
                          else Sentiment.of(0.0, "und", "none"))
        return [s for s in out if s is not None]

    def _lexicon(self, text: str, language: Language) -> float:
        return lexicon_score(text, language)
