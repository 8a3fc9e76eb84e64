"""Keywords per film from its reviews.

Each review is tokenised in its own language (English: words without stop
words; Chinese: jieba words of two or more characters), each film becomes one
document whose term frequency is *the number of its reviews that use the term*
(so one verbose reviewer cannot dominate), and terms are ranked by sublinear
TF-IDF across films: a film's keywords are what its audience says about it
and not about every film.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TypeVar

import numpy as np

from cinerec.errors import InvalidParameter
from cinerec.nlp.lang import detect_language

K = TypeVar("K", bound=Hashable)

_EN_WORD = re.compile(r"[a-z][a-z'\-]+[a-z]|[a-z]{2}")
_HAN = re.compile(r"^[\u3400-\u9fff]+$")
#: Chinese function words and review boilerplate that jieba keeps as words.
ZH_STOPWORDS = frozenset(
    ["我们", "你们", "他们", "她们", "它们", "自己", "什么", "怎么", "这个", "那个", "这些", "那些", "这样", "那样", "这么", "那么", "就是", "还是", "但是", "因为", "所以", "如果", "虽然", "而且", "然后", "可以", "没有", "不是", "一个", "一部", "一些", "已经", "真的", "还有", "只是", "觉得", "感觉", "时候", "知道", "电影", "影片", "片子", "这部", "那部", "部分", "看到", "看过", "看了", "出来", "起来", "不过", "其实", "可能", "一样", "一直", "不会", "不能", "非常", "比较", "有点", "最后", "之后", "以后", "之前", "以前", "现在", "还是", "或者", "而是", "其他", "这里", "那里", "哪里", "为什么", "只有", "的话", "一下", "一种", "东西", "事情"])
_EN_EXTRA = frozenset(["movie", "movies", "film", "films", "just", "like", "really", "don't", "didn't", "doesn't", "isn't", "it's", "i'm", "i've", "that's", "there's", "can't", "won't", "one", "make", "makes", "made"])


@lru_cache(maxsize=1)
def _en_stopwords() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | _EN_EXTRA


@lru_cache(maxsize=1)
def _jieba() -> object:
    try:
        import jieba
    except ImportError as exc:
        raise InvalidParameter("Chinese keywords need the nlp extra: pip install 'cinerec[nlp]'") from exc
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def tokenize(text: str, language: str | None = None) -> list[str]:
    """Content words of ``text`` in its language (detected when not given)."""
    language = language or detect_language(text)
    stop = _en_stopwords()
    if language == "zh":
        jieba = _jieba()
        words = [w.strip().lower() for w in jieba.lcut(text)]  # type: ignore[attr-defined]
        return [w for w in words
                if (len(w) >= 2 and _HAN.match(w) and w not in ZH_STOPWORDS)
                or (_EN_WORD.fullmatch(w) and len(w) > 2 and w not in stop)]
    return [w for w in _EN_WORD.findall(text.lower()) if w not in stop and len(w) > 2]


def film_keywords(
    reviews: Mapping[K, Sequence[str]] | Iterable[tuple[K, Sequence[str]]],
    n: int = 10,
    min_reviews: int = 2,
) -> dict[K, list[tuple[str, float]]]:
    """Top ``n`` keywords of each film from its reviews' texts.

    Args:
        reviews: film key -> its review texts.
        n: keywords per film.
        min_reviews: a keyword must appear in at least this many of the
            film's reviews (lowered to 1 for films with fewer than 5 reviews).

    Returns:
        film key -> ``[(term, weight)]``, best first; weights in ``(0, 1]``
        (TF-IDF, L2-normalised per film).
    """
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    items = list(reviews.items()) if isinstance(reviews, Mapping) else list(reviews)
    per_film = [[set(tokenize(t)) for t in texts if t and t.strip()] for _, texts in items]
    if not any(per_film):
        return {key: [] for key, _ in items}
    counter = CountVectorizer(analyzer=lambda d: d, lowercase=False)
    counts = counter.fit_transform([[t for r in revs for t in r] for revs in per_film]).tocsr()  # reviews using each term
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(counts).tocsr()
    terms = counter.get_feature_names_out()
    out: dict[K, list[tuple[str, float]]] = {}
    for row, ((key, _), revs) in enumerate(zip(items, per_film, strict=True)):
        lo, hi = tfidf.indptr[row], tfidf.indptr[row + 1]
        cols, weights = tfidf.indices[lo:hi], tfidf.data[lo:hi]
        ok = np.asarray(counts[row, cols].todense()).ravel() >= (min_reviews if len(revs) >= 5 else 1)
        cols, weights = cols[ok], weights[ok]
        order = np.lexsort((terms[cols], -weights))[:n]
        out[key] = [(str(terms[cols[i]]), round(float(weights[i]), 4)) for i in order]
    return out
