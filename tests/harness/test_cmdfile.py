"""uaitrain_cmd.txt (harness/cmdfile.py): UCloud's own files read, ours written in its format."""

from __future__ import annotations

import pytest

from harness.cmdfile import PackedCommand, read_cmd_file

# Verbatim from UCloud's published pytorch pack docs (an older tool: --log_dir=/data/output).
UCLOUD_SAMPLE = (
    "CMD Used for deploying: /data/mnist.py\n"
    "CMD for CPU local test: sudo docker run -it -v /home/ubuntu/uai-sdk/examples/pytorch/train"
    "/mnist/data:/data/data -v /home/ubuntu/uai-sdk/examples/pytorch/train/mnist/output:/data/"
    'output pytorch-mnist-cpu:uaitrain /bin/bash -c "cd /data && /usr/bin/python /data/mnist.py'
    "  --work_dir=/data --data_dir=/data/data --output_dir=/data/output --log_dir=/data/output"
    '"\n'
    "CMD for GPU local test: sudo nvidia-docker run -it -v /home/ubuntu/uai-sdk/examples/pytorch"
    "/train/mnist/data:/data/data -v /home/ubuntu/uai-sdk/examples/pytorch/train/mnist/output:"
    "/data/output uhub.service.ucloud.cn/fanrongtest/pytorch-mnist:uaitrain /bin/bash -c "
    '"cd /data && /usr/bin/python /data/mnist.py  --work_dir=/data --data_dir=/data/data '
    '--output_dir=/data/output --log_dir=/data/output"\n'
)
MNIST = "/home/ubuntu/uai-sdk/examples/pytorch/train/mnist"
SEED_PARAMS = (
    "--input_file_pattern=/train-?????-of-00256 --inception_checkpoint_file=/inception_v3.ckpt "
    "--train_inception=false --number_of_steps=1000000 --log_every_n_steps=10"
)


def _write(tmp_path, text: str):
    path = tmp_path / "uaitrain_cmd.txt"
    path.write_text(text)
    return path


def test_ucloud_sample_reads(tmp_path) -> None:
    packed = read_cmd_file(_write(tmp_path, UCLOUD_SAMPLE))
    assert packed == PackedCommand(
        mainfile="mnist.py",
        train_params="",
        cpu_image="pytorch-mnist-cpu:uaitrain",
        gpu_image="uhub.service.ucloud.cn/fanrongtest/pytorch-mnist:uaitrain",
        test_data_path=f"{MNIST}/data",
        test_output_path=f"{MNIST}/output",
    )
    assert packed.params == [] and packed.image == "pytorch-mnist-cpu:uaitrain"


def test_the_tools_printed_form_reads(tmp_path) -> None:
    """The tool prints each label on its own line and the command on the next."""
    printed = (
        "CMD Used for deploying:\n"
        "/data/mnist_summary.py --max_step=2000\n"
        "CMD for CPU local test:\n"
        "sudo docker run -it -v /d:/data/data -v /o:/data/output tf-mnist-cpu:uaitrain "
        '/bin/bash -c "cd /data && /usr/bin/python /data/mnist_summary.py --max_step=2000 '
        "--work_dir=/data --data_dir=/data/data --output_dir=/data/output "
        '--log_dir=/data/output/log" \n'
        "You can check these cmd later in file:uaitrain_cmd.txt\n"
    )
    packed = read_cmd_file(_write(tmp_path, printed))
    assert (packed.mainfile, packed.train_params) == ("mnist_summary.py", "--max_step=2000")
    assert (packed.cpu_image, packed.gpu_image) == ("tf-mnist-cpu:uaitrain", None)
    assert (packed.test_data_path, packed.test_output_path) == ("/d", "/o")


def test_writer_reproduces_ucloud_format_for_the_seed_parameters() -> None:
    packed = PackedCommand(
        mainfile="train.py",
        train_params=SEED_PARAMS,
        cpu_image="im2txt-cpu:uaitrain",
        gpu_image="im2txt:uaitrain",
        test_data_path="/home/ubuntu/im2txt/data",
        test_output_path="/home/ubuntu/im2txt/output",
    )
    assert packed.text() == (
        "CMD Used for deploying: /data/train.py --input_file_pattern=/train-?????-of-00256 "
        "--inception_checkpoint_file=/inception_v3.ckpt --train_inception=false "
        "--number_of_steps=1000000 --log_every_n_steps=10\n"
        "CMD for CPU local test: sudo docker run -it -v /home/ubuntu/im2txt/data:/data/data "
        "-v /home/ubuntu/im2txt/output:/data/output im2txt-cpu:uaitrain /bin/bash -c "
        '"cd /data && /usr/bin/python /data/train.py --input_file_pattern=/train-?????-of-00256 '
        "--inception_checkpoint_file=/inception_v3.ckpt --train_inception=false "
        "--number_of_steps=1000000 --log_every_n_steps=10 --work_dir=/data "
        '--data_dir=/data/data --output_dir=/data/output --log_dir=/data/output/log"\n'
        "CMD for GPU local test: sudo nvidia-docker run -it -v /home/ubuntu/im2txt/data:"
        "/data/data -v /home/ubuntu/im2txt/output:/data/output im2txt:uaitrain /bin/bash -c "
        '"cd /data && /usr/bin/python /data/train.py --input_file_pattern=/train-?????-of-00256 '
        "--inception_checkpoint_file=/inception_v3.ckpt --train_inception=false "
        "--number_of_steps=1000000 --log_every_n_steps=10 --num_gpus=1 --work_dir=/data "
        '--data_dir=/data/data --output_dir=/data/output --log_dir=/data/output/log"\n'
    )


def test_empty_parameters_keep_ucloud_double_space() -> None:
    packed = PackedCommand("mnist.py", "", "m-cpu:uaitrain", None, "/d", "/o")
    deploy, cpu = packed.text().splitlines()
    assert deploy == "CMD Used for deploying: /data/mnist.py "
    assert "/usr/bin/python /data/mnist.py  --work_dir=/data --data_dir=/data/data" in cpu


def test_written_file_reads_back(tmp_path) -> None:
    packed = PackedCommand("train.py", SEED_PARAMS, "a-cpu:t", "a:t", "/d", "/o")
    assert read_cmd_file(_write(tmp_path, packed.text())) == packed


def test_older_harness_files_read(tmp_path) -> None:
    """Older harness files spelled the interpreter and carried platform flags."""
    packed = read_cmd_file(
        _write(
            tmp_path,
            "CMD Used for deploying: /usr/bin/python /data/train.py --number_of_steps=10 "
            "--work_dir=/data --data_dir=/data/data\n"
            "CMD for CPU local test: sudo docker run -it -v /d:/data/data -v /o:/data/output "
            "im2txt-cpu:uaitrain /bin/bash -c 'cd /data && /usr/bin/python /data/train.py'\n"
            "CMD for GPU local test: sudo docker run --gpus all -it im2txt-gpu:uaitrain "
            "/bin/bash -c 'cd /data && /usr/bin/python /data/train.py --num_gpus=1'\n",
        )
    )
    assert packed.mainfile == "train.py"
    assert packed.params == ["--number_of_steps=10"]
    assert (packed.cpu_image, packed.gpu_image) == ("im2txt-cpu:uaitrain", "im2txt-gpu:uaitrain")


CPU_LINE = (
    "CMD for CPU local test: sudo docker run -it -v /d:/data/data -v /o:/data/output x-cpu:t "
    '/bin/bash -c "cd /data && /usr/bin/python /data/train.py --work_dir=/data"\n'
)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("nothing useful\n", "", "no line starting with 'CMD Used for deploying:'"),
        (
            "CMD Used for deploying: python /data/train.py\n",
            ":1",
            "must start with the main file under /data/",
        ),
        ("CMD Used for deploying: /usr/bin/python train.py\n", ":1", "main file under /data/"),
        ("CMD Used for deploying: /data/train.py --a='x\n", ":1", "cannot split the command"),
        ("CMD Used for deploying:\n\nCMD for CPU local test: x\n", ":1", "has no command"),
        ("CMD Used for deploying:\n", ":1", "has no command"),
        ("CMD Used for deploying: /data/t.py\nCMD for CPU test: x\n", ":2", "unknown command"),
        (
            "CMD Used for deploying: /data/a.py\nCMD Used for deploying: /data/b.py\n",
            ":2",
            "second",
        ),
        (
            "CMD Used for deploying: /data/train.py\n"
            "CMD for CPU local test: sudo docker run -it x-cpu:t python /data/train.py\n",
            ":2",
            "must be `[sudo] docker run [options] IMAGE /bin/bash -c",
        ),
        ("CMD Used for deploying: /data/other.py\n" + CPU_LINE, ":2", "does not run /data/other"),
    ],
)
def test_malformed_files_are_refused_naming_file_and_line(tmp_path, text, where, message) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=f"^{path}{where}: ") as raised:
        read_cmd_file(path)
    assert message in str(raised.value)


def test_missing_and_binary_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_cmd_file(tmp_path / "nosuch.txt")
    path = tmp_path / "uaitrain_cmd.txt"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ValueError, match="not a text file"):
        read_cmd_file(path)
