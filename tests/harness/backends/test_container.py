"""The CPU image run the platform's way: contract, checks, and broken-image variants."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from harness.backends.container import DockerBackend
from harness.contract import PlatformRoot, container_shell_command
from harness.params import JobParams
from harness.record import FAILED, NOT_APPLICABLE, NOT_RUN, PASSED
from harness.scenario import Plan, validate
from harness.synthetic import generate_dataset, write_inception_checkpoint
from tests.support.foreign_jobs import (
    JOBS,
    expected_verdicts,
    make_mutant,
    plan_for,
    verdict_messages,
    verdict_table,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_exact_platform_cpu_command_runs_the_image(cpu_image, tmp_path) -> None:
    """`docker run -v D:/data/data -v O:/data/output IMAGE /bin/bash -c "cd /data && ..."`."""
    root = PlatformRoot.create(parent=tmp_path)
    generate_dataset(root.data_dir, num_images=4, captions_per_image=2, num_eval_images=0)
    ckpt = write_inception_checkpoint(root.work_dir / "inception_v3.ckpt").path
    params = [
        "--input_file_pattern=/train-?????-of-00256",
        "--inception_checkpoint_file=/inception_v3.ckpt",
        "--train_inception=false",
        "--number_of_steps=4",
        "--log_every_n_steps=1",
        "--batch_size=4",
        "--image_size=96",
        "--vocab_size=64",
    ]
    command = [
        "docker",
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{root.data_dir}:/data/data",
        "-v",
        f"{root.output_dir}:/data/output",
        # The image carries no pretrained checkpoint; mount the synthetic one where
        # the job's --inception_checkpoint_file expects it.
        "-v",
        f"{ckpt}:/data/inception_v3.ckpt:ro",
        cpu_image,
        "/bin/bash",
        "-c",
        container_shell_command("train.py", JobParams(tuple(params))),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Restored 376 Inception variables from /data/inception_v3.ckpt" in done.stdout
    assert (root.output_dir / "model.ckpt-4.index").exists()
    assert (root.output_dir / "log" / "metrics.jsonl").exists()
    print(shlex.join(command))


def _failed_phase(result, name: str) -> str:
    """The not-run reason every check gives after phase `name` failed."""
    reasons = {c.message for c in result.record.checks if c.status == NOT_RUN}
    (reason,) = reasons
    assert reason.startswith(f"phase {name} failed: ")
    return reason


def test_image_without_usr_bin_python_fails_the_image_contract(
    derived_image, docker_client, tmp_path
) -> None:
    image = derived_image("uai-harness/broken:no-python", "RUN rm -f /usr/bin/python")
    result = validate(DockerBackend(image), Plan(steps=6), tmp_path / "run")
    # Every container made for it - the probes whose start failed included - is gone.
    assert docker_client.containers.list(all=True, filters={"ancestor": image}) == []
    contract = result.record.check("image_contract")
    # The whole table: the image fails its contract, and nothing trained to judge.
    table = verdict_table(result.record)
    assert table == {
        **dict.fromkeys(table, NOT_RUN),
        "image_contract": FAILED,
        "reproducible": NOT_APPLICABLE,  # not asked for
    }, verdict_messages(result.record)
    assert set(table) >= {"path_contract", "loss_decrease", "resume", "inference"}
    assert "no /usr/bin/python in the image" in contract.message
    assert "exited with status 127" in _failed_phase(result, "train")
    assert "environment probe failed" in result.record.environment["error"]


def test_image_writing_outside_output_fails_the_path_contract(
    job_image, job_inputs, tmp_path
) -> None:
    """The TF1 fixture job's one-edit mutant, packed in its image, writes /data/stray.txt:
    found in the container's own file changes, and it fails exactly the path contract."""
    job = JOBS["tf1_compat"]
    image = job_image(make_mutant(job, "writes_outside_output", tmp_path / "code"))
    result = validate(DockerBackend(image), plan_for(job, job_inputs), tmp_path / "run")
    expected = {**expected_verdicts(job, "writes_outside_output"), "image_contract": PASSED}
    assert verdict_table(result.record) == expected, verdict_messages(result.record)
    assert (
        "wrote outside output_dir: /data/stray.txt" in result.record.check("path_contract").message
    )


def test_image_needing_the_network_fails_clearly(derived_image, tmp_path) -> None:
    image = derived_image(
        "uai-harness/broken:needs-network",
        "RUN sed -i 's|^    del argv$|    del argv\\n    import urllib.request; "
        'urllib.request.urlopen("http://198.51.100.1/model", timeout=5)|\' /data/train.py'
        " && grep -q urlopen /data/train.py",
    )
    result = validate(DockerBackend(image), Plan(steps=6), tmp_path / "run")
    assert "exited with status" in _failed_phase(result, "train")
    tail = result.record.phase("train").log_tail
    assert "URLError" in tail or "Network is unreachable" in tail
