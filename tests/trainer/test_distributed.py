"""The chief's bounded waits (im2txt.distributed.within); clusters run in tests/trainer/scripts/."""

from __future__ import annotations

import threading

import pytest

from im2txt.distributed import within
from im2txt.train_options import TrainingError


def test_within_returns_the_result_in_time() -> None:
    assert within(30, lambda: 42, lambda: "never") == 42


def test_within_reraises_the_callers_error() -> None:
    def fail() -> None:
        raise KeyError("from the wait")

    with pytest.raises(KeyError, match="from the wait"):
        within(30, fail, lambda: "never")


def test_within_gives_up_on_a_wait_that_never_returns() -> None:
    never = threading.Event()
    with pytest.raises(TrainingError, match="step 3 stalled"):
        within(0.2, never.wait, lambda: "step 3 stalled")
