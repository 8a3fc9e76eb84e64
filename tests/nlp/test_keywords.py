"""Film keywords from real reviews (Douban, Chinese) and from English text."""

from __future__ import annotations

from pathlib import Path

from cinerec.data.readers.reviews import read_douban
from cinerec.nlp.keywords import film_keywords, tokenize


def test_tokenize_drops_stop_words_in_both_languages() -> None:
    assert tokenize("The acting was superb and the plot is weak") == ["acting", "superb", "plot", "weak"]
    words = tokenize("这部电影的剧情非常精彩，周星驰的表演太好笑了")
    assert "周星驰" in words and "剧情" in words and "电影" not in words and "非常" not in words


def test_keywords_are_specific_to_each_film(datasets: Path) -> None:
    d = read_douban(datasets / "reviews" / "douban-short-comments")
    kw = film_keywords({f: g["text"].tolist() for f, g in d.groupby("film")}, n=10)
    terms = {f: [t for t, _ in v] for f, v in kw.items()}
    assert "至尊宝" in terms["xiyou1"] and "紫霞" in terms["xiyou1"]  # 大话西游's lovers
    assert "包租婆" in terms["gongfu"]  # 功夫's landlady
    assert "火星" in terms["mars"]
    assert all(len(v) == 10 for v in kw.values())
    assert all(w > 0 for v in kw.values() for _, w in v)


def test_min_reviews_and_empty_films() -> None:
    kw = film_keywords({1: ["superb visuals", "superb acting", "dull sound", "grand score", "tiny cast"],
                        2: ["boring plot"], 3: []})
    assert [t for t, _ in kw[1]] == ["superb"]  # the only term used by two of its five reviews
    assert {t for t, _ in kw[2]} == {"boring", "plot"} and kw[3] == []
