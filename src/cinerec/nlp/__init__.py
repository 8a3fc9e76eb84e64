"""NLP on reviews: language detection, sentiment (English, Chinese), keywords, text embeddings.

Heavy dependencies (vaderSentiment, snownlp, jieba, sentence encoders) come
with the ``nlp`` extra and are imported inside the functions that need them.
"""

from cinerec.nlp.lang import detect_language
from cinerec.nlp.sentiment import Sentiment, SentimentAnalyzer, SentimentModel

__all__ = ["Sentiment", "SentimentAnalyzer", "SentimentModel", "detect_language"]
