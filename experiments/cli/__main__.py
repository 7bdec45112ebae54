"""``python -m experiments.cli ...`` == ``ntkcomp ...``."""
import sys

from experiments.cli import main

sys.exit(main())
