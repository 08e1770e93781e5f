"""Recomputes, with NumPy (and PyTorch when installed), the energies that `train_ring8 ... OUT_DIR` wrote.

    python3 ebm-train/examples/check_npz.py OUT_DIR

Reads OUT_DIR/model.npz (the network 2-128-128-1 with SiLU, PyTorch's parameter names and layout),
evaluates it in float64 on OUT_DIR/points.npy and compares with OUT_DIR/energies.npy, which the Rust
side computed in float32: they must agree to 1e-5 relative to max(1, |E|), the float32 rounding of
energies that reach a few tens away from the data. When PyTorch is installed, the parameters are
also loaded into the same network as a `torch.nn.Sequential` and its float32 energies compared.
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
    near = np.abs(e) <= 10.0
    print(f"  the {near.sum()} points with |E| <= 10: max |E_numpy - E_rust| = {err[near].max():.2e}")
    if not rel < 1e-5:
        sys.exit("energies differ by more than 1e-5 (relative to max(1, |E|))")
    try:
        import torch
    except ImportError:
        print("(PyTorch is not installed: the check with torch.nn is skipped)")
        return
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 128), torch.nn.SiLU(), torch.nn.Linear(128, 128), torch.nn.SiLU(),
        torch.nn.Linear(128, 1),
    )
    net.load_state_dict({k: torch.from_numpy(p[k]) for k in names})
    with torch.no_grad():
        e_torch = net(torch.from_numpy(np.load(f"{out_dir}/points.npy"))).squeeze(-1).double().numpy()
    err = np.abs(e_torch - e_rust)
    rel = (err / np.maximum(1.0, np.abs(e_torch))).max()
    print(f"PyTorch {torch.__version__}, float32, the same parameters in torch.nn.Sequential:")
    print(f"  max |E_torch - E_rust| = {err.max():.2e}, max of |E_torch - E_rust| / max(1, |E|) = {rel:.2e}")
    if not rel < 1e-5:
        sys.exit("PyTorch's energies differ by more than 1e-5 (relative to max(1, |E|))")


if __name__ == "__main__":
    main(sys.argv[1])
