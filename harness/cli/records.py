"""`uai-harness generate`, `report` and `compare`: inputs, and documents of stored runs."""

from __future__ import annotations

import argparse
import math

from harness.cli.arguments import writable_folder
from harness.cli.common import absolute, newest_runs, record_path
from harness.record import RunRecord, dumps


def cmd_generate(args: argparse.Namespace) -> int:
    out = writable_folder("OUT", absolute(args.out))
    from harness.synthetic import (
        generate_coco_dataset,
        generate_dataset,
        write_inception_checkpoint,
    )

    dataset = generate_dataset(
        out / "data", seed=args.seed, num_images=args.num_images, input_file_pattern=args.pattern
    )
    checkpoint = write_inception_checkpoint(
        out / "inception_v3.ckpt", fmt=args.checkpoint_format, seed=args.seed
    )
    written = {
        "records": [str(p) for p in dataset.train_files + dataset.eval_files],
        "vocab": str(dataset.vocab_file),
        "checkpoint": str(checkpoint.path),
    }
    if args.coco:
        written["coco"] = str(generate_coco_dataset(out / "coco", seed=args.seed).root)
    print(
        dumps(written)
        if args.json
        else "\n".join(f"{key}: {value}" for key, value in written.items())
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import write_report

    out = writable_folder("--out", absolute(args.out)) if args.out else None
    path = record_path(args.record) if args.record else newest_runs(args.runs, 1)[0]
    record = RunRecord.load(path)
    out = out or path.parent
    for kind, written in sorted(write_report(record, out).items()):
        print(f"{kind}: {written}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import compare

    if (args.a is None) != (args.b is None):
        raise ValueError("compare takes two runs, or none (the two newest under --runs)")
    for flag, value in (("--rtol", args.rtol), ("--atol", args.atol)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{flag} must be a finite number >= 0, got {value}")
    a, b = (
        (record_path(args.a), record_path(args.b)) if args.a else tuple(newest_runs(args.runs, 2))
    )
    if not args.json:
        print(f"a: {a}\nb: {b}")
    comparison = compare(RunRecord.load(a), RunRecord.load(b), rtol=args.rtol, atol=args.atol)
    print(
        dumps({"a": a, "b": b, **comparison.to_dict()}) if args.json else comparison.render_text()
    )
    return 0 if comparison.identical_losses else 1


def add_parsers(sub) -> None:
    generate = sub.add_parser("generate", help="write synthetic records and a checkpoint")
    generate.add_argument("out", help="folder for data/ and inception_v3.ckpt")
    generate.add_argument("--seed", type=int, default=0, help="of the images and captions")
    generate.add_argument("--num-images", type=int, default=32, help="synthetic images")
    generate.add_argument("--pattern", default="train-?????-of-00256", help="record file names")
    generate.add_argument(
        "--checkpoint-format", choices=["v1", "v2"], default="v1", help="of the checkpoint"
    )
    generate.add_argument("--coco", action="store_true", help="also a COCO-format dataset")
    generate.add_argument("--json", action="store_true", help="the written paths as JSON")
    generate.set_defaults(func=cmd_generate)

    report = sub.add_parser("report", help="Markdown and HTML report of a run")
    report.add_argument(
        "record", nargs="?", help="run folder or run_record.json (default: the newest run)"
    )
    report.add_argument("--runs", default="runs", help="where runs are looked for")
    report.add_argument("--out", default=None, help="folder for the report (default: the run's)")
    report.set_defaults(func=cmd_report)

    comp = sub.add_parser("compare", help="compare two runs (first loss divergence)")
    comp.add_argument("a", nargs="?", help="run folder or record (default: the two newest runs)")
    comp.add_argument("b", nargs="?", help="the other run folder or record")
    comp.add_argument("--runs", default="runs", help="where runs are looked for")
    comp.add_argument("--rtol", type=float, default=0.0, help="relative loss tolerance")
    comp.add_argument("--atol", type=float, default=0.0, help="absolute loss tolerance")
    comp.add_argument("--json", action="store_true", help="the comparison as JSON")
    comp.set_defaults(func=cmd_compare)
