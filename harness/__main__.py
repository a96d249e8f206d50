"""`python -m harness` is the `uai-harness` command."""

import sys

from harness.cli import main

sys.exit(main())
