"""Pre-submission test harness for UAI-Train TensorFlow jobs."""

__version__ = "0.1.0"
