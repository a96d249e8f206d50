"""Synthetic Inception v3 checkpoint: the real names and shapes, loadable, sane values."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from harness.resources import MANIFEST_NAME
from harness.synthetic.checkpoint import (
    NOISE_SCALE,
    SyntheticCheckpoint,
    link_cached_copies,
    load_manifest,
    variable_value,
    write_inception_checkpoint,
)
from harness.untrusted import folder_bytes

REPO_MANIFEST = Path(__file__).resolve().parents[3] / "fixtures" / MANIFEST_NAME


def test_the_manifest_is_the_fixture_or_a_wheels_copy_of_it(monkeypatch, tmp_path) -> None:
    from harness import resources

    assert resources.repository_file(MANIFEST_NAME) == REPO_MANIFEST
    packaged = tmp_path / MANIFEST_NAME
    packaged.write_bytes(REPO_MANIFEST.read_bytes())
    monkeypatch.setattr(resources, "PACKAGED_FILES", tmp_path)
    monkeypatch.setattr(resources, "CHECKOUT_ROOT", tmp_path / "no-checkout")
    assert load_manifest() == json.loads(REPO_MANIFEST.read_text())
    packaged.unlink()
    with pytest.raises(FileNotFoundError, match="reinstall uai-train-harness"):
        load_manifest()


def test_manifest_has_the_real_checkpoints_388_variables() -> None:
    variables = load_manifest()["variables"]
    assert len(variables) == 388
    embedding = [n for n in variables if "Logits" not in n]
    assert len(embedding) == 376
    assert sum(int(np.prod(variables[n])) for n in embedding) == 21_802_784


@pytest.fixture(scope="module", params=["v1", "v2"])
def checkpoint(request: pytest.FixtureRequest, tmp_path_factory) -> SyntheticCheckpoint:
    folder = tmp_path_factory.mktemp(request.param)
    return write_inception_checkpoint(folder / "inception_v3.ckpt", fmt=request.param, seed=5)


def test_files_have_the_formats_layout(checkpoint: SyntheticCheckpoint) -> None:
    files = sorted(p.name for p in checkpoint.path.parent.iterdir())
    if checkpoint.format == "v1":
        assert files == ["inception_v3.ckpt"]
    else:
        assert files == ["inception_v3.ckpt.data-00000-of-00001", "inception_v3.ckpt.index"]


def test_load_checkpoint_reads_back_every_name_shape_and_value(
    checkpoint: SyntheticCheckpoint,
) -> None:
    reader = tf.train.load_checkpoint(str(checkpoint.path))
    manifest = {n: list(s) for n, s in load_manifest()["variables"].items()}
    assert reader.get_variable_to_shape_map() == manifest
    assert set(reader.get_variable_to_dtype_map().values()) == {tf.float32}
    for name, value in checkpoint.values().items():
        np.testing.assert_array_equal(reader.get_tensor(name), value)


def test_stem_activations_stay_finite_and_of_order_one(checkpoint: SyntheticCheckpoint) -> None:
    """Conv+BN+ReLU through the stem (as slim's InceptionV3 does) keeps a sane scale."""
    reader = tf.train.load_checkpoint(str(checkpoint.path))
    x = tf.random.stateless_uniform([1, 96, 96, 3], seed=[1, 2], minval=-1.0, maxval=1.0)
    layers = [
        ("Conv2d_1a_3x3", 2, "VALID"),
        ("Conv2d_2a_3x3", 1, "VALID"),
        ("Conv2d_2b_3x3", 1, "SAME"),
        ("Conv2d_3b_1x1", 1, "VALID"),
        ("Conv2d_4a_3x3", 1, "VALID"),
    ]
    for layer, stride, padding in layers:
        scope = f"InceptionV3/{layer}"
        x = tf.nn.conv2d(x, reader.get_tensor(f"{scope}/weights"), stride, padding)
        x = tf.nn.batch_normalization(
            x,
            reader.get_tensor(f"{scope}/BatchNorm/moving_mean"),
            reader.get_tensor(f"{scope}/BatchNorm/moving_variance"),
            reader.get_tensor(f"{scope}/BatchNorm/beta"),
            None,
            0.001,
        )
        x = tf.nn.relu(x)
        rms = float(tf.sqrt(tf.reduce_mean(tf.square(x))))
        assert np.isfinite(rms) and 0.1 < rms < 10, (layer, rms)


def test_value_rules() -> None:
    weights = variable_value(
        "InceptionV3/Mixed_7c/Branch_0/Conv2d_0a_1x1/weights", (1, 1, 2048, 320)
    )
    assert weights.dtype == np.float32
    centre = weights[0, 0]
    # The identity kernel: output channel c reads input channel c % 2048 with weight 1 ...
    identity = np.zeros((2048, 320), np.float32)
    identity[np.arange(320), np.arange(320)] = 1.0
    noise = centre - identity
    # ... plus He-normal noise scaled by NOISE_SCALE.
    expected_std = NOISE_SCALE * np.sqrt(2 / 2048)
    assert abs(noise.std() - expected_std) < 0.02 * expected_std
    assert abs(noise.mean()) < 1e-3 * expected_std * 100
    scope = "InceptionV3/Conv2d_1a_3x3/BatchNorm"
    assert not variable_value(f"{scope}/beta", (32,)).any()
    assert not variable_value(f"{scope}/moving_mean", (32,)).any()
    assert (variable_value(f"{scope}/moving_variance", (32,)) == 1).all()
    assert not variable_value("InceptionV3/Logits/Conv2d_1c_1x1/biases", (1001,)).any()
    with pytest.raises(ValueError, match="gamma"):
        variable_value(f"{scope}/gamma", (32,))


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    manifest = tmp_path / "small.json"
    variables = {"A/weights": [3, 3, 2, 4], "A/BatchNorm/moving_variance": [4], "L/biases": [2]}
    manifest.write_text(json.dumps({"checkpoint": "small", "variables": variables}))

    def files(fmt: str, seed: int, name: str) -> dict[str, bytes]:
        ckpt = write_inception_checkpoint(
            tmp_path / name / "c", fmt=fmt, seed=seed, manifest_path=manifest
        )
        assert ckpt.shapes == {n: tuple(s) for n, s in sorted(variables.items())}
        return {p.name: p.read_bytes() for p in ckpt.path.parent.iterdir()}

    for fmt in ("v1", "v2"):
        assert files(fmt, 0, f"{fmt}a") == files(fmt, 0, f"{fmt}b")
        assert files(fmt, 0, f"{fmt}a") != files(fmt, 1, f"{fmt}c")


def test_bad_requests_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        write_inception_checkpoint(tmp_path / "c", fmt="v3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        write_inception_checkpoint(tmp_path / "c", seed=-1)
    empty = tmp_path / "empty.json"
    empty.write_text('{"checkpoint": "x", "variables": {}}')
    with pytest.raises(ValueError, match="variables"):
        load_manifest(empty)


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_a_copy_from_the_cache_is_the_bytes_a_fresh_write_gives(tmp_path, monkeypatch, fmt):
    monkeypatch.setenv("UAI_CACHE_DIR", str(tmp_path / "cache"))
    first = write_inception_checkpoint(tmp_path / "a" / "inception_v3.ckpt", fmt=fmt, seed=3)
    (cached,) = (tmp_path / "cache" / "synthetic-inception").iterdir()
    second = write_inception_checkpoint(tmp_path / "b" / "my.ckpt", fmt=fmt, seed=3)
    for part in cached.iterdir():
        suffix = part.name.removeprefix("inception_v3.ckpt")
        made = [
            first.path.with_name(first.path.name + suffix),
            second.path.with_name("my.ckpt" + suffix),
        ]
        assert all(m.read_bytes() == part.read_bytes() for m in made)
        assert not any(os.path.samefile(m, part) for m in made)  # copies: the job cannot reach it
    monkeypatch.setenv("UAI_CACHE_DIR", "/proc/no-cache-here")  # unusable: written afresh
    fresh = write_inception_checkpoint(tmp_path / "c" / "inception_v3.ckpt", fmt=fmt, seed=3)
    for part in first.path.parent.iterdir():
        assert (fresh.path.parent / part.name).read_bytes() == part.read_bytes()


def test_finished_copies_are_linked_to_the_cache_unless_the_job_changed_them(tmp_path, monkeypatch):
    monkeypatch.setenv("UAI_CACHE_DIR", str(tmp_path / "cache"))
    run = tmp_path / "run"
    kept = write_inception_checkpoint(run / "a" / "inception_v3.ckpt", fmt="v2", seed=3)
    changed = write_inception_checkpoint(run / "b" / "inception_v3.ckpt", fmt="v2", seed=3)
    index = changed.path.with_name("inception_v3.ckpt.index")
    index.write_bytes(index.read_bytes()[:-1] + b"!")  # the job rewrote one part
    (run / "c").mkdir()
    (run / "c" / "inception_v3.ckpt.index").symlink_to(index)  # a link it left: not followed
    before = folder_bytes(run)
    freed = link_cached_copies(run / name / "inception_v3.ckpt" for name in ("a", "b", "c"))
    (cached,) = (tmp_path / "cache" / "synthetic-inception").iterdir()
    for part in cached.iterdir():
        suffix = part.name.removeprefix("inception_v3.ckpt")
        assert os.path.samefile(kept.path.with_name(kept.path.name + suffix), part)
    assert not os.path.samefile(index, cached / "inception_v3.ckpt.index")
    assert os.path.samefile(changed.path.with_name("inception_v3.ckpt.data-00000-of-00001"),
                            cached / "inception_v3.ckpt.data-00000-of-00001")  # fmt: skip
    assert (run / "c" / "inception_v3.ckpt.index").is_symlink()
    assert folder_bytes(run) == before - freed > 0  # linked files cost the folder nothing


def test_a_copy_that_cannot_be_linked_stays_a_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("UAI_CACHE_DIR", str(tmp_path / "cache"))
    copy = write_inception_checkpoint(tmp_path / "run" / "inception_v3.ckpt", fmt="v1", seed=3)
    before = copy.path.read_bytes()
    monkeypatch.setattr(os, "link", lambda *_: (_ for _ in ()).throw(OSError(18, "cross-device")))
    assert link_cached_copies([copy.path]) == 0
    assert copy.path.read_bytes() == before and copy.path.stat().st_nlink == 1
    assert sorted(p.name for p in copy.path.parent.iterdir()) == ["inception_v3.ckpt"]
