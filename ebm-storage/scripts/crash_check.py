#!/usr/bin/env python3
"""Stops a program that writes an ebm store before each of its file operations in turn, and checks
after every stop that zarr-python, xarray (with and without consolidated metadata) and ArviZ open
the store as one consistent state holding the first draws of the uninterrupted run, then that
running the program again completes the store to the uninterrupted run's bytes.

    python3 crash_check.py WORKDIR PROGRAM [ARGS...]

PROGRAM ARGS must write the store at the path given by the placeholder {store} among ARGS and
resume it when run again (the documented pattern; `long_run {store} --short` does). The stop
points are counted by ebm-storage itself (the EBM_STORAGE_CRASH_AT environment variable).
Needs numpy, zarr, numcodecs, xarray and arviz. ArviZ before 1.0 needs zarr 2; with zarr 3 the
store is opened through xarray's DataTree instead.
"""

import os
import shutil
import signal
import subprocess
import sys
import warnings

import numpy as np
import xarray as xr
import zarr

warnings.filterwarnings("ignore")
import arviz as az  # noqa: E402

GROUPS = ["posterior", "sample_stats", "warmup_posterior", "warmup_sample_stats"]
ZARR3 = int(zarr.__version__.split(".")[0]) >= 3


def run(cmd, store, crash_at=None):
    env = dict(os.environ)
    env.pop("EBM_STORAGE_CRASH_AT", None)
    if crash_at is not None:
        env["EBM_STORAGE_CRASH_AT"] = str(crash_at)
    args = [a.replace("{store}", store) for a in cmd]
    p = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode == 0:
        return True
    if crash_at is not None and p.returncode == -signal.SIGABRT:
        return False
    sys.exit(f"{' '.join(args)} failed ({p.returncode}): {p.stderr.decode()[-2000:]}")


def read_all(store):
    """Every group as every reader sees it; raises on any inconsistency."""
    seen = {}
    for consolidated in (True, False):
        for g in GROUPS:
            ds = xr.open_zarr(store, group=g, consolidated=consolidated).load()
            key = (g, consolidated)
            seen[key] = ds
    for g in GROUPS:
        a, b = seen[(g, True)], seen[(g, False)]
        assert a.identical(b), f"{g}: consolidated and per-array metadata differ"
    for phase in ("", "warmup_"):
        npost = seen[(phase + "posterior", True)].sizes["draw"]
        nstat = seen[(phase + "sample_stats", True)].sizes["draw"]
        assert npost == nstat, f"{phase}posterior has {npost} draws, {phase}sample_stats {nstat}"
    root = zarr.open_group(store, mode="r")
    raw = {g: root[g]["x" if "posterior" in g else "lp"][...] for g in GROUPS}
    if ZARR3:
        idata = az.InferenceData.from_datatree(xr.open_datatree(store, engine="zarr"))
    else:
        idata = az.from_zarr(store)
    assert set(GROUPS) <= set(idata.groups()), idata.groups()
    for g in GROUPS:
        assert np.array_equal(getattr(idata, g)["x" if "posterior" in g else "lp"].values, raw[g])
    return {g: seen[(g, True)] for g in GROUPS}


def is_prefix(part, whole):
    for g in GROUPS:
        n = part[g].sizes["draw"]
        for name in part[g].data_vars:
            a = part[g][name].values
            b = whole[g][name].isel(draw=slice(0, n)).values
            if not np.array_equal(a, b):
                return False
    return True


def logical_files(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".ebm_commits"]
        for f in filenames:
            if f.endswith(".tmp"):
                continue
            p = os.path.join(dirpath, f)
            if os.path.exists(p):
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, root)] = fh.read()
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    work, cmd = sys.argv[1], sys.argv[2:]
    os.makedirs(work, exist_ok=True)
    whole = os.path.join(work, "whole.zarr")
    shutil.rmtree(whole, ignore_errors=True)
    assert run(cmd, whole)
    final = read_all(whole)
    final_files = logical_files(whole)
    store = os.path.join(work, "killed.zarr")
    states, stops, n = set(), 0, 0
    while True:
        n += 1
        shutil.rmtree(store, ignore_errors=True)
        if run(cmd, store, n):
            break
        stops += 1
        if os.path.isdir(store) and os.listdir(store):
            seen = read_all(store)
            assert is_prefix(seen, final), f"stop {n}: draws that are not the run's"
            states.add(tuple(seen[g].sizes["draw"] for g in ("warmup_posterior", "posterior")))
        assert run(cmd, store), f"resume after stop {n} failed"
        assert logical_files(store) == final_files, f"stop {n}: resumed store differs"
        if n % 50 == 0:
            print(f"  {n} stops checked", flush=True)
    print(
        f"zarr {zarr.__version__}, xarray {xr.__version__}, arviz {az.__version__}: "
        f"{stops} stops, every state consistent for every reader, a prefix of the run, and "
        f"resumed to the same bytes; committed states (warm-up, sampling draws): {sorted(states)}"
    )


if __name__ == "__main__":
    main()
