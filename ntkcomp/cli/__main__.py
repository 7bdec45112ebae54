"""``python -m ntkcomp.cli ...`` == ``ntkcomp ...``."""
import sys

from ntkcomp.cli import main

sys.exit(main())
