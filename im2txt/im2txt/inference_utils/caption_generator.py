"""Beam search that turns a trained Show and Tell model into captions.

The model is reached only through `feed_image` and `inference_step`, so the
search runs unchanged over a TF model, a saved graph or a test double.
"""

from __future__ import annotations

import functools
import heapq
import math
from typing import Any, Generic, Protocol, TypeVar

import numpy as np


class CaptionModel(Protocol):
    """What beam search needs from a model."""

    def feed_image(self, encoded_image: Any) -> np.ndarray:
        """Returns the LSTM state after the image, shape [1, S]."""
        ...

    def inference_step(
        self, input_feed: np.ndarray, state_feed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """Feeds words [N] with states [N, S]; returns softmax [N, V], states [N, S], metadata."""
        ...


class WordIds(Protocol):
    """What beam search needs from a vocabulary."""

    start_id: int
    end_id: int


@functools.total_ordering
class Caption:
    """A (partial or complete) caption; ordered by score so heaps keep the best ones."""

    def __init__(
        self,
        sentence: list[int],
        state: np.ndarray,
        logprob: float,
        score: float,
        metadata: list[Any] | None = None,
    ) -> None:
        """`sentence` starts with the start id; `state` is the model state after its last word
        was predicted; `metadata`, when the model gives any, has one entry per word."""
        self.sentence = sentence
        self.state = state
        self.logprob = logprob
        self.score = score
        self.metadata = metadata

    def __lt__(self, other: Caption) -> bool:
        return self.score < other.score

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Caption):
            return NotImplemented
        return self.score == other.score

    __hash__ = None  # type: ignore[assignment]  # Equality is by score, so not hashable.

    def __repr__(self) -> str:
        return f"Caption(sentence={self.sentence}, logprob={self.logprob}, score={self.score})"


T = TypeVar("T")


class TopN(Generic[T]):
    """Keeps the n largest items pushed, in O(log n) per push."""

    def __init__(self, n: int) -> None:
        """`n` is the most items kept."""
        self._n = n
        self._data: list[T] = []

    def __len__(self) -> int:
        return len(self._data)

    def push(self, x: T) -> None:
        """Adds `x`, dropping the smallest item when more than n would be kept."""
        if len(self._data) < self._n:
            heapq.heappush(self._data, x)
        else:
            heapq.heappushpop(self._data, x)

    def extract(self, sort: bool = False) -> list[T]:
        """Removes and returns all items, largest first when `sort`; leaves this empty."""
        data, self._data = self._data, []
        if sort:
            data.sort(reverse=True)
        return data


def _top_k_words(probabilities: np.ndarray, k: int) -> np.ndarray:
    """Ids of the k most probable words, most probable first (ties: lower id first)."""
    return np.argsort(-probabilities, kind="stable")[:k]


class CaptionGenerator:
    """Generates captions for one image by beam search."""

    def __init__(
        self,
        model: CaptionModel,
        vocab: WordIds,
        beam_size: int = 3,
        max_caption_length: int = 20,
        length_normalization_factor: float = 0.0,
    ) -> None:
        """`max_caption_length` counts every word of a sentence, start and end words included;
        a `length_normalization_factor` > 0 divides complete captions' logprob by
        len(sentence) ** factor so longer captions are not penalised for their length."""
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        if max_caption_length < 1:
            raise ValueError(f"max_caption_length must be >= 1, got {max_caption_length}")
        self.model = model
        self.vocab = vocab
        self.beam_size = beam_size
        self.max_caption_length = max_caption_length
        self.length_normalization_factor = length_normalization_factor

    def beam_search(self, encoded_image: Any) -> list[Caption]:
        """Returns up to beam_size captions, best score first.

        These are complete captions (ending with the end id) when any completed, else
        the partial captions still alive when the length limit was reached. The list is
        empty only when the model gave every continuation probability 0.
        """
        initial_state = np.asarray(self.model.feed_image(encoded_image))
        partial_captions: TopN[Caption] = TopN(self.beam_size)
        partial_captions.push(
            Caption(
                sentence=[self.vocab.start_id],
                state=initial_state[0],
                logprob=0.0,
                score=0.0,
                metadata=[""],  # Placeholder for the start word, so entries align with words.
            )
        )
        complete_captions: TopN[Caption] = TopN(self.beam_size)

        # Each iteration adds one word; the start word is already there.
        for _ in range(self.max_caption_length - 1):
            partial_list = partial_captions.extract()
            input_feed = np.array([c.sentence[-1] for c in partial_list], dtype=np.int64)
            state_feed = np.stack([c.state for c in partial_list])
            softmax, new_states, metadata = self.model.inference_step(input_feed, state_feed)
            softmax = np.asarray(softmax, dtype=np.float64)
            if softmax.ndim != 2 or softmax.shape[0] != len(partial_list):
                raise ValueError(
                    f"inference_step returned softmax of shape {softmax.shape} "
                    f"for {len(partial_list)} inputs"
                )

            for i, partial in enumerate(partial_list):
                probabilities = softmax[i]
                for w in _top_k_words(probabilities, self.beam_size):
                    p = probabilities[w]
                    if not p > 0.0:  # Also skips NaN; log(0) would be -inf.
                        continue
                    word = int(w)
                    sentence = partial.sentence + [word]
                    logprob = partial.logprob + math.log(p)
                    words_metadata = (
                        None
                        if metadata is None or partial.metadata is None
                        else partial.metadata + [metadata[i]]
                    )
                    if word == self.vocab.end_id:
                        score = logprob
                        if self.length_normalization_factor > 0:
                            score /= len(sentence) ** self.length_normalization_factor
                        complete_captions.push(
                            Caption(sentence, new_states[i], logprob, score, words_metadata)
                        )
                    else:
                        partial_captions.push(
                            Caption(sentence, new_states[i], logprob, logprob, words_metadata)
                        )
            if not len(partial_captions):
                break

        if len(complete_captions):
            return complete_captions.extract(sort=True)
        return partial_captions.extract(sort=True)
