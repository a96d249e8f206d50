"""Checkpoints move both ways between our scripts and upstream im2txt's TF1 code.

Upstream's side is tests/support/upstream_graph.py: its exact variable set in a
tf.compat.v1 graph, restored and saved with tf.compat.v1.train.Saver as
upstream's trainer, evaluator and inference script do. As a user sharing one
output_dir would: upstream trains to step 20, our train.py resumes that and
saves, and upstream's Saver restores the result; our evaluate.py and
run_inference.py read what upstream saved.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from harness.contract import PlatformPaths, PlatformRoot
from harness.synthetic import SyntheticDataset, generate_dataset, write_inception_checkpoint
from tests.support.job_runs import (
    SMALL_MODEL,
    VOCAB_SIZE,
    output,
    run_job,
    with_output_dir,
    without_tensorboard,
)
from tests.support.upstream_graph import NUM_LSTM_UNITS, UpstreamGraph, differences

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_trainer_upstream_checkpoints")]

PLATFORM_STYLE = [
    "--input_file_pattern=/train-?????-of-00256",
    "--inception_checkpoint_file=/inception_v3.ckpt",
]
UPSTREAM_STEP = 20
# Moved by the TF1 side away from the pretrained value, so a resume that carries
# upstream's values can be told from a fresh start. Frozen unless Inception trains.
MOVED = "InceptionV3/Conv2d_1a_3x3/BatchNorm/moving_mean"
MOVED_BY = 0.25
# Logits independent of the image and the words: the softmax is softmax(biases).
ZERO_LOGITS_WEIGHTS = np.zeros([NUM_LSTM_UNITS, VOCAB_SIZE], np.float32)


@dataclasses.dataclass(frozen=True)
class Shared:
    root: PlatformRoot
    dataset: SyntheticDataset

    def paths(self, output_dir: Path) -> PlatformPaths:
        """The platform folders with this test's own output_dir."""
        return with_output_dir(self.root.host_paths, output_dir)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    root = PlatformRoot.create(parent=tmp_path_factory.mktemp("upstream"))
    dataset = generate_dataset(root.data_dir, num_images=2, captions_per_image=2, num_eval_images=1)
    write_inception_checkpoint(root.work_dir / "inception_v3.ckpt")
    return Shared(root, dataset)


def _upstream_trained(shared: Shared, output_dir: Path, **changes: np.ndarray) -> str:
    """What upstream's trainer leaves in output_dir at step 20 (changed values stand in
    for its training): pretrained Inception restored, the rest initialised, saved."""
    with UpstreamGraph(VOCAB_SIZE) as upstream:
        upstream.restore_inception(str(shared.root.work_dir / "inception_v3.ckpt"))
        moved = upstream.values()[MOVED] + MOVED_BY
        upstream.assign({"global_step": UPSTREAM_STEP, MOVED: moved, **changes})
        return upstream.save(output_dir)


@pytest.mark.parametrize("train_inception", [False, True])
def test_trainer_resumes_upstreams_checkpoint_and_upstream_resumes_the_result(
    shared: Shared, tmp_path: Path, train_inception: bool
) -> None:
    output_dir = tmp_path / "output"
    theirs = _upstream_trained(shared, output_dir)
    assert theirs == f"{output_dir}/model.ckpt-{UPSTREAM_STEP}"
    upstream_moved = tf.train.load_checkpoint(theirs).get_tensor(MOVED)

    target = UPSTREAM_STEP + 1
    params = [
        *PLATFORM_STYLE,
        f"--train_inception={str(train_inception).lower()}",
        f"--number_of_steps={target}",
        *SMALL_MODEL,
    ]
    result = run_job("train.py", params, shared.paths(output_dir))
    assert result.returncode == 0, output(result)
    assert f"Resuming from {theirs} at global step {UPSTREAM_STEP}" in result.stdout

    ours = f"{output_dir}/model.ckpt-{target}"
    assert tf.train.latest_checkpoint(str(output_dir)) == ours  # what upstream resumes from
    assert differences(ours, VOCAB_SIZE) == []
    with UpstreamGraph(VOCAB_SIZE) as upstream:
        upstream.restore(ours)
        restored = upstream.values()
    assert restored["global_step"] == target
    # Upstream's Inception values carried through: unchanged when frozen, else one
    # batch-norm decay step away (far less than what the TF1 side moved them by).
    np.testing.assert_allclose(restored[MOVED], upstream_moved, rtol=0, atol=0.01)
    if not train_inception:
        np.testing.assert_array_equal(restored[MOVED], upstream_moved)


def test_evaluate_reads_upstreams_checkpoint_without_tensorboard(
    shared: Shared, tmp_path: Path
) -> None:
    """All-zero logits give every word 1/V: the perplexity must be exactly V.

    Run where tensorboard cannot be imported, as `pip install tensorflow` leaves it.
    """
    theirs = _upstream_trained(
        shared,
        tmp_path / "upstream",
        **{
            "logits/weights": ZERO_LOGITS_WEIGHTS,
            "logits/biases": np.zeros([VOCAB_SIZE], np.float32),
        },
    )
    eval_dir = tmp_path / "eval"
    params = [
        "--input_file_pattern=/val-?????-of-00004",
        f"--checkpoint_dir={tmp_path / 'upstream'}",
        f"--eval_dir={eval_dir}",
        "--run_once",
        "--min_global_step=0",
        "--num_eval_examples=2",
        *SMALL_MODEL,
    ]
    env = without_tensorboard(tmp_path / "no-tensorboard")
    result = run_job("evaluate.py", params, shared.paths(tmp_path / "output"), env)
    assert result.returncode == 0, output(result)
    perplexity = re.search(rf"Perplexity = ([\d.]+) at global step {UPSTREAM_STEP}", result.stdout)
    assert perplexity and math.isclose(float(perplexity[1]), VOCAB_SIZE, rel_tol=1e-5), output(
        result
    )
    [record] = [
        json.loads(line) for line in (eval_dir / "eval_metrics.jsonl").read_text().splitlines()
    ]
    assert (record["checkpoint"], record["global_step"]) == (theirs, UPSTREAM_STEP)
    warnings = [
        line for line in result.stderr.splitlines() if "TensorBoard is not installed" in line
    ]
    assert len(warnings) == 1 and "eval_metrics.jsonl still are" in warnings[0], result.stderr
    assert not list(eval_dir.glob("events.out.tfevents.*"))


def test_run_inference_reads_upstreams_checkpoint(shared: Shared, tmp_path: Path) -> None:
    """With zero logits weights the softmax is softmax(biases) at every step, so the
    three best captions and their probabilities follow from the biases alone:
    `</S>` at once, then `w </S>`, then `x </S>` (x: the lowest other id)."""
    words = [line.split()[0] for line in shared.dataset.vocab_file.read_text().splitlines()]
    end, w = words.index("</S>"), len(words) - 1
    x = min(set(range(VOCAB_SIZE)) - {end, w})
    biases = np.zeros([VOCAB_SIZE], np.float32)
    biases[end], biases[w] = 2.0, 1.0
    _upstream_trained(
        shared,
        tmp_path / "upstream",
        **{"logits/weights": ZERO_LOGITS_WEIGHTS, "logits/biases": biases},
    )
    image = tmp_path / "scene.jpg"
    image.write_bytes(shared.dataset.eval_scenes[0].jpeg)
    params = [
        f"--checkpoint_path={tmp_path / 'upstream'}",
        f"--vocab_file={shared.dataset.vocab_file}",
        f"--input_files={image}",
        *SMALL_MODEL,
    ]
    result = run_job("run_inference.py", params, shared.root.host_paths, platform_flags=False)
    assert result.returncode == 0, output(result)

    p = np.exp(biases.astype(np.float64)) / np.exp(biases.astype(np.float64)).sum()
    expected = [("", p[end]), (words[w], p[w] * p[end]), (words[x], p[x] * p[end])]
    lines = result.stdout.splitlines()
    assert lines[0] == "Captions for image scene.jpg:"
    printed = [re.fullmatch(r"  (\d)\) (.*) \(p=([\d.]+)\)", line) for line in lines[1:]]
    assert all(printed) and len(printed) == 3, result.stdout
    for rank, (match, (caption, probability)) in enumerate(zip(printed, expected, strict=True)):
        assert (int(match[1]), match[2]) == (rank, caption), result.stdout
        assert math.isclose(float(match[3]), probability, abs_tol=2e-6), result.stdout
