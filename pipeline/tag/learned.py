"""The learned part of a topic: a small classifier trained from an analyst's marks.

A topic with marks in force gets a model that decides instead of the rule (the rule's own scores
are among its features, so it keeps what the rule knows). It reads what newswatch already stores
for every article:

- the pooled English vector (the meaning of the whole text);
- the headline's English vector (what the story is, in a dozen words the pooled vector of a long
  text blurs; at half the pooled vector's scale, the pooled vector standing in where an article
  has no headline vector);
- the rule's evidence: the raw similarity of the best chunks to the description and exemplars,
  and the keyword score;
- how close the article's chunks come to the chunks of the articles marked yes, and of those
  marked no (an article is never compared with itself);
- the words of the title and text, hashed (2^18 buckets, sublinear counts, unit length): the
  vocabulary an analyst's yes marks share, which the sentence model blurs.

Training: the marks are the labelled examples; the topic's description and exemplars are
positives too (anchors, so that a topic with few yes marks still knows what it is about); a sample
of the stored articles that nobody marked stands for the news at large, as negatives of small
weight (a topic is a small share of the news: most unmarked articles are not about it). The
learner is scikit-learn's logistic regression (L2, C = 1); the classes are re-weighted so that
positives and negatives weigh alike, and the threshold is fixed at 0.5. It was chosen on the
stream side of Reuters-21578 (README.md, Benchmarks: bench/marks_eval.py) against a heavier
weight or idf on the words, other scales of the vector and of the scalars, other C,
thresholds and unmarked weights, and self-training on the unmarked articles: none did better.
The headline vector came later, replayed over the same marks (README.md). A version stored by
another learner (`LEARNER`) is not applied: its topic is trained again at the next training.

What to ask next: the unmarked articles the model is least certain of (probability nearest the
threshold), those unlike every marked article and the description first (`[topics]
learn_novelty`: a kind of story no mark has reached is where the model is most often wrong
without knowing it); before any model, the articles most like the description (a cold start).

Everything here is pure: examples in, model or probabilities out, in three modules that this one
gathers: learned_features.py (what the learner reads of an article), learned_training.py (the
fit and its cross-validation) and learned_model.py (a trained version: its probabilities, what to
ask, its stored bytes). Reading the warehouse and storing versions is pipeline/app/learning.py's
and pipeline/store/topic_models.py's.
"""

from pipeline.tag.learned_features import (
    HASH_BITS,
    SCALARS,
    Example,
    dense_features,
    example,
    hashed_words,
    idf_of,
    weighted_words,
    with_words,
    words_of,
)
from pipeline.tag.learned_model import LEARNER, LearnedModel, dump, load, probability, to_ask
from pipeline.tag.learned_training import LearnerParams, cv_agreement, train

__all__ = [
    "HASH_BITS",
    "LEARNER",
    "SCALARS",
    "Example",
    "LearnedModel",
    "LearnerParams",
    "cv_agreement",
    "dense_features",
    "dump",
    "example",
    "hashed_words",
    "idf_of",
    "load",
    "probability",
    "to_ask",
    "train",
    "weighted_words",
    "with_words",
    "words_of",
]
