"""Fresh runs restore the pretrained Inception from a V1 file or a V2 prefix; reruns resume."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from harness.contract import PlatformRoot, job_command
from harness.synthetic import generate_dataset, write_inception_checkpoint

pytestmark = pytest.mark.slow


def _train(repo_root, root: PlatformRoot, steps: int) -> str:
    params = [
        "--input_file_pattern=/train-?????-of-00256",
        "--inception_checkpoint_file=/inception_v3.ckpt",
        "--batch_size=2",
        "--image_size=75",
        "--vocab_size=64",
        f"--number_of_steps={steps}",
    ]
    command = job_command("train.py", params, root.host_paths, sys.executable)
    command[1] = str(repo_root / "im2txt" / "train.py")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_fresh_run_restores_inception_then_rerun_resumes(repo_root, tmp_path, fmt) -> None:
    root = PlatformRoot.create(parent=tmp_path)
    generate_dataset(root.data_dir, num_images=2, captions_per_image=2, num_eval_images=0)
    pretrained = write_inception_checkpoint(root.work_dir / "inception_v3.ckpt", fmt=fmt)
    first = _train(repo_root, root, steps=2)
    assert f"Restored 376 Inception variables from {root.work_dir}/inception_v3.ckpt" in first
    saved = tf.train.load_checkpoint(str(root.output_dir / "model.ckpt-2"))
    name = "InceptionV3/Mixed_7c/Branch_3/Conv2d_0b_1x1/weights"
    np.testing.assert_array_equal(saved.get_tensor(name), pretrained.values()[name])
    assert int(saved.get_tensor("global_step")) == 2

    second = _train(repo_root, root, steps=3)
    assert f"Resuming from {root.output_dir}/model.ckpt-2 at global step 2" in second
    assert "Inception variables from" not in second
    assert (root.output_dir / "model.ckpt-3.index").exists()
