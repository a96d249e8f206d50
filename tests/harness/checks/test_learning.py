"""The model checks' undecided case: a model stopped while it was still learning."""

from __future__ import annotations

from harness.checks import inference, uses_image
from harness.checks.learning import still_learning
from harness.job import LossSeries
from harness.record import FAILED, WARNING
from tests.support.captions import beam_output

# The default job at --steps 20 (2026-12-07): the loss still falls at its end.
AT_20_STEPS = [4.13, 3.36, 3.72, 4.68, 6.92, 4.25, 3.35, 3.78, 3.14, 4.59]
AT_20_STEPS += [2.67, 2.92, 3.30, 9.26, 3.75, 2.62, 2.62, 1.87, 1.46, 1.46]
LEARNING = "the training loss was still falling"


def _series(values: list[float]) -> LossSeries:
    return LossSeries({step: value for step, value in enumerate(values, 1)}, "events:loss")


def test_a_loss_still_falling_at_the_end_is_still_learning() -> None:
    assert still_learning(_series(AT_20_STEPS)).startswith(LEARNING)
    flat_end = [4.0 - 0.1 * i for i in range(20)] + [2.0, 2.01, 1.99, 2.0, 2.02, 1.98] * 2
    assert still_learning(_series(flat_end)) is None
    assert still_learning(_series([3.0, 2.0, 1.0])) is None  # too few to tell


def test_a_small_gap_from_a_model_still_learning_is_not_judged() -> None:
    learning = still_learning(_series(AT_20_STEPS))
    result = uses_image.check_image_dependence(6.718, 7.011, learning=learning)
    assert result.status == WARNING and "not judged" in result.message, result.message
    assert uses_image.check_image_dependence(6.718, 7.011).status == FAILED  # it had learned
    blind = uses_image.check_image_dependence(6.718, 6.72, learning=learning)
    assert blind.status == FAILED  # no gap at all: blind at any length


PROBES = {
    "image-1.jpg": ["a blue circle on a white background", "there is a blue circle"],
    "image-2.jpg": ["there is a blue triangle", "a picture of a blue triangle"],
    "image-3.jpg": ["a red square on a gray background", "an image showing a red square"],
}


def test_inference_misses_of_a_model_still_learning_are_not_judged_unless_it_is_blind() -> None:
    best = {
        "image-1.jpg": "there is blue green circle",
        "image-2.jpg": "there is a green triangle",
        "image-3.jpg": "there is a red circle",
    }
    learning = still_learning(_series(AT_20_STEPS))
    early = inference.check_inference(beam_output(best), PROBES, learning=learning, blind=False)
    assert early.status == WARNING and "not judged" in early.message, early.message
    assert inference.check_inference(beam_output(best), PROBES).status == FAILED
    blind = inference.check_inference(beam_output(best), PROBES, learning=learning, blind=True)
    assert blind.status == FAILED
    alike = dict.fromkeys(PROBES, "there is a blue circle")  # not evaluated: alike is blind
    assert inference.check_inference(beam_output(alike), PROBES, learning=learning).status == FAILED
