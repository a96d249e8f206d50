"""`uai-harness pack` against the daemon: the images, the command file, validate, local test."""

from __future__ import annotations

import uuid

import pytest

from harness.cli import main
from harness.cmdfile import read_cmd_file
from harness.record import NOT_APPLICABLE, PASSED, RunRecord

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PARAMS = (
    "--input_file_pattern=/train-?????-of-00256 "
    "--inception_checkpoint_file=/inception_v3.ckpt --train_inception=false "
    "--number_of_steps=1000000 --log_every_n_steps=10 --batch_size=8 "
    "--image_size=96 --vocab_size=64 --seed=0 --deterministic"
)


def test_pack_then_validate_the_cmd_file(cpu_image, docker_client, repo_root, tmp_path) -> None:
    """Pack with the tool's spellings (its inputs equal the session image's, so every layer
    comes from the build cache), then `validate --cmd-file` checks what it wrote: the
    packed image, run with the platform's mounts and command, passes every check."""
    name = f"uai-harness/packed-{uuid.uuid4().hex[:10]}"
    code = main(
        [
            "pack",
            f"--code_path={repo_root / 'im2txt'}",
            "--mainfile_path=train.py",
            f"--train_params={PARAMS}",
            f"--uhub_imagename={name}",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    try:
        cmd_file = tmp_path / "uaitrain_cmd.txt"
        packed = read_cmd_file(cmd_file)
        assert packed.cpu_image == f"{name}-cpu:uaitrain" and packed.train_params == PARAMS
        assert (
            docker_client.images.get(packed.cpu_image).id == docker_client.images.get(cpu_image).id
        )
        assert (
            main(["validate", "--cmd-file", str(cmd_file), "--run-dir", str(tmp_path / "run")]) == 0
        )
    finally:
        docker_client.images.remove(f"{name}-cpu:uaitrain", force=True, noprune=True)
    # The packed image, run with the platform's mounts and command, passes every check.
    record = RunRecord.load(tmp_path / "run" / "run_record.json")
    table = {c.name: c.status for c in record.checks}
    assert table == {
        **dict.fromkeys(
            (
                "image_contract",
                "path_contract",
                "pretrained_restore",
                "loss_decrease",
                "uses_image",
                "resume",
                "inference",
            ),
            PASSED,
        ),
        "reproducible": NOT_APPLICABLE,
    }, {c.name: c.message for c in record.checks}
    assert record.check("path_contract").evidence["written_outside_output"] == []
    assert record.code["kind"] == "image" and record.code["id"].startswith("sha256:")
    assert any(line.startswith("tensorflow") for line in record.environment["pip_freeze"])


def test_local_test_line_runs_under_a_terminal_and_reports_the_exit(
    cpu_image, docker_client, tmp_path
) -> None:
    """The `docker run -it` line needs a terminal; a job refusing its flags exits 1 at once."""
    from harness.cmdfile import PackedCommand
    from harness.pack import run_local_test

    (tmp_path / "data").mkdir()
    (tmp_path / "output" / "earlier").mkdir(parents=True)
    (tmp_path / "output" / "earlier" / "kept.txt").write_text("x")
    command = PackedCommand(
        mainfile="train.py",
        train_params="--number_of_steps=-1",
        cpu_image=cpu_image,
        test_data_path=str(tmp_path / "data"),
        test_output_path=str(tmp_path / "output"),
    )
    started = {c.id for c in docker_client.containers.list(all=True)}
    try:
        result = run_local_test(command, tmp_path / "local.log")
    finally:
        for container in docker_client.containers.list(all=True, filters={"ancestor": cpu_image}):
            if container.id not in started:
                container.remove(force=True)  # the tool's line has no --rm
    assert result.command.startswith("docker run -it -v ")
    assert result.exit_code == 1
    assert "number_of_steps" in (tmp_path / "local.log").read_text()
    assert result.outputs == ["earlier/kept.txt"]
