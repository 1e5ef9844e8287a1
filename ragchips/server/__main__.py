"""``python -m ragchips.server``: the same as ``ragchips serve``."""

import sys

from .run import main_serve

sys.exit(main_serve())
