"""``python -m gattn.bench``: the same as ``gattn bench``."""

import sys

from gattn.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))
