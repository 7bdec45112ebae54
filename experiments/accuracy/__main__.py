"""``python -m experiments.accuracy NAME [options]``: run one accuracy experiment.

NAME is ``mnist``, ``cifar``, ``gmm-gap``, ``both-kernels`` or ``report`` (the markdown
write-up of the committed results).
"""
from __future__ import annotations

import importlib
import sys

COMMANDS = {"mnist": "experiments.accuracy.mnist", "cifar": "experiments.accuracy.cifar",
            "gmm-gap": "experiments.accuracy.gmm_gap",
            "both-kernels": "experiments.accuracy.both_kernels",
            "report": "experiments.accuracy.report"}


def main(argv=None) -> int:
    """Dispatch to the experiment module's ``main``.

    Args:
        argv: ``[NAME, options...]``.

    Returns:
        The experiment's exit status (2 for an unknown name).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m experiments.accuracy {{{','.join(COMMANDS)}}} [options]",
              file=sys.stderr)
        return 2
    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
