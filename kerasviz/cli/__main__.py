"""`python -m kerasviz.cli`: the `kerasviz` command."""

import sys

from kerasviz.cli import main

sys.exit(main())
