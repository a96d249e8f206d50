"""The scenario's phases by name, in the order it runs them.

A phase is one run of a job entry point through the backend (one process, or the whole
cluster). Checks name the phases whose results they judge (`registry`); the scenario
(`harness.scenario`) runs a phase only when a planned check needs it.
"""

PROBE = "image probe"  # the image's interpreter and main file, before any training
TRAIN = "train"  # the job as the platform starts it, scaled to the plan's step target
# A borderline loss trained again from scratch with twice the steps (loss_decrease).
TRAIN_LONGER = "train_longer"
TRAIN_REPEAT = "train_repeat"  # the same training again in a fresh root (reproducible)
EVALUATE_TRUE = "evaluate_true"  # im2txt: evaluation on true (image, caption) pairs
EVALUATE_SHUFFLED = "evaluate_shuffled"  # ... and on images shuffled across captions
RESUME = "resume"  # the job restarted on train's output with a raised step target
RESUME_SINGLE_NODE = "resume_single_node"  # a cluster's checkpoint resumed on one node
INFERENCE = "inference"  # im2txt: beam search on probe images

ORDER = (
    PROBE,
    TRAIN,
    TRAIN_LONGER,
    TRAIN_REPEAT,
    EVALUATE_TRUE,
    EVALUATE_SHUFFLED,
    RESUME,
    RESUME_SINGLE_NODE,
    INFERENCE,
)
