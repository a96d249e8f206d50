"""The training batches, which name the record at fault when the input fails.

A bad record in a week-long job must stop it naming the file and record (or,
with --skip_bad_images, be left out and counted), not with TensorFlow's bare
op error; both the local loop and the cluster's workers read through here.
"""

from __future__ import annotations

from collections.abc import Iterator

import tensorflow as tf
from absl import logging

from im2txt.configuration import ModelConfig
from im2txt.ops import inputs
from im2txt.train_options import TrainingError, TrainOptions


class Batches:
    """The training iterator, which names the record at fault when the input fails.

    With --skip_bad_images, the first undecodable image triggers a scan for all of
    them; the pipeline is rebuilt without those images (starting its order afresh,
    as a resumed job does) and the count is reported. Any other bad record, or a
    pass over the data with no usable record, stops the job.
    """

    def __init__(
        self, options: TrainOptions, model_config: ModelConfig, strategy: tf.distribute.Strategy
    ) -> None:
        self._options = options
        self._config = model_config
        self._strategy = strategy
        self._skipped: list[inputs.BadRecord] = []
        self._dropped_reported = 0
        # A plain host variable (no strategy, no GPU) that the input pipeline counts into.
        with tf.device("/cpu:0"):
            self.dropped_captions = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._iterator = self._make_iterator()

    def _make_iterator(self) -> Iterator[dict[str, tf.Tensor]]:
        dataset = inputs.build_dataset(
            self._options.file_patterns,
            self._config,
            is_training=True,
            seed=self._options.seed,
            skip_images=[bad.image for bad in self._skipped],
            dropped_captions=self.dropped_captions,
        )
        return iter(self._strategy.experimental_distribute_dataset(dataset))

    def next(self, step: int) -> dict[str, tf.Tensor]:
        """The next batch; raises TrainingError naming the bad record or empty data."""
        while True:
            try:
                return next(self._iterator)
            except (StopIteration, tf.errors.OutOfRangeError) as err:
                raise TrainingError(
                    f"the input files ({', '.join(self._options.file_patterns)}) hold no usable "
                    f"record: {int(self.dropped_captions.numpy())} had a caption shorter than "
                    f"2 tokens and {len(self._skipped)} an undecodable image"
                ) from err
            except tf.errors.OpError as err:
                self._skip_or_raise(err, step)

    def _skip_or_raise(self, err: tf.errors.OpError, step: int) -> None:
        where = f"input data error before global step {step + 1}"
        if self._options.skip_bad_images:
            found = list(inputs.find_bad_records(self._options.file_patterns, self._config))
        else:
            found = [inputs.find_undecodable_image(self._options.file_patterns, self._config)]
        found = [bad for bad in found if bad is not None]
        fatal = [bad for bad in found if bad.image is None or not self._options.skip_bad_images]
        if fatal:
            hint = (
                "; pass --skip_bad_images to skip such images" if fatal[0].image is not None else ""
            )
            raise TrainingError(f"{where}: {fatal[0].message}{hint}") from err
        known = {bad.image for bad in self._skipped}
        new = [bad for bad in found if bad.image not in known]
        if not new:  # The scan cannot tell which record failed: report TF's own words.
            raise TrainingError(f"{where}: {inputs.tf_error_message(err)}") from err
        for bad in new:
            logging.warning("Skipping undecodable image (--skip_bad_images): %s", bad.message)
        print(
            f"Skipping {len(new)} undecodable image(s) (--skip_bad_images), first: "
            f"{new[0].message}",
            flush=True,
        )
        self._skipped.extend(new)
        self._iterator = self._make_iterator()

    def report_dropped(self) -> None:
        """Warn when more records were dropped for a caption shorter than 2 tokens."""
        dropped = int(self.dropped_captions.numpy())
        if dropped > self._dropped_reported:
            logging.warning(
                "Dropped %d records so far: caption shorter than 2 tokens (no word to predict)",
                dropped,
            )
            self._dropped_reported = dropped

    def summarise(self) -> None:
        """The end-of-job counts of what the input pipeline left out."""
        if self._skipped:
            print(
                f"Skipped {len(self._skipped)} undecodable image(s) (--skip_bad_images)",
                flush=True,
            )
        dropped = int(self.dropped_captions.numpy())
        if dropped:
            print(
                f"Dropped {dropped} records with a caption shorter than 2 tokens "
                "(counted on every pass over the data)",
                flush=True,
            )


class WorkerBatches(Batches):
    """One input pipeline per worker, each over its own share of the input files.

    The pipelines are built on the workers, so training steps take the iterator
    as an argument rather than a batch from `next()`. The workers do not count
    dropped captions, so the chief's count stays 0 and reports nothing.
    """

    def __init__(
        self,
        options: TrainOptions,
        model_config: ModelConfig,
        strategy: tf.distribute.Strategy,
        coordinator: tf.distribute.experimental.coordinator.ClusterCoordinator,
        num_workers: int,
    ) -> None:
        self._coordinator = coordinator
        self._num_workers = num_workers
        super().__init__(options, model_config, strategy)

    @property
    def iterator(self) -> Iterator[dict[str, tf.Tensor]]:
        """The per-worker iterator that scheduled steps read; rebuilt after a skip."""
        return self._iterator

    def _make_iterator(self) -> Iterator[dict[str, tf.Tensor]]:
        skip_images = [bad.image for bad in self._skipped]

        def dataset_fn(_: tf.distribute.InputContext) -> tf.data.Dataset:
            worker = tf.distribute.coordinator.experimental_get_current_worker_index()
            return inputs.build_dataset(
                self._options.file_patterns,
                self._config,
                is_training=True,
                seed=self._options.seed,
                skip_images=skip_images,
                worker_shard=(self._num_workers, worker),
            )

        per_worker = self._coordinator.create_per_worker_dataset(
            lambda: self._strategy.distribute_datasets_from_function(dataset_fn)
        )
        return iter(per_worker)

    def recover(self, err: tf.errors.OpError, step: int) -> None:
        """Name the record behind a failed step, or skip it (--skip_bad_images) and rebuild."""
        self._skip_or_raise(err, step)
