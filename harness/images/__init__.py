"""The job's images - base image, wheelhouse, build - made online or offline by themselves."""

from harness.images.job_image import BuiltImage, ensure_job_image

__all__ = ["BuiltImage", "ensure_job_image"]
