"""Every default of the harness's settings, in one place.

The command line, `Plan`, `PhaseCommand`, the backends and the checks all read them here,
so a validation asked for from Python is the one `uai-harness validate` runs.
"""

from __future__ import annotations

# Seconds one phase (a training, a rerun, an evaluation) may run before it is stopped.
PHASE_TIMEOUT_S = 600.0
# The regression gate: how far above a baseline's last-fifth loss is still as good, and
# how far below its speed is still as fast (fractions).
LOSS_TOLERANCE = 0.10
SPEED_TOLERANCE = 0.20
# How much a rerun raises the target, in the job's own unit.
RESUME_STEPS = 10
RESUME_EPOCHS = 2
# How much a job may leave under output_dir (GB, 10^9 bytes) before the path check fails
# it: the platform uploads all of it, and a runaway job can fill the host's disk.
MAX_OUTPUT_GB = 20.0
# The built-in job's training target: the platform example scaled down to batch 8 at
# 96x96 learns the tiny synthetic set well enough for the captioning checks. Inference is
# the one that binds: at 60 and 80 steps a probe image's best caption was still a mix of
# two training captions (before blends counted as its own; a miss is still a warning), at
# 100 all three were training captions; 150 keeps half that again, for a clean PASS.
QUICK_STEPS = 150


def default_profile(has_data: bool) -> str:
    """`im2txt` (generated captioning data and model checks) unless the user gives their
    own data, which is not im2txt's: then `none`, the platform checks only."""
    return "none" if has_data else "im2txt"
