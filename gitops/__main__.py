"""``python -m gitops``: the same entry point as the ``gitops`` command."""

import sys

from gitops.cli.main import main

sys.exit(main())
