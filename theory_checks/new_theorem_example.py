"""How to prototype a claim: define a new activation family, get its full check.

Claim tested: the CK and NTK equivalents (docs/theory/equivalents.md) hold for a user-defined
activation sigma_beta(t) = tanh(beta t)/beta + 0.1 t^2 (moments by quadrature, nothing else
to write). Ladder n <= 1024 by default (registered activations use 2-D quadrature for the
exact E_W kernels). Exact-kernel cache is keyed by name: clear it after editing a family.

    python -m theory_checks.new_theorem_example [--quick]
"""
import time

import jax.numpy as jnp

from ntkcomp.activations import Activation, Kind
from theory_checks import _common as C


class SoftClip(Activation):
    """sigma_beta(t) = tanh(beta t) / beta + 0.1 t^2: a new family is one subclass."""

    name = "soft_clip"
    kind = Kind.SMOOTH
    beta: float = 2.0

    def sigma(self, t):
        return jnp.tanh(self.beta * t) / self.beta + 0.1 * t * t


CONFIGS = [(SoftClip(), 1, "mixed"), (SoftClip(), 2, "means")]


def main(argv=None) -> int:
    args, t0 = C.parse_args(__doc__, argv), time.time()
    args.max_n = min(args.max_n, 1024)
    tables = {k: C.run_equivalence(k, args, configs=CONFIGS, err_max_2048=thr)[0]
              for k, thr in (("ck", 0.06), ("ntk", 0.08))}
    C.write_report("new_theorem_example", title="New activation family: soft_clip",
                   claim=__doc__.split("python -m")[0].strip(), args=args, started=t0,
                   criteria="As ck_equivalence / ntk_equivalence (slope <= -0.4; error "
                            "thresholds 0.06 / 0.08 at n = 2048 moved to n_max along n^-1/2).",
                   tables=tables)
    return C.exit_code(tables.values())


if __name__ == "__main__":
    raise SystemExit(main())
