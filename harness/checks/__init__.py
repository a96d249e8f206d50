"""Named checks of a finished run; each returns a CheckResult with its evidence."""

from harness.checks.inference import check_inference
from harness.checks.learning import check_image_dependence, check_loss_decrease
from harness.checks.paths import check_path_contract
from harness.checks.restore import check_pretrained_restore
from harness.checks.resume import check_resume

__all__ = [
    "check_image_dependence",
    "check_inference",
    "check_loss_decrease",
    "check_path_contract",
    "check_pretrained_restore",
    "check_resume",
]
