"""Jobs that name and save things in ways the harness had no list entry for, one per kind
of wrong verdict the evaluation on foreign jobs found, each with its whole verdict table.

1. `named_cost`: the loss is the summary `Cost` and `cost=` on stdout;
2. `sparse_summaries`: a `loss` summary every 30 steps, a `step N, loss = X` line every 2;
3. `slow_keras`: a loss that falls by about a fifth, steadily: a slow learner;
4. `checkpoint_manager`: `ckpt-1, ckpt-2, ...` numbered by save, holding `step` = 60;
5. `keras_resume`: resumes by reloading `model.keras`, through BackupAndRestore's
   `backup/`, or from `weights.<epoch>` files - and, emptying its output first, does not;
6. `logits_xent`: a cross-entropy with an accuracy beside it; one mutant trains on its own
   predictions (the loss falls, the accuracy stays at chance), one takes the log of
   outputs that are not probabilities (the cross-entropy goes negative).

They read `tf1_summaries`'s points (its make_inputs.py); none restores a pretrained file.
"""

from __future__ import annotations

from tests.support.foreign_jobs import (
    FAILED,
    NA,
    WARNING,
    ForeignJob,
    Mutant,
    _failing,
    _verdicts,
)

POINTS = "--train_file=/points.npz"


def _job(
    name: str,
    params: str,
    step_flag: str,
    code: str | None = None,
    mutants: dict[str, Mutant] | None = None,
    **verdicts: str,
) -> ForeignJob:
    return ForeignJob(
        name=name,
        train_params=params,
        step_flag=step_flag,
        pretrained_file=None,
        make_inputs_pretrained_flag=None,
        verdicts=_verdicts(pretrained_restore=NA, **verdicts),
        mutants=mutants or {},
        code=code,
        inputs_from="tf1_summaries",
    )


_XENT = "tf.reduce_sum(y * tf.math.log(tf.clip_by_value(outputs, 1e-7, 1.0)), axis=1)"
_SELF_LABELLED = _XENT.replace("y * ", "tf.one_hot(tf.argmax(outputs, 1), 4) * ")
_NOT_PROBABILITIES = _XENT.replace(
    "tf.clip_by_value(outputs, 1e-7, 1.0)", "tf.maximum(model(x), 1e-7)"
)
_KERAS_RESUME = f"{POINTS} --epochs=6"

BEHAVIOUR_JOBS = {
    job.name: job
    for job in (
        _job("named_cost", f"{POINTS} --epochs=12", "epochs"),
        # Summaries (and so the loss events) beside the checkpoints: log_dir stays empty.
        _job("sparse_summaries", f"{POINTS} --max_steps=60", "max_steps", path_contract=WARNING),
        _job("slow_keras", "--train-file=/points.npz --epochs=16", "epochs", resume=WARNING),
        _job("checkpoint_manager", f"{POINTS} --train_steps=60", "train_steps"),
        _job("keras_resume", _KERAS_RESUME, "epochs"),
        _job(
            "keras_resume_backup", f"{_KERAS_RESUME} --resume_with=backup", "epochs", "keras_resume"
        ),
        _job(
            "keras_resume_epochs", f"{_KERAS_RESUME} --resume_with=epochs", "epochs", "keras_resume"
        ),
        # Emptying output_dir first, it starts over: beside its backup folder, a failure.
        _job(
            "keras_resume_backup_overwrite",
            f"{_KERAS_RESUME} --resume_with=backup --overwrite_output_dir",
            "epochs",
            "keras_resume",
            resume=FAILED,
        ),
        # Nothing in log_dir; no resume logic.
        _job(
            "logits_xent",
            f"{POINTS} --steps=40",
            "steps",
            mutants={
                "trains_on_its_own_predictions": Mutant(
                    "train.py", _XENT, _SELF_LABELLED, _failing("loss_decrease")
                ),
                "log_of_outputs_not_probabilities": Mutant(
                    "train.py", _XENT, _NOT_PROBABILITIES, _failing("loss_decrease")
                ),
            },
            path_contract=WARNING,
            resume=WARNING,
        ),
    )
}
BEHAVIOUR_MUTANTS = [(job.name, m) for job in BEHAVIOUR_JOBS.values() for m in job.mutants]
