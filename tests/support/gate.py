"""The regression gate's plan on the Estimator-shaped fixture job, and its committed
baseline: shared by the gate's tests and tests/baselines/refresh.py, which writes it."""

from __future__ import annotations

from pathlib import Path

from tests.support.foreign_jobs import ESTIMATOR_LIKE, plan_for

BASELINE = Path(__file__).resolve().parents[1] / "baselines" / "estimator_like.json"

GATE_PARAMS = ["--train-steps=60", "--train-batch-size=32"]
# This 2-core shared machine's noise, measured (docs/testing.md): the unchanged job's
# speed varied by up to 35% between back-to-back runs. The gate allows half; a slowed
# step (0.15 s of sleep on a ~4 ms step) is tens of times slower, far outside it.
SPEED_TOLERANCE = 0.5


def gate_plan(job_inputs, **settings):
    plan = plan_for(ESTIMATOR_LIKE, job_inputs, **settings)
    plan.train_params = list(GATE_PARAMS)
    return plan
