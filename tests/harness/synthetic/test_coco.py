"""Synthetic scenes as an MSCOCO 2014 captions download."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from harness.synthetic.coco import coco_file_name, generate_coco_dataset, write_coco_dataset
from harness.synthetic.scenes import generate_scenes


def test_layout_and_json_schema(tmp_path: Path) -> None:
    coco = generate_coco_dataset(tmp_path, seed=1, num_train=4, num_val=2, captions_per_image=3)
    assert coco.train_captions_file == tmp_path / "annotations" / "captions_train2014.json"
    assert coco.val_captions_file == tmp_path / "annotations" / "captions_val2014.json"
    assert (coco.train_image_dir, coco.val_image_dir) == (
        tmp_path / "train2014",
        tmp_path / "val2014",
    )
    annotation_ids, image_ids = [], []
    for split, captions_file, image_dir, count in (
        ("train", coco.train_captions_file, coco.train_image_dir, 4),
        ("val", coco.val_captions_file, coco.val_image_dir, 2),
    ):
        data = json.loads(captions_file.read_text())
        assert set(data) == {"images", "annotations"}
        assert len(data["images"]) == count and len(data["annotations"]) == count * 3
        for image in data["images"]:
            assert set(image) == {"id", "file_name", "height", "width"}
            assert image["file_name"] == f"COCO_{split}2014_{image['id']:012d}.jpg"
            with Image.open(image_dir / image["file_name"]) as decoded:
                assert decoded.format == "JPEG"
                assert decoded.size == (image["width"], image["height"])
        known = {image["id"] for image in data["images"]}
        for annotation in data["annotations"]:
            assert set(annotation) == {"id", "image_id", "caption"}
            assert annotation["image_id"] in known and annotation["caption"]
        assert sorted(p.name for p in image_dir.iterdir()) == sorted(
            image["file_name"] for image in data["images"]
        )
        annotation_ids += [a["id"] for a in data["annotations"]]
        image_ids += sorted(known)
    assert sorted(annotation_ids) == list(range(1, 19))
    assert image_ids == list(range(1, 7))


def test_written_files_are_the_scenes(tmp_path: Path) -> None:
    train = generate_scenes(3, seed=2)
    val = generate_scenes(1, seed=2, first_image_id=100)
    coco = write_coco_dataset(tmp_path, train, val)
    data = json.loads(coco.train_captions_file.read_text())
    for scene in train:
        assert [a["caption"] for a in data["annotations"] if a["image_id"] == scene.image_id] == (
            scene.captions
        )
        path = coco.train_image_dir / coco_file_name("train", scene.image_id)
        assert path.read_bytes() == scene.jpeg
    assert (coco.val_image_dir / "COCO_val2014_000000000100.jpg").read_bytes() == val[0].jpeg


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    def contents(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    one = generate_coco_dataset(tmp_path / "a", num_train=2, num_val=1).root
    two = generate_coco_dataset(tmp_path / "b", num_train=2, num_val=1).root
    other = generate_coco_dataset(tmp_path / "c", seed=1, num_train=2, num_val=1).root
    assert contents(one) == contents(two) != contents(other)


def test_duplicate_image_ids_are_refused(tmp_path: Path) -> None:
    scenes = generate_scenes(1)
    with pytest.raises(ValueError, match="unique"):
        write_coco_dataset(tmp_path, scenes, scenes)
