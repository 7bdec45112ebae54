"""Paper-size spectra for the figures' ``--full`` runs (n = 8000 and beyond).

At the paper's sizes no dense eigendecomposition is needed:

- exact weight averages ``E_W[K]`` in closed form (``ntkcomp.kernels.expected_kernels``,
  float64: one Gram product plus entrywise maps), never Monte Carlo;
- densities by stochastic Lanczos quadrature (``ntkcomp.spectral.spectrum(method="slq")``,
  :data:`SLQ` probes and steps) in float32, on the structured equivalent directly (its
  products cost one pass over its factors) and on dense ``E_W`` kernels;
- a single finite-width network's ``CK_L`` from its ``d_L x d_L`` Gram (``method="gram"``:
  the exact nonzero eigenvalues, float32 features);
- Monte Carlo averages of ``CK_L`` over weight draws as one float32 GEMM per draw
  accumulated on the device (:func:`mc_ck`), the draws in chunks;
- relative operator-norm errors in float64 (:func:`relative_error`: ARPACK driving
  products on the device).

Accuracy of float32 here: the SLQ nodes carry a relative rounding of about ``1e-6`` of the
largest eigenvalue and the Rademacher probes a sampling error in W1 of about
``(spectral range) / sqrt(n num_probes)`` (``3e-3`` of the range at n = 8000 with 20
probes); both are far below the histogram bins (1/60 of the range) and the equivalence
errors the figures show (a few percent). A ReLU or step pre-activation within float32
rounding of a kink changes one feature entry of one sample, invisible in a spectrum.
"""
from __future__ import annotations

import time
from typing import Any, NamedTuple

import numpy as np

#: SLQ settings of the paper-size runs: 20 Rademacher probes, 100 Lanczos steps each
SLQ = {"num_probes": 20, "num_steps": 100}


class Timer:
    """Seconds per named step of one point (``timer("step")`` closes the previous step)."""

    def __init__(self):
        self.t = time.perf_counter()
        self.seconds: dict = {}

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self.t, 3)
        self.t = now


class PaperNetwork(NamedTuple):
    """The inputs of one paper-size point: the data split, its training sample, the dense
    network and one float32 draw of its weights (see :func:`paper_network`)."""
    data: Any
    sample: Any
    net: Any
    params: Any
    X32: Any


def paper_network(cfg: dict) -> PaperNetwork:
    """Data and network of a point ``cfg`` (keys ``data``, ``n``, ``p``, ``K``, ``seed``,
    ``widths``, ``activations``): the split of ``experiments.harness.pipeline.load_data``,
    the dense MLP with ``cfg["activations"]`` in every layer at the sample's ``tau0``, one
    float32 draw of its weights (key ``cfg["seed"] + 1``) and the float32 inputs ``X32``."""
    import jax
    import jax.numpy as jnp

    from experiments.harness.pipeline import dense_network, load_data

    data = load_data(cfg["data"], cfg["n"], cfg["p"], K=cfg["K"], seed=cfg["seed"])
    s = data.train
    widths = list(cfg["widths"])
    net = dense_network(widths, cfg["activations"] * len(widths), float(s.stats.tau0))
    params = net.init(jax.random.PRNGKey(cfg["seed"] + 1), data.p, dtype=jnp.float32)
    return PaperNetwork(data, s, net, params, jnp.asarray(s.X, jnp.float32))


def measure(K, seed: int, method: str = "slq"):
    """Spectral measure of a matrix or operator ``K`` (n x n): SLQ in float32 (``SLQ``
    settings, probes from ``seed``) or ``method="gram"`` for a Gram-only ``CK_L``."""
    import jax
    import jax.numpy as jnp

    from ntkcomp.spectral import spectrum

    if method == "gram":
        return spectrum(K, method="gram", bins=200)
    return spectrum(K, method="slq", key=jax.random.PRNGKey(seed), bins=200,
                    dtype=jnp.float32, **SLQ)


def store(arrays: dict, name: str, m) -> None:
    """Put a measure's atoms in ``arrays[name]`` and weights in ``arrays[name + "_w"]``."""
    arrays[name] = np.asarray(m.nodes, np.float64).ravel()
    arrays[name + "_w"] = np.asarray(m.weights, np.float64).ravel()


def stored(arrays: dict, name: str):
    """Eigenvalues ``arrays[name]``, or a measure (atoms with weights) when
    ``arrays[name + "_w"]`` exists (drawn as a weighted histogram)."""
    from ntkcomp.spectral import SpectralMeasure

    nodes = np.asarray(arrays[name], np.float64)
    if name + "_w" not in arrays:
        return nodes
    w = np.asarray(arrays[name + "_w"], np.float64)
    return SpectralMeasure(nodes, w / w.sum(), None, None, "dense", nodes.size, {})


def shifted(m, delta: float):
    """The measure (or eigenvalues) of ``K - delta I``."""
    if isinstance(m, np.ndarray):
        return m - delta
    return m._replace(nodes=np.asarray(m.nodes) - delta)


def mc_ck(net, X, key, draws: int, *, chunk: int = 4):
    """Monte Carlo average of ``CK_L = H_L H_L^T`` over ``draws`` networks, float32.

    Args:
      net: an ``ntkcomp.networks.MLP``; X: ``(n, p)``; key: PRNG key of the draws.
      draws: number of networks (>= 1); chunk: draws per compiled step.
    Returns:
      ``(n, n)`` float32 device array, the mean of the draws' ``CK_L``.
    """
    import jax
    import jax.numpy as jnp

    X = jnp.asarray(X, jnp.float32)
    n, p = X.shape

    @jax.jit
    def add(acc, keys):
        def one(acc, k):
            params = net.init(k, p, dtype=jnp.float32)
            H = net.preactivations_and_features(params, X)[1][-1].astype(jnp.float32)
            return acc + jnp.matmul(H, H.T, precision=jax.lax.Precision.HIGHEST), None

        return jax.lax.scan(one, acc, keys)[0]

    keys = jax.random.split(key, draws)
    with jax.enable_x64(False):          # every constant of the forward pass in float32
        acc = jnp.zeros((n, n), jnp.float32)
        for s in range(0, draws, chunk):
            acc = add(acc, keys[s:s + chunk])
    return acc / draws


def relative_error(K, K_ref) -> float:
    """``||K - K_ref||_2 / ||K_ref||_2`` of two symmetric ``(n, n)`` matrices, float64:
    :func:`ntkcomp.spectral.operator_norm` driven by one compiled matrix-vector product on
    the device (ARPACK from products only), so the matrices never travel to the host."""
    import jax
    import jax.numpy as jnp

    from ntkcomp.spectral import operator_norm

    R = jnp.asarray(K_ref, jnp.float64)
    D = jnp.asarray(K, jnp.float64) - R
    mv = jax.jit(lambda M, v: jnp.matmul(M, v, precision=jax.lax.Precision.HIGHEST))
    n = R.shape[0]

    def norm(M) -> float:
        return operator_norm(lambda v: mv(M, jnp.asarray(v, jnp.float64)), n, dense_max=0)

    return norm(0.5 * (D + D.T)) / norm(0.5 * (R + R.T))


def cost_model(parts: dict, device: str) -> str:
    """Honest time estimate text from FLOP counts ``parts`` (name -> FLOPs): 2-core CPU at
    the rate measured for the mid-size runs, a GPU at an effective float32/float64 rate
    plus compilation."""
    total = sum(parts.values())
    cpu_s = total / CPU_FLOPS + CPU_FIXED_S
    gpu_s = total / GPU_FLOPS + GPU_COMPILE_S
    detail = ", ".join(f"{k} {v / 1e12:.2f}" for k, v in parts.items())
    return (f"{total / 1e12:.1f} TFLOP in all ({detail} TFLOP): about {cpu_s / 60:.0f} "
            f"minutes on 2 idle CPU cores (model: {CPU_FLOPS / 1e9:.0f} GFLOP/s effective "
            f"+ {CPU_FIXED_S:.0f} s fixed, from the n = 2000 runs' CPU time; a shared machine "
            f"is several times slower), about {gpu_s / 60:.1f} minutes on one H100 ({GPU_FLOPS / 1e12:.0f} "
            f"TFLOP/s effective + {GPU_COMPILE_S:.0f} s compilation; never run there yet)"
            f" [{device}]")


#: effective rates of the cost model (see :func:`cost_model`)
CPU_FLOPS = 15e9
CPU_FIXED_S = 30.0
GPU_FLOPS = 5e12
GPU_COMPILE_S = 60.0
