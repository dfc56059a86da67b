"""``python -m watcher.fetch``: the serving pods' init container (see ``model_copy``)."""

import sys

from watcher.fetch.model_copy import main

sys.exit(main())
