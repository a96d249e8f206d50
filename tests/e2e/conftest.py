"""Inputs shared by the end-to-end runs: an im2txt data sample and an Inception checkpoint,
laid out as a user would give them to `validate --data ... --pretrained ...`."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.synthetic import generate_dataset, write_inception_checkpoint


@pytest.fixture(scope="session")
def im2txt_sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data folder, pretrained file): 4 synthetic scenes as upstream records, and a V1
    Inception v3 checkpoint with the real names and shapes."""
    folder = tmp_path_factory.mktemp("im2txt-sample")
    generate_dataset(
        folder / "data",
        num_images=4,
        captions_per_image=2,
        num_eval_images=0,
        max_objects=1,
        distinct_colours=True,
    )
    write_inception_checkpoint(folder / "inception_v3.ckpt")
    return folder / "data", folder / "inception_v3.ckpt"
