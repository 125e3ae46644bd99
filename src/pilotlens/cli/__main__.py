"""`python -m pilotlens.cli ...`, the same as the `pilotlens` command."""
import sys

from . import main

sys.exit(main())
