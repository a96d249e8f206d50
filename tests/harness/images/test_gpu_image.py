"""The GPU image is complete, checked without a GPU (CI has none).

Its TensorFlow must be the CUDA build, and the CUDA user-space libraries that build
was made against - shipped by the nvidia-* pip wheels of tensorflow[and-cuda] - must
be there and load (dlopen) inside the container. Only the driver (libcuda.so.1) comes
from the host at run time, so a library may fail for want of it and nothing else:
anything else missing would only show on a paid GPU node.
Running on a GPU stays in tests/harness/backends/test_container_gpu.py (marked `gpu`).
"""

from __future__ import annotations

import json
import textwrap

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PROBE = textwrap.dedent(
    """\
    import ctypes, glob, json, os
    import tensorflow as tf
    nvidia = os.path.join(os.path.dirname(os.path.dirname(tf.__file__)), "nvidia")
    libraries = sorted(glob.glob(os.path.join(nvidia, "*", "lib", "*.so*")))
    errors = {}
    for _ in range(3):  # a library may need one that sorts after it
        for path in libraries:
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                errors.pop(os.path.basename(path), None)
            except OSError as err:
                errors[os.path.basename(path)] = str(err)
    print(json.dumps({
        "tensorflow": tf.__version__,
        "built_with_cuda": tf.test.is_built_with_cuda(),
        "build_info": {k: str(v) for k, v in tf.sysconfig.get_build_info().items()},
        "libraries": [os.path.basename(path) for path in libraries],
        "errors": errors,
    }))
    """
)
DRIVER_MISSING = "libcuda.so.1: cannot open shared object file"


def test_gpu_image_has_cuda_tensorflow_and_its_libraries_load(gpu_image) -> None:
    from testcontainers.core.container import DockerContainer

    container = (
        DockerContainer(gpu_image)
        .with_command(["/usr/bin/python", "-c", PROBE])
        .with_env("TF_CPP_MIN_LOG_LEVEL", "3")
        .with_kwargs(network_mode="none")
    )
    with container:
        code = container.get_wrapped_container().wait(timeout=300)["StatusCode"]
        stdout, stderr = container.get_logs()
    assert code == 0, stderr.decode()[-3000:]
    report = json.loads(stdout.decode().strip().splitlines()[-1])
    assert report["tensorflow"].startswith("2.21.")
    assert report["built_with_cuda"] is True
    info = report["build_info"]
    assert info["is_cuda_build"] == "True"
    assert info["cuda_version"].startswith("12.") and info["cudnn_version"].startswith("9")
    # The libraries TensorFlow dlopens by soname, for the CUDA and cuDNN it was built with.
    cuda, cudnn = info["cuda_version"].split(".")[0], info["cudnn_version"].split(".")[0]
    needed = {f"libcudart.so.{cuda}", f"libcublas.so.{cuda}", f"libcublasLt.so.{cuda}"}
    needed |= {"libcufft.so.11", "libcusparse.so.12", "libcusolver.so.11", "libcurand.so.10"}
    needed |= {f"libnvJitLink.so.{cuda}", f"libcupti.so.{cuda}", "libnccl.so.2"}
    needed |= {f"libcudnn.so.{cudnn}", f"libcudnn_ops.so.{cudnn}", f"libcudnn_cnn.so.{cudnn}"}
    assert needed <= set(report["libraries"]) - set(report["errors"])
    # Everything the nvidia-* wheels ship loads, short of the host's driver library.
    not_driver = {name: err for name, err in report["errors"].items() if DRIVER_MISSING not in err}
    assert not not_driver, not_driver
