"""``python -m watcher`` is the same as ``gitops-watcher``."""

import sys

from watcher.commands.cli import main

sys.exit(main())
