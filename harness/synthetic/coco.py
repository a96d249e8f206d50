"""The synthetic scenes laid out as an MSCOCO 2014 captions download.

This lets a job's own preprocessing (`build_mscoco_data.py`) run end to end on
small data: `annotations/captions_{train,val}2014.json` plus the image folders
`train2014/` and `val2014/` with COCO's file names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.synthetic.scenes import Scene, generate_scenes


@dataclass(frozen=True)
class CocoDataset:
    """Paths of a written COCO-style captions dataset."""

    root: Path
    train_captions_file: Path
    val_captions_file: Path
    train_image_dir: Path
    val_image_dir: Path


def coco_file_name(split: str, image_id: int) -> str:
    """COCO's image file name, e.g. `COCO_train2014_000000000042.jpg`."""
    return f"COCO_{split}2014_{image_id:012d}.jpg"


def _write_split(
    root: Path, split: str, scenes: Sequence[Scene], first_annotation_id: int
) -> tuple[Path, Path]:
    image_dir = root / f"{split}2014"
    image_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    annotation_id = first_annotation_id
    for scene in scenes:
        file_name = coco_file_name(split, scene.image_id)
        (image_dir / file_name).write_bytes(scene.jpeg)
        images.append(
            {
                "id": scene.image_id,
                "file_name": file_name,
                "height": scene.height,
                "width": scene.width,
            }
        )
        for caption in scene.captions:
            annotations.append(
                {"id": annotation_id, "image_id": scene.image_id, "caption": caption}
            )
            annotation_id += 1
    captions_file = root / "annotations" / f"captions_{split}2014.json"
    captions_file.parent.mkdir(parents=True, exist_ok=True)
    captions_file.write_text(json.dumps({"images": images, "annotations": annotations}))
    return captions_file, image_dir


def write_coco_dataset(
    out_dir: str | os.PathLike[str], train_scenes: Sequence[Scene], val_scenes: Sequence[Scene]
) -> CocoDataset:
    """Write both splits; annotation ids run on across splits, as in COCO, so all are unique."""
    ids = [s.image_id for s in (*train_scenes, *val_scenes)]
    if len(set(ids)) != len(ids):
        raise ValueError("image ids must be unique across the train and val scenes")
    root = Path(out_dir)
    train_file, train_dir = _write_split(root, "train", train_scenes, 1)
    first_val_annotation = 1 + sum(len(s.captions) for s in train_scenes)
    val_file, val_dir = _write_split(root, "val", val_scenes, first_val_annotation)
    return CocoDataset(root, train_file, val_file, train_dir, val_dir)


def generate_coco_dataset(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    num_train: int = 24,
    num_val: int = 8,
    captions_per_image: int = 5,
) -> CocoDataset:
    """Generate scenes (train ids first, then val ids) and write them as a COCO dataset."""
    train = generate_scenes(num_train, seed=seed, captions_per_image=captions_per_image)
    val = generate_scenes(
        num_val, seed=seed, captions_per_image=captions_per_image, first_image_id=num_train + 1
    )
    return write_coco_dataset(out_dir, train, val)
