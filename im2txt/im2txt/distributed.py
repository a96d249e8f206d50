"""Asynchronous parameter-server training across a UAI-Train cluster, on tf.distribute.

UAI-Train starts train.py on every node of a distributed job, each with a
TF_CONFIG naming its task. The chief ("master") is the coordinator of
tf.distribute.experimental.ParameterServerStrategy: it creates the variables on
the ps tasks, restores or resumes them, dispatches training steps to the workers
through a ClusterCoordinator and is the only task that writes anything
(checkpoints, metrics, events). ps and worker tasks run a tf.distribute.Server
and serve the chief until SIGTERM.

Each step is one worker's batch of --batch_size images, applied to the ps
variables as soon as that worker has computed it, without waiting for the
others; --number_of_steps and the learning-rate schedule count these steps as
single-node training does. The coordinator reschedules the steps of a worker
that fails, so training goes on with the others; a ps failure ends the job.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import tensorflow as tf

from im2txt import cluster as cluster_config
from im2txt import training
from im2txt.captioning_task import TrainStep
from im2txt.configuration import ModelConfig, TrainingConfig
from im2txt.ops import inputs
from im2txt.show_and_tell_model import ShowAndTellModel
from im2txt.stop_request import StopRequest
from im2txt.train_options import (
    TrainingError,
    TrainOptions,
    check_mixed_precision,
    resolve_input_files,
    seed_tensorflow,
)
from im2txt.training_inputs import WorkerBatches

# Steps kept scheduled per worker, so a worker never waits for the chief's next step.
STEPS_IN_FLIGHT_PER_WORKER = 2
_SERVER_POLL_S = 0.2
_PS_TASK = re.compile(r"/job:ps/replica:0/task:(\d+)")

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class ClusterOptions:
    """The cluster of this task and how long the chief waits on it."""

    cluster: cluster_config.Cluster
    wait_secs: float  # for every ps and worker to accept connections at start
    stall_secs: float  # for the next training step to finish


def serve(cluster: cluster_config.Cluster, stop: StopRequest) -> int:
    """Run this ps or worker task's server until SIGTERM; return the exit status 0."""
    task = cluster.task
    try:
        server = tf.distribute.Server(
            tf.train.ClusterSpec(cluster.spec()),
            job_name=task.role,
            task_index=task.index,
            protocol="grpc",
            start=True,
        )
    except (tf.errors.OpError, ValueError) as err:
        raise TrainingError(f"cannot start the server of {task}: {err}") from err
    print(
        f"Serving as {task} ({server.target}) for the chief at {cluster.chief}; "
        "SIGTERM stops this task",
        flush=True,
    )
    while not stop.requested:
        time.sleep(_SERVER_POLL_S)
    print(f"SIGTERM received: {task} stops serving", flush=True)
    return 0


def train_chief(
    options: TrainOptions,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    cluster_options: ClusterOptions,
    stop: StopRequest,
) -> int:
    """Coordinate the cluster's training up to `options.target_step`; return the final step.

    Refuses what cannot work before waiting on the cluster: settings that need
    single-node training, fewer input files than workers, unwritable folders.
    Raises TrainingError naming the task, file or step at fault.
    """
    job = training.TrainingJob(options, model_config, training_config, stop)
    return training.run(job, ClusterTraining(cluster_options))


class ClusterTraining:
    """The TrainingVariant of the chief: variables on the ps tasks, steps on the workers.

    The chief alone runs the loop, so it alone writes checkpoints, metrics and events.
    """

    def __init__(self, cluster_options: ClusterOptions) -> None:
        self._cluster_options = cluster_options
        self._cluster = cluster_options.cluster
        self._strategy: tf.distribute.Strategy | None = None
        self._coordinator: tf.distribute.experimental.coordinator.ClusterCoordinator | None = None

    def check(self, job: training.TrainingJob) -> None:
        """Refuse settings cluster training cannot hold, then seed."""
        _check_cluster_settings(job.options, len(self._cluster.workers))
        seed_tensorflow(job.options)

    def strategy(self) -> tf.distribute.Strategy:
        """Join the cluster as its coordinator, once every ps and worker answers."""
        self._strategy, self._coordinator = _join_cluster(
            self._cluster, self._cluster_options.wait_secs
        )
        if self._strategy.num_replicas_in_sync != 1:
            raise TrainingError(
                f"each worker has {self._strategy.num_replicas_in_sync} GPUs; cluster training "
                "runs one replica per worker (give each worker task one GPU)"
            )
        return self._strategy

    def step_runner(
        self, job: training.TrainingJob, model: ShowAndTellModel, train_step: TrainStep
    ) -> training.StepRunner:
        """Steps scheduled on the workers, each reading its own worker's pipeline."""
        assert self._strategy is not None and self._coordinator is not None, "strategy() joins"
        workers = len(self._cluster.workers)
        batches = WorkerBatches(
            job.options, job.model_config, self._strategy, self._coordinator, workers
        )

        @tf.function
        def worker_step(iterator):
            return train_step(next(iterator))

        return _ScheduledSteps(
            self._coordinator,
            worker_step,
            batches,
            global_step=lambda: int(model.global_step.numpy()),
            window=STEPS_IN_FLIGHT_PER_WORKER * workers,
            stall=_StallGuard(self._cluster, self._cluster_options.stall_secs),
            ps=self._cluster.ps,
        )


def _check_cluster_settings(options: TrainOptions, num_workers: int) -> None:
    """Refuse flags that cannot hold in asynchronous cluster training."""
    if options.deterministic:
        raise TrainingError(
            "--deterministic cannot hold in cluster training: workers apply their steps "
            "in whatever order they finish (run single-node for identical losses)"
        )
    check_mixed_precision(options)
    files = resolve_input_files(options)
    if len(files) < num_workers:
        raise TrainingError(
            f"--input_file_pattern matches {len(files)} file(s) but TF_CONFIG names "
            f"{num_workers} workers; each worker reads its own files, so give at least "
            "one input shard per worker"
        )


def _join_cluster(
    cluster: cluster_config.Cluster, wait_secs: float
) -> tuple[tf.distribute.Strategy, tf.distribute.experimental.coordinator.ClusterCoordinator]:
    """Wait up to `wait_secs` for every ps and worker, then connect as the coordinator."""
    print(f"Waiting up to {wait_secs:g} s for the cluster's ps and worker tasks", flush=True)
    missing = cluster_config.unreachable(cluster.servers(), wait_secs)
    if missing:
        raise TrainingError(
            f"{cluster_config.ENV_VAR} task(s) not reachable after {wait_secs:g} s "
            f"(--cluster_wait_secs): {', '.join(map(str, missing))}"
        )
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster.spec()),
        task_type=cluster_config.CHIEF,
        task_id=0,
        rpc_layer="grpc",
    )
    try:
        strategy = tf.distribute.experimental.ParameterServerStrategy(resolver)
        coordinator = tf.distribute.experimental.coordinator.ClusterCoordinator(strategy)
    except (tf.errors.OpError, ValueError) as err:
        raise TrainingError(f"cannot join the cluster as {cluster.task}: {err}") from err
    print(
        f"Coordinating {len(cluster.workers)} worker(s) and {len(cluster.ps)} ps task(s) "
        f"as {cluster.task}",
        flush=True,
    )
    return strategy, coordinator


class _StallGuard:
    """Bounds the chief's wait for a step, naming the workers that stopped answering."""

    def __init__(self, cluster: cluster_config.Cluster, seconds: float) -> None:
        self._cluster = cluster
        self.seconds = seconds

    def wait(self, result: Callable[[], T], what: str) -> T:
        """`result()`, or TrainingError when it has not returned within the bound."""
        return within(self.seconds, result, lambda: self._message(what))

    def _message(self, what: str) -> str:
        workers = [t for t in self._cluster.servers() if t.role == cluster_config.WORKER]
        down = cluster_config.unreachable(workers, 0)
        reason = (
            f"worker task(s) not answering: {', '.join(map(str, down))}"
            if down
            else "every worker answers, so a step is slower than that or a task is stuck"
        )
        return f"{what} did not finish within {self.seconds:g} s (--cluster_stall_secs); {reason}"


def within(seconds: float, result: Callable[[], T], on_timeout: Callable[[], str]) -> T:
    """Return `result()`, or raise TrainingError(on_timeout()) after `seconds`.

    The wait runs in a daemon thread, so a call blocked in TensorFlow's runtime
    (a fetch from a worker that will never answer) cannot keep the process alive.
    """
    outcome: dict[str, object] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = result()
        except BaseException as err:  # Re-raised in the caller's thread.
            outcome["error"] = err
        finally:
            finished.set()

    threading.Thread(target=run, name="bounded-wait", daemon=True).start()
    if not finished.wait(seconds):
        raise TrainingError(on_timeout())
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


class _ScheduledSteps:
    """Keeps training steps scheduled on the workers and hands out their results in order.

    `step` counts the steps finished since the start as the chief receives them;
    whenever the steps in flight have drained it is set to the ps global step,
    which the checkpoints record (a step that a failed worker had already
    applied runs again elsewhere and may count twice there).
    """

    overlapping_steps = True  # Up to `window` steps run at once on the workers.

    def __init__(
        self,
        coordinator: tf.distribute.experimental.coordinator.ClusterCoordinator,
        worker_step: Callable,
        batches: WorkerBatches,
        global_step: Callable[[], int],
        window: int,
        stall: _StallGuard,
        ps: tuple[str, ...],
    ) -> None:
        self._coordinator = coordinator
        self._ps = ps
        self._worker_step = worker_step
        self.batches = batches
        self._global_step = global_step
        self._window = window
        self._stall = stall
        self._pending: collections.deque = collections.deque()
        self.step = global_step()

    def next(self, until: int) -> tuple[float, float]:
        """(loss, learning rate) of the next step, keeping steps up to `until` scheduled.

        A failed step surfaces at the next schedule or fetch, whichever comes first.
        """
        while True:
            try:
                # At least one, even when a recovery's drain left the step at `until` already.
                while not self._pending or (
                    len(self._pending) < self._window and self.step + len(self._pending) < until
                ):
                    self._pending.append(
                        self._coordinator.schedule(self._worker_step, args=(self.batches.iterator,))
                    )
                value = self._pending.popleft()
                loss, rate = self._stall.wait(value.fetch, f"training step {self.step + 1}")
            except tf.errors.OpError as err:
                self._fail_or_recover(err)
                self.drain()
                continue
            self.step += 1
            return float(loss), float(rate)

    def drain(self) -> int:
        """Wait for the steps in flight; return the global step they leave behind."""
        self._stall.wait(self._coordinator.join, "the steps in flight")
        self._pending.clear()
        self.step = self._global_step()
        return self.step

    def _fail_or_recover(self, err: tf.errors.OpError) -> None:
        """Raise TrainingError naming what failed, unless a bad image can be skipped."""
        step = self.step + 1
        match = _PS_TASK.search(str(err))
        if isinstance(err, tf.errors.UnavailableError) and match:
            ps = cluster_config.Task(cluster_config.PS, int(match[1]), self._ps[int(match[1])])
            raise TrainingError(
                f"parameter server {ps} failed or became unreachable at global step {step}: "
                f"{inputs.tf_error_message(err)}"
            ) from err
        if "IteratorGetNext" not in str(err):
            raise TrainingError(
                f"training step {step} failed: {inputs.tf_error_message(err)}"
            ) from err
        self.batches.recover(err, self.step)
