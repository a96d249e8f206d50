"""Running the phases that only build on the training side by side.

Once training has finished, the evaluations, the inference probe, the resume and the
repeated training need nothing of each other: each gets its own platform root (the
resume keeps the run's own, since it must find and extend train's checkpoints; the
others a snapshot of it by hard links) and they run as many at a time as the machine
has cores and memory for. Hard links are as safe as the serial order was: there every
phase ran on the run's root itself, and a file rewritten in place changed it too; TF
writes checkpoints and their index as new files renamed into place, so what the resume
writes never shows up in a snapshot. Their console lines are kept back and shown phase
by phase in the fixed order, so a concurrent run reads like a serial one.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
from pathlib import Path

from harness.contract import PlatformRoot
from harness.record import CheckResult
from harness.untrusted import remove_tree, walk

# Progress lines a phase shown later keeps back (the rest is in its log).
MAX_HELD_LINES = 2_000
# What one phase process (Python, TensorFlow, a small model) may take, to fit the memory.
PHASE_MEMORY_BYTES = 1_500_000_000


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def available_memory() -> int | None:
    """Bytes of memory free for new processes (None: unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def phase_slots(requested: int | None) -> int:
    """How many phases may run at once: `requested` (1: the serial order), or by default
    one per core, no more than the free memory holds."""
    if requested is not None:
        return max(1, requested)
    memory = available_memory()
    by_memory = cores() if memory is None else memory // PHASE_MEMORY_BYTES
    return max(1, min(cores(), by_memory))


def snapshot_root(root: PlatformRoot, parent: Path, prefix: str) -> PlatformRoot:
    """A new platform root holding `root`'s files as hard links (copies where linking
    fails, across filesystems say); symbolic links are recreated, never followed."""
    snap = PlatformRoot.create(parent=parent, prefix=prefix)
    # No recursion, no link followed, no pipe opened: the job chose this tree's shape.
    for source, info in walk(root.root, folders=True):
        target = snap.root / source.relative_to(root.root)
        if stat.S_ISDIR(info.st_mode):
            target.mkdir(exist_ok=True)
        elif stat.S_ISLNK(info.st_mode):
            target.symlink_to(os.readlink(source))
        elif stat.S_ISREG(info.st_mode):
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target, follow_symlinks=False)
    return snap


def bring_back(snap: PlatformRoot, root: PlatformRoot) -> None:
    """Move what a phase wrote in its snapshot's output folder (its eval events, say) to
    the run's own, where the serial order would have left it, and drop the snapshot."""
    for source, info in walk(snap.output_dir):
        target = root.output_dir / source.relative_to(snap.output_dir)
        if not stat.S_ISREG(info.st_mode) and not stat.S_ISLNK(info.st_mode):
            continue
        if not target.exists() and not target.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    remove_tree(snap.root)


@dataclasses.dataclass
class HeldReporter:
    """A reporter that keeps a phase's progress back, to be shown later in order; notes
    and checks are shown at once (the script judges only after the phases ended)."""

    shown: object  # the run's reporter
    held: list[tuple[str, tuple]] = dataclasses.field(default_factory=list)
    lines: int = 0

    def note(self, text: str) -> None:
        self.held.append(("note", (text,)))

    def phase(self, name: str, detail: str, target_step: int | None) -> None:
        self.held.append(("phase", (name, detail, target_step)))

    def line(self, text: str) -> None:
        if self.lines < MAX_HELD_LINES:  # what a job prints is unbounded
            self.held.append(("line", (text,)))
        elif self.lines == MAX_HELD_LINES:
            self.held.append(("note", ("(more of the job's output is in its log)",)))
        self.lines += 1

    def phase_done(self, name: str, seconds: float, failure: str | None, log_tail: str) -> None:
        self.held.append(("phase_done", (name, seconds, failure, log_tail)))

    def check(self, result: CheckResult) -> None:
        self.shown.check(result)

    def release(self) -> None:
        """Show everything held, in the order it came."""
        for method, args in self.held:
            getattr(self.shown, method)(*args)
        self.held.clear()
