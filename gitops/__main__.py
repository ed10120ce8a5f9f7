"""``python -m gitops``: the same entry point as the ``gitops`` command."""

import sys

from gitops.cli import main

sys.exit(main())
