"""Recomputes, with NumPy alone, the energies that `train_ring8 ... OUT_DIR` wrote.

    python3 ebm-train/examples/check_npz.py OUT_DIR

Reads OUT_DIR/model.npz (the network 2-128-128-1 with SiLU, PyTorch's parameter names and layout),
evaluates it in float64 on OUT_DIR/points.npy and compares with OUT_DIR/energies.npy, which the Rust
side computed in float32: they must agree to 1e-5 relative to max(1, |E|), the float32 rounding of
energies that reach a few tens away from the data.
"""
import sys

import numpy as np


def silu(z):
    return z / (1.0 + np.exp(-z))


def main(out_dir):
    p = np.load(f"{out_dir}/model.npz")
    names = sorted(p.files)
    x = np.load(f"{out_dir}/points.npy").astype(np.float64)
    e_rust = np.load(f"{out_dir}/energies.npy").astype(np.float64)
    w = {k: p[k].astype(np.float64) for k in names}
    h = silu(x @ w["0.weight"].T + w["0.bias"])
    h = silu(h @ w["2.weight"].T + w["2.bias"])
    e = (h @ w["4.weight"].T + w["4.bias"])[:, 0]
    err = np.abs(e - e_rust)
    rel = (err / np.maximum(1.0, np.abs(e))).max()
    print("parameters:", ", ".join(f"{k} {p[k].shape}" for k in names))
    print(f"{len(e)} points, energies from {e.min():.3f} to {e.max():.3f}:")
    print(f"  max |E_numpy - E_rust| = {err.max():.2e}, max of |E_numpy - E_rust| / max(1, |E|) = {rel:.2e}")
    if not rel < 1e-5:
        sys.exit("energies differ by more than 1e-5 (relative to max(1, |E|))")


if __name__ == "__main__":
    main(sys.argv[1])
