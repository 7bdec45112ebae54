"""CIFAR-10 binary loader and the CIFAR accuracy pipeline on tiny synthetic files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ntkcomp.data import load_cifar10

FILES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


def _records(rng, n):
    """n records: label byte + 3072 channel-major pixels; class c has a brighter channel
    c % 3 (so a trunk can learn it) and the pixel value encodes (channel, row, col)."""
    labels = rng.integers(0, 10, n).astype(np.uint8)
    img = rng.integers(0, 100, (n, 3, 32, 32)).astype(np.uint8)
    for i, c in enumerate(labels):
        img[i, c % 3] += 120
    return labels, img, np.concatenate([labels[:, None], img.reshape(n, -1)], axis=1)


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cifar")
    rng = np.random.default_rng(0)
    truth = {}
    for name, n in zip(FILES, [20, 20, 20, 20, 20, 40]):
        labels, img, rec = _records(rng, n)
        rec.astype(np.uint8).tofile(d / name)
        truth[name] = (labels, img)
    return d, truth


def test_loader_layout(cifar_dir):
    d, truth = cifar_dir
    x_tr, y_tr, x_te, y_te = load_cifar10(d)
    assert x_tr.shape == (100, 32, 32, 3) and x_tr.dtype == np.uint8
    assert x_te.shape == (40, 32, 32, 3) and y_te.shape == (40,)
    # independent decoding: record i's red plane comes first, pixel (r, c) at r * 32 + c
    lab1, img1 = truth["data_batch_1.bin"]
    np.testing.assert_array_equal(y_tr[:20], lab1)
    np.testing.assert_array_equal(x_tr[3, 5, 7], img1[3, :, 5, 7])
    lab5, img5 = truth["data_batch_5.bin"]
    np.testing.assert_array_equal(x_tr[80:], img5.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_te, truth["test_batch.bin"][0])


def test_missing_files_named(tmp_path):
    (tmp_path / "data_batch_1.bin").write_bytes(bytes(3073))
    with pytest.raises(FileNotFoundError, match="data_batch_2.bin.*never downloads"):
        load_cifar10(tmp_path)
    with pytest.raises(FileNotFoundError, match="test_batch.bin"):
        load_cifar10(tmp_path / "nowhere")


def test_bad_record_size(tmp_path, cifar_dir):
    d, _ = cifar_dir
    for name in FILES:
        (tmp_path / name).write_bytes((d / name).read_bytes())
    (tmp_path / "data_batch_3.bin").write_bytes(bytes(3073 * 2 + 5))
    with pytest.raises(ValueError, match="3073"):
        load_cifar10(tmp_path)
    bad = bytearray((d / "data_batch_3.bin").read_bytes())
    bad[0] = 12
    (tmp_path / "data_batch_3.bin").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="label 12"):
        load_cifar10(tmp_path)


def test_pipeline_end_to_end(cifar_dir, tmp_path):
    from experiments.accuracy import cifar

    d, _ = cifar_dir
    out = tmp_path / "cifar.json"
    assert cifar.main(["--data", str(d), "--epochs", "1", "--channels", "4",
                       "--n-train", "100", "--n-test", "40", "--widths", "32,32,16",
                       "--eps", "0.9", "--seeds", "1", "--steps", "20",
                       "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert out.with_suffix(".png").is_file()
    summary = res["tasks"]["cifar10"]["summary"]
    methods = {(r["method"], r["readout"]) for r in summary}
    assert methods == {(m, ro) for m in ("dense", "ntk_lc", "magnitude", "random")
                       for ro in ("adam", "ridge")}
    assert all(0.0 <= r["acc_mean"] <= 1.0 for r in summary)
    # the sparse methods are compared at the same memory
    bits = {r["method"]: r["bits"] for r in summary if r["eps"] == 0.9}
    assert abs(bits["magnitude"] - bits["ntk_lc"]) / bits["ntk_lc"] < 0.01
    assert bits["random"] == bits["magnitude"]
    # features normalised to the high-dimensional regime
    assert 0.5 < res["tau0"] < 1.5


def test_normalise_features():
    from experiments.accuracy.cifar import normalise_features

    rng = np.random.default_rng(1)
    F = rng.normal(3.0, 2.0, (50, 20))
    Xtr, Xte = normalise_features(F, F[:5])
    np.testing.assert_allclose(Xtr.mean(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.mean(np.sum(Xtr ** 2, 1)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(Xte, Xtr[:5], rtol=1e-6)
