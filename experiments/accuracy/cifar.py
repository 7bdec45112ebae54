"""The paper's accuracy protocol on CIFAR-10 features of a trained convolutional trunk.

    python -m experiments.accuracy cifar --data DIR            # small run
    python -m experiments.accuracy cifar --data DIR --full     # widths [2000, 2000, 1100]

``DIR`` holds the six standard CIFAR-10 binary files (``data_batch_1.bin`` ...
``data_batch_5.bin``, ``test_batch.bin``; :func:`ntkcomp.data.load_cifar10`, never
downloaded). Steps:

1. a small convolutional trunk (:class:`Trunk`, flax) with a linear classifier on its
   ``features``-dimensional last layer (512) is trained by Adam (optax) on the softmax
   cross-entropy over the training images, keeping the parameters of the epoch with the best
   accuracy on a validation split carved from the training images (the test images are
   never used for training or selection). Written to run on a GPU (JAX uses it when
   installed with ``pip install 'ntkcomp[cuda]'``); on a CPU use few epochs;
2. the trunk's features of ``--n-train`` training and ``--n-test`` test images are centred
   by the training mean and scaled so that the training rows have ``mean_i ||x_i||^2 = 1``
   (``tau0`` of order one: the high-dimensional regime of the theory);
3. the same compression experiment as MNIST (:mod:`experiments.accuracy.sweep`) on these
   features: frozen random hidden layers, dense vs NTK-LC vs pruning at equal memory.

Writes ``--out`` (JSON: trunk accuracies, every row, the summary) and a PNG next to it.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.accuracy import plots, sweep
from ntkcomp.data import estimate_stats, load_cifar10
from ntkcomp.io import versions
from ntkcomp.networks import MLP

__all__ = ["Trunk", "main", "normalise_features", "train_trunk", "trunk_features",
           "write_synthetic_cifar10"]

RESULTS = Path(__file__).resolve().parent / "results"


class Trunk(nn.Module):
    """Convolutional feature trunk: per entry of ``channels`` two 3x3 convolutions with ReLU
    and a 2x2 max pool, then a dense layer of ``features`` units with ReLU.

    Attributes:
        channels: channels of each block.
        features: dimension of the output features.
    """

    channels: tuple = (32, 64, 128)
    features: int = 512

    @nn.compact
    def __call__(self, x):
        """Features ``(n, features)`` of images ``x (n, 32, 32, 3)`` (standardised floats)."""
        for c in self.channels:
            x = nn.relu(nn.Conv(c, (3, 3))(x))
            x = nn.relu(nn.Conv(c, (3, 3))(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        return nn.relu(nn.Dense(self.features)(x.reshape(x.shape[0], -1)))


class _Classifier(nn.Module):
    trunk: Trunk

    @nn.compact
    def __call__(self, x):
        return nn.Dense(10)(self.trunk(x))


def _standardise_images(x, mean, std):
    return (np.asarray(x, np.float32) / 255.0 - mean) / std


def train_trunk(x_train, y_train, *, channels=(32, 64, 128), features: int = 512,
                epochs: int = 10, batch: int = 128, lr: float = 1e-3,
                validation_fraction: float = 0.1, seed: int = 0, log=print) -> dict:
    """Train :class:`Trunk` plus a linear classifier on images; keep the best epoch.

    Args:
        x_train: ``uint8 (n, 32, 32, 3)`` images.
        y_train: labels ``(n,)`` in ``0..9``.
        channels: channels per block of the trunk.
        features: trunk output dimension.
        epochs: passes over the fitted rows, >= 1.
        batch: minibatch size.
        lr: Adam learning rate.
        validation_fraction: fraction of the rows held out to pick the epoch.
        seed: seed of the initialisation, the split and the minibatch order.
        log: progress printer.

    Returns:
        ``{"model", "params", "mean", "std", "val_acc" (per epoch), "best_epoch"}``.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    rng = np.random.default_rng(seed)
    n = x_train.shape[0]
    perm = rng.permutation(n)
    n_val = max(1, int(round(validation_fraction * n)))
    val, fit = perm[:n_val], perm[n_val:]
    mean = (x_train[fit].reshape(-1, 3) / 255.0).mean(0).astype(np.float32)
    std = (x_train[fit].reshape(-1, 3) / 255.0).std(0).astype(np.float32)
    X = _standardise_images(x_train, mean, std)
    y = np.asarray(y_train)
    model = _Classifier(Trunk(tuple(channels), int(features)))
    params = model.init(jax.random.PRNGKey(seed), X[:1])
    opt = optax.adam(lr)
    state = opt.init(params)

    @jax.jit
    def step(params, state, xb, yb):
        def loss(pr):
            return optax.softmax_cross_entropy_with_integer_labels(
                model.apply(pr, xb), yb).mean()
        g = jax.grad(loss)(params)
        upd, state = opt.update(g, state, params)
        return optax.apply_updates(params, upd), state

    predict = jax.jit(lambda pr, xb: jnp.argmax(model.apply(pr, xb), -1))

    def val_accuracy(pr):
        preds = np.concatenate([np.asarray(predict(pr, X[val[i:i + 512]]))
                                for i in range(0, n_val, 512)])
        return float(np.mean(preds == y[val]))

    best, best_acc, best_epoch, accs = params, -1.0, -1, []
    for ep in range(epochs):
        order = fit[rng.permutation(fit.size)]
        for i in range(0, order.size, batch):
            b = order[i:i + batch]
            params, state = step(params, state, X[b], y[b])
        accs.append(val_accuracy(params))
        if accs[-1] > best_acc:
            best, best_acc, best_epoch = params, accs[-1], ep
        log(f"  trunk epoch {ep}: validation accuracy {accs[-1]:.4f}")
    return {"model": model, "params": best, "mean": mean, "std": std, "val_acc": accs,
            "best_epoch": best_epoch}


def trunk_features(trained: dict, x) -> np.ndarray:
    """Trunk features ``(n, features)`` of ``uint8`` images ``x (n, 32, 32, 3)``.

    Args:
        trained: the output of :func:`train_trunk`.
        x: images.

    Returns:
        float32 features.
    """
    model, params = trained["model"], trained["params"]
    f = jax.jit(lambda pr, xb: model.apply(pr, xb, method=lambda m, z: m.trunk(z)))
    X = _standardise_images(x, trained["mean"], trained["std"])
    return np.concatenate([np.asarray(f(params, X[i:i + 512]))
                           for i in range(0, X.shape[0], 512)])


def normalise_features(F_train, F_test):
    """Centre by the training mean and scale so that ``mean_i ||x_i||^2 = 1`` on training rows.

    Args:
        F_train: training features ``(n, p)``.
        F_test: test features ``(m, p)``.

    Returns:
        ``(X_train, X_test)`` (float32).

    Raises:
        ValueError: constant training features.
    """
    mu = F_train.mean(0)
    Xtr, Xte = F_train - mu, F_test - mu
    s = float(np.sqrt(np.mean(np.sum(Xtr ** 2, axis=1))))
    if s == 0.0:
        raise ValueError("the trunk's training features are constant; train it longer")
    return (Xtr / s).astype(np.float32), (Xte / s).astype(np.float32)


def write_synthetic_cifar10(path: Path, n_per_batch: int = 200, n_test: int = 400,
                            seed: int = 0) -> Path:
    """Write six files in the CIFAR-10 binary format with synthetic, learnable images.

    Class ``c`` has a bright horizontal band at rows ``3c .. 3c + 2`` in channel ``c mod 3``
    on uniform noise, so a trunk can learn it. For testing the pipeline only: accuracies on
    these files say nothing about CIFAR-10.

    Args:
        path: directory to create (or reuse).
        n_per_batch: records per training batch file (five files).
        n_test: records in ``test_batch.bin``.
        seed: NumPy seed.

    Returns:
        ``path``.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name, n in zip(names, [n_per_batch] * 5 + [n_test]):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        img = rng.integers(0, 120, (n, 3, 32, 32)).astype(np.uint8)
        for i, c in enumerate(labels):
            img[i, c % 3, 3 * c:3 * c + 3, :] += 120
        rec = np.concatenate([labels[:, None], img.reshape(n, -1)], axis=1)
        rec.astype(np.uint8).tofile(path / name)
    return path


def _subset(n_total, n, rng):
    return np.sort(rng.permutation(n_total)[:min(n, n_total)])


def _parse(argv):
    ap = argparse.ArgumentParser(prog="python -m experiments.accuracy cifar",
                                 description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="directory of the six CIFAR-10 binary files")
    src.add_argument("--synthetic", type=Path, metavar="DIR",
                     help="write small synthetic files in the CIFAR-10 binary format into DIR "
                          "and run on them (a pipeline check, not CIFAR-10)")
    ap.add_argument("--full", action="store_true", help="widths [2000, 2000, 1100]")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--channels", default="32,64,128")
    ap.add_argument("--features", type=int, default=512)
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--widths", default=None, help="hidden widths (default 512,512,256)")
    ap.add_argument("--eps", default="0.5,0.9,0.99")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=200, help="Adam steps of the readout")
    ap.add_argument("--out", type=Path, default=RESULTS / "cifar.json")
    args = ap.parse_args(argv)
    if args.seeds < 1 or args.n_train < 20 or args.n_test < 10:
        raise ValueError("seeds must be >= 1, n-train >= 20 and n-test >= 10, got "
                         f"{args.seeds}, {args.n_train}, {args.n_test}")
    return args


def main(argv=None) -> int:
    """Train the trunk, extract and normalise features, run the compression sweep.

    Args:
        argv: command-line arguments (see ``--help``).

    Returns:
        0.
    """
    args = _parse(argv)
    t0 = time.perf_counter()
    if args.synthetic is not None:
        write_synthetic_cifar10(args.synthetic)
    x_tr, y_tr, x_te, y_te = load_cifar10(args.data or args.synthetic)
    channels = tuple(int(c) for c in args.channels.split(","))
    trained = train_trunk(x_tr, y_tr, channels=channels, features=args.features,
                          epochs=args.epochs, log=lambda m: print(m, flush=True))
    rng = np.random.default_rng(0)
    itr, ite = _subset(len(y_tr), args.n_train, rng), _subset(len(y_te), args.n_test, rng)
    F_tr, F_te = trunk_features(trained, x_tr[itr]), trunk_features(trained, x_te[ite])
    Xtr, Xte = normalise_features(F_tr, F_te)
    ytr, yte = y_tr[itr], y_te[ite]
    tau0 = float(estimate_stats(jnp.asarray(Xtr), jnp.asarray(ytr)).tau0)
    widths = ([2000, 2000, 1100] if args.full else [512, 512, 256]) if args.widths is None \
        else [int(w) for w in args.widths.split(",")]
    eps_list = [float(e) for e in args.eps.split(",")]
    dense = MLP(widths, ["relu"] * len(widths), "gaussian", tau0=tau0)
    res = sweep.design(dense, tau0)
    rows = []
    for s in range(args.seeds):
        rows += sweep.one_seed(dense, res, (jnp.asarray(Xtr), ytr, jnp.asarray(Xte), yte, 10),
                               eps_list, s, steps=args.steps, log=lambda m: print(m, flush=True))
    result = {"config": {"data": "synthetic" if args.synthetic else str(args.data),
                         "widths": widths, "eps": eps_list, "seeds": args.seeds,
                         "epochs": args.epochs, "channels": list(channels),
                         "features": args.features, "n_train": int(len(itr)),
                         "n_test": int(len(ite)), "steps": args.steps},
              "trunk": {"val_acc": trained["val_acc"], "best_epoch": trained["best_epoch"]},
              "tau0": tau0, "design": {"feasible": bool(res.feasible),
                                       "identity_shift_ck": float(res.identity_shift)},
              "tasks": {"cifar10": {"rows": rows, "summary": sweep.summarise(rows)}},
              "seconds": time.perf_counter() - t0, "device": str(jax.devices()[0]),
              "versions": versions()}
    plots.write_result(args.out, result, plots.accuracy_memory(
        result, title=f"CIFAR-10 trunk features, widths {widths}"))
    print(f"wrote {args.out} ({result['seconds']:.0f} s)")
    return 0
