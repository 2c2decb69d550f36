"""``python -m gattn`` runs the command line."""

import sys

from gattn.cli import main

sys.exit(main())
