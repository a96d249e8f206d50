"""Beam search over fake Markov models whose best captions can be worked out by hand.

Sentence lengths count every id in `Caption.sentence`: the start word (always
there) and the end word (when complete). `max_caption_length` bounds that count.
"""

from __future__ import annotations

import itertools
import math
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from im2txt.inference_utils import caption_generator
from im2txt.inference_utils.caption_generator import Caption, CaptionGenerator, TopN

S, E, A, B, C, D = range(6)  # <S>, </S>, then four ordinary words.
VOCAB = types.SimpleNamespace(start_id=S, end_id=E)


class MarkovModel:
    """P(next word) depends only on the word fed; the state counts steps and sums fed ids
    so a test can check each caption carried its own state."""

    def __init__(self, table: np.ndarray, with_metadata: bool = False) -> None:
        self.table = np.asarray(table, dtype=np.float64)
        self.with_metadata = with_metadata
        self.images: list[bytes] = []
        self.steps = 0

    def feed_image(self, encoded_image):
        self.images.append(encoded_image)
        return np.zeros([1, 2])

    def inference_step(self, input_feed, state_feed):
        self.steps += 1
        assert input_feed.shape == (state_feed.shape[0],)
        new_states = state_feed + np.stack([np.ones(len(input_feed)), input_feed], axis=1)
        metadata = [f"after {w}" for w in input_feed] if self.with_metadata else None
        return self.table[input_feed], new_states, metadata


def table_from(transitions: dict[int, dict[int, float]], size: int = 6) -> np.ndarray:
    table = np.zeros([size, size])
    for word, row in transitions.items():
        for nxt, p in row.items():
            table[word, nxt] = p
    return table


# Greedy picks A then </S> (p = 0.33); the best caption is <S> B </S> (p = 0.4).
BRANCHING = table_from(
    {S: {A: 0.6, B: 0.4}, A: {E: 0.55, C: 0.45}, B: {E: 1.0}, C: {E: 1.0}, D: {E: 1.0}}
)
BRANCHING_CAPTIONS = [([S, B, E], 0.4), ([S, A, E], 0.6 * 0.55), ([S, A, C, E], 0.6 * 0.45)]


def sentences(captions: list[Caption]) -> list[list[int]]:
    return [c.sentence for c in captions]


def test_beam_search_returns_the_known_best_captions():
    model = MarkovModel(BRANCHING)
    captions = CaptionGenerator(model, VOCAB, beam_size=3).beam_search(b"jpeg bytes")
    assert sentences(captions) == [s for s, _ in BRANCHING_CAPTIONS]
    for caption, (_, p) in zip(captions, BRANCHING_CAPTIONS, strict=True):
        assert caption.logprob == pytest.approx(math.log(p))
        assert caption.score == caption.logprob
    assert model.images == [b"jpeg bytes"]
    assert model.steps == 3  # Stopped early: no partial caption left after <S> A C </S>.


def test_upstream_top_k_slice_would_fail_the_known_best_test(monkeypatch):
    """Upstream's last version took argsort(p)[:-beam_size][::-1]: all but the best words."""
    monkeypatch.setattr(caption_generator, "_top_k_words", lambda p, k: np.argsort(p)[:-k][::-1])
    captions = CaptionGenerator(MarkovModel(BRANCHING), VOCAB, beam_size=3).beam_search(b"")
    assert sentences(captions) != [s for s, _ in BRANCHING_CAPTIONS]


def test_top_k_words_are_most_probable_first_ties_by_lower_id():
    probabilities = np.array([0.1, 0.3, 0.05, 0.3, 0.25])
    assert caption_generator._top_k_words(probabilities, 3).tolist() == [1, 3, 4]
    assert caption_generator._top_k_words(probabilities, 9).tolist() == [1, 3, 4, 0, 2]


def test_beam_size_one_is_greedy_and_misses_the_better_caption():
    captions = CaptionGenerator(MarkovModel(BRANCHING), VOCAB, beam_size=1).beam_search(b"")
    assert sentences(captions) == [[S, A, E]]
    assert captions[0].logprob == pytest.approx(math.log(0.6 * 0.55))


# Short caption p = 0.5 (3 words); long caption p = 0.45 (5 words).
SHORT_VS_LONG = table_from(
    {S: {A: 0.5, B: 0.45, C: 0.05}, A: {E: 1.0}, B: {C: 1.0}, C: {D: 1.0}, D: {E: 1.0}}
)


def test_length_normalization_prefers_the_longer_caption():
    plain = CaptionGenerator(MarkovModel(SHORT_VS_LONG), VOCAB, beam_size=2).beam_search(b"")
    assert sentences(plain) == [[S, A, E], [S, B, C, D, E]]

    normalized = CaptionGenerator(
        MarkovModel(SHORT_VS_LONG), VOCAB, beam_size=2, length_normalization_factor=1.0
    ).beam_search(b"")
    assert sentences(normalized) == [[S, B, C, D, E], [S, A, E]]
    assert normalized[0].score == pytest.approx(math.log(0.45) / 5)
    assert normalized[1].score == pytest.approx(math.log(0.5) / 3)
    assert normalized[0].logprob == pytest.approx(math.log(0.45))


def test_never_ending_model_returns_partial_captions_of_max_length():
    loop = table_from({S: {A: 0.7, B: 0.3}, A: {A: 0.9, B: 0.1}, B: {B: 1.0}})
    model = MarkovModel(loop)
    captions = CaptionGenerator(model, VOCAB, beam_size=2, max_caption_length=5).beam_search(b"")
    assert sentences(captions) == [[S, A, A, A, A], [S, B, B, B, B]]
    assert model.steps == 4


@pytest.mark.parametrize(
    "max_length, expected", [(5, [S, A, B, E]), (4, [S, A, B, E]), (3, [S, A, B]), (2, [S, A])]
)
def test_max_caption_length_counts_start_and_end_words(max_length, expected):
    chain = table_from({S: {A: 1.0}, A: {B: 1.0}, B: {E: 1.0}})
    generator = CaptionGenerator(MarkovModel(chain), VOCAB, max_caption_length=max_length)
    assert sentences(generator.beam_search(b"")) == [expected]


def test_max_caption_length_one_returns_the_start_word_without_inference():
    model = MarkovModel(BRANCHING)
    captions = CaptionGenerator(model, VOCAB, max_caption_length=1).beam_search(b"")
    assert sentences(captions) == [[S]]
    assert (captions[0].logprob, captions[0].score) == (0.0, 0.0)
    assert model.steps == 0


def test_each_caption_keeps_its_own_state_and_metadata():
    model = MarkovModel(BRANCHING, with_metadata=True)
    for caption in CaptionGenerator(model, VOCAB, beam_size=3).beam_search(b""):
        fed = caption.sentence[:-1]
        np.testing.assert_array_equal(caption.state, [len(fed), sum(fed)])
        assert caption.metadata == [""] + [f"after {w}" for w in fed]


def test_metadata_is_none_when_the_model_gives_none():
    captions = CaptionGenerator(MarkovModel(BRANCHING), VOCAB).beam_search(b"")
    assert all(c.metadata is None for c in captions)


def test_zero_probability_everywhere_gives_no_caption():
    assert CaptionGenerator(MarkovModel(np.zeros([6, 6])), VOCAB).beam_search(b"") == []


def test_zero_probability_words_are_never_chosen():
    # Beam 5 > the two possible words after <S>: the zero-probability ones must be skipped.
    captions = CaptionGenerator(MarkovModel(BRANCHING), VOCAB, beam_size=5).beam_search(b"")
    assert sentences(captions) == [s for s, _ in BRANCHING_CAPTIONS]
    assert all(math.isfinite(c.logprob) for c in captions)


def test_softmax_with_wrong_batch_is_rejected():
    model = MarkovModel(BRANCHING)
    model.inference_step = lambda words, states: (np.ones([2, 6]), states, None)
    with pytest.raises(ValueError, match=r"softmax of shape \(2, 6\) for 1 inputs"):
        CaptionGenerator(model, VOCAB).beam_search(b"")


@pytest.mark.parametrize("kwargs", [{"beam_size": 0}, {"max_caption_length": 0}])
def test_invalid_settings_are_rejected(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        CaptionGenerator(MarkovModel(BRANCHING), VOCAB, **kwargs)


def test_captions_order_by_score():
    low = Caption([S, A], None, logprob=-3.0, score=-2.0)
    high = Caption([S, B], None, logprob=-5.0, score=-1.0)
    assert low < high and high > low
    assert sorted([high, low]) == [low, high]
    assert max([low, high]) is high


def test_top_n_keeps_the_largest_and_extract_empties_it():
    top = TopN(3)
    for x in [5, 1, 9, 3, 7, 2]:
        top.push(x)
    assert len(top) == 3
    assert top.extract(sort=True) == [9, 7, 5]
    assert len(top) == 0
    top.push(4)
    assert sorted(top.extract()) == [4]


# --- Properties on random models (start id 0, end id 1) ---------------------------------


@st.composite
def markov_tables(draw, max_words: int = 7, allow_zero: bool = True) -> np.ndarray:
    """Random row-stochastic tables; with `allow_zero` some (or all) of a row may be 0."""
    size = draw(st.integers(3, max_words))
    element = st.floats(0.01, 1.0)
    if allow_zero:
        element = st.one_of(st.just(0.0), element)
    table = draw(arrays(np.float64, (size, size), elements=element))
    sums = table.sum(axis=1, keepdims=True)
    return np.divide(table, sums, out=np.zeros_like(table), where=sums > 0)


def path_logprob(table: np.ndarray, sentence: list[int]) -> float:
    return sum(math.log(table[a, b]) for a, b in itertools.pairwise(sentence))


def expected_score(sentence: list[int], logprob: float, factor: float) -> float:
    if sentence[-1] == E and factor > 0:
        return logprob / len(sentence) ** factor
    return logprob


@settings(max_examples=150, deadline=None)
@given(
    table=markov_tables(),
    beam_size=st.integers(1, 4),
    max_length=st.integers(1, 7),
    factor=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
)
def test_properties_of_returned_captions(table, beam_size, max_length, factor):
    captions = CaptionGenerator(
        MarkovModel(table), VOCAB, beam_size, max_length, length_normalization_factor=factor
    ).beam_search(b"")

    assert len(captions) <= beam_size
    scores = [c.score for c in captions]
    assert scores == sorted(scores, reverse=True)
    assert len({tuple(s) for s in sentences(captions)}) == len(captions)
    complete = [c.sentence[-1] == E for c in captions]
    assert all(complete) or not any(complete)  # Complete ones, else the partial fallback.
    for caption in captions:
        sentence = caption.sentence
        assert sentence[0] == S
        assert 1 <= len(sentence) <= max_length
        assert E not in sentence[1:-1]
        if not complete[0]:
            assert len(sentence) == max_length  # Partials are only returned at the limit.
        assert caption.logprob == pytest.approx(path_logprob(table, sentence))
        assert caption.score == pytest.approx(expected_score(sentence, caption.logprob, factor))


def greedy(table: np.ndarray, max_length: int) -> list[int]:
    sentence = [S]
    while len(sentence) < max_length and sentence[-1] != E:
        sentence.append(int(np.argmax(table[sentence[-1]])))
    return sentence


@settings(max_examples=100, deadline=None)
@given(table=markov_tables(allow_zero=False), max_length=st.integers(1, 8))
def test_beam_size_one_equals_greedy(table, max_length):
    captions = CaptionGenerator(MarkovModel(table), VOCAB, 1, max_length).beam_search(b"")
    expected = greedy(table, max_length)
    assert sentences(captions) == [expected]
    assert captions[0].logprob == pytest.approx(path_logprob(table, expected))


@settings(max_examples=60, deadline=None)
@given(
    table=markov_tables(max_words=4, allow_zero=False),
    max_length=st.integers(2, 4),
    factor=st.sampled_from([0.0, 1.0]),
)
def test_wide_enough_beam_finds_every_complete_caption_in_order(table, max_length, factor):
    """With a beam wider than the number of sentences, beam search is exhaustive."""
    size = len(table)
    generator = CaptionGenerator(MarkovModel(table), VOCAB, size**max_length, max_length, factor)
    captions = generator.beam_search(b"")

    middle_words = [w for w in range(size) if w != E]
    every_complete = [
        [S, *middle, E]
        for n in range(max_length - 1)
        for middle in itertools.product(middle_words, repeat=n)
    ]
    expected = sorted(
        every_complete,
        key=lambda s: expected_score(s, path_logprob(table, s), factor),
        reverse=True,
    )
    assert sorted(map(tuple, sentences(captions))) == sorted(map(tuple, expected))
    assert [c.score for c in captions] == pytest.approx(
        [expected_score(s, path_logprob(table, s), factor) for s in expected]
    )
