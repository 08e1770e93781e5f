//! `cargo xtask cuda-bundle`: builds the device check and the guide's examples with dfdx's `cuda`
//! feature on a machine without a GPU or a CUDA install, and packs them with a `run.sh` for a GPU
//! machine.
//!
//! The toolchain comes from NVIDIA's pip wheels, pinned to CUDA 13.0 (a newer `nvcc` emits PTX that
//! driver 580 rejects). dfdx's build script also wants `nvidia-smi` (for the compute capability),
//! and the binaries link against `libcuda.so.1`, so a stand-in script and a stub library whose every
//! entry point fails serve the build; the GPU machine's own driver is used at run time.
//!
//! Two absolute paths end up inside the binaries: the CUDA include folder (NVRTC compiles a few
//! kernels at run time and includes `cuda_fp16.h`) and dfdx's build output folder (its `.cuh`
//! headers). Everything is therefore built under the fixed root `/tmp/ebm-cuda`, and `run.sh`
//! recreates both folders there from the bundle before it runs anything.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The fixed build root; `run.sh` recreates the baked paths under it on the GPU machine.
const ROOT: &str = "/tmp/ebm-cuda";

/// The pinned wheels.
const WHEELS: &[&str] = &[
    "nvidia-cuda-nvcc==13.0.88",
    "nvidia-nvvm==13.0.88",
    "nvidia-cuda-runtime==13.0.96",
    "nvidia-cuda-crt==13.0.88",
    "nvidia-cuda-cccl==13.0.85",
    "nvidia-cuda-nvrtc==13.0.88",
    "nvidia-cublas==13.0.2.14",
];

/// Compute capability of the target GPU (H100 and H200: 9.0).
const COMPUTE_CAP: &str = "90";

/// Binaries in the bundle.
const EXAMPLES: &[&str] = &[
    "device_check",
    "langevin_basic",
    "hmc_basic",
    "langevin_trajectory",
];

fn sh(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("cuda-bundle: unknown argument `{a}`"));
    }
    let root = PathBuf::from(ROOT);
    let cuda = root.join("cuda");
    let wheels = root.join("wheels");
    std::fs::create_dir_all(&wheels).map_err(|e| e.to_string())?;

    // 1. The toolchain from pinned wheels.
    if !cuda.join("bin/nvcc").is_file() {
        println!("cuda-bundle: fetching {} wheels", WHEELS.len());
        let mut pip = Command::new("python3");
        pip.args(["-m", "pip", "download", "--no-deps", "-q", "-d"])
            .arg(&wheels)
            .args(WHEELS);
        sh(&mut pip)?;
        let unpacked = root.join("unpacked");
        for entry in std::fs::read_dir(&wheels).map_err(|e| e.to_string())? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.extension().is_some_and(|e| e == "whl") {
                sh(Command::new("python3")
                    .args(["-m", "zipfile", "-e"])
                    .arg(&path)
                    .arg(&unpacked))?;
            }
        }
        sh(Command::new("cp")
            .arg("-a")
            .arg(unpacked.join("nvidia/cu13/."))
            .arg(&cuda))
        .or_else(|_| {
            std::fs::create_dir_all(&cuda).map_err(|e| e.to_string())?;
            sh(Command::new("cp")
                .arg("-a")
                .arg(unpacked.join("nvidia/cu13/."))
                .arg(&cuda))
        })?;
        // Wheels drop the executable bits and the unversioned library names.
        sh(Command::new("sh").arg("-c").arg(format!(
            "chmod +x {c}/bin/* {c}/nvvm/bin/* && ln -sfn lib {c}/lib64 && cd {c}/lib && \
             for f in *.so.*; do b=${{f%%.so.*}}; [ -e $b.so ] || ln -s $f $b.so; done",
            c = cuda.display()
        )))?;
    }

    // 2. Stand-ins: nvidia-smi for the build script, a stub libcuda for the linker.
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    write(
        &bin.join("nvidia-smi"),
        &format!(
            "#!/bin/sh\n# Build-time stand-in: reports the target GPU's compute capability.\necho compute_cap\necho {}.{}\n",
            &COMPUTE_CAP[..1],
            &COMPUTE_CAP[1..]
        ),
    )?;
    sh(Command::new("chmod").arg("+x").arg(bin.join("nvidia-smi")))?;
    let stub = root.join("stub");
    std::fs::create_dir_all(&stub).map_err(|e| e.to_string())?;
    let names = driver_symbols(&cuda)?;
    let mut c =
        String::from("/* Link-time stand-in for libcuda.so.1: every entry point fails. */\n");
    for n in &names {
        c.push_str(&format!("int {n}(void) {{ return 999; }}\n"));
    }
    write(&stub.join("stub.c"), &c)?;
    sh(Command::new("gcc")
        .args(["-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o"])
        .arg(stub.join("libcuda.so"))
        .arg(stub.join("stub.c")))?;

    // 3. The GPU build.
    let target = root.join("target");
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        cuda.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .args([
            "build",
            "--release",
            "-p",
            "ebm-samplers",
            "--features",
            "cuda",
        ])
        .env("CUDA_ROOT", &cuda)
        .env("CUDA_COMPUTE_CAP", COMPUTE_CAP)
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .env("PATH", path)
        .env(
            "RUSTFLAGS",
            format!(
                "-L native={} -L native={}",
                stub.display(),
                cuda.join("lib").display()
            ),
        );
    for e in EXAMPLES {
        cargo.args(["--example", e]);
    }
    println!(
        "cuda-bundle: building {} with the cuda feature",
        EXAMPLES.join(", ")
    );
    sh(&mut cargo)?;

    // 4. The bundle.
    let out = PathBuf::from("target/cuda-bundle");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(out.join("bin")).map_err(|e| e.to_string())?;
    for e in EXAMPLES {
        std::fs::copy(
            target.join("release/examples").join(e),
            out.join("bin").join(e),
        )
        .map_err(|err| format!("cannot copy {e}: {err}"))?;
    }
    let dfdx_out = dfdx_out_dir(&target)?;
    sh(Command::new("cp")
        .arg("-a")
        .arg(cuda.join("include"))
        .arg(out.join("include")))?;
    sh(Command::new("sh").arg("-c").arg(format!(
        "mkdir -p {o}/dfdx-out && cp {d}/*.cuh {o}/dfdx-out/",
        o = out.display(),
        d = dfdx_out.display()
    )))?;
    write(&out.join("run.sh"), &run_script(&cuda, &dfdx_out))?;
    sh(Command::new("chmod").arg("+x").arg(out.join("run.sh")))?;
    sh(Command::new("du").arg("-sh").arg(&out))?;
    println!(
        "cuda-bundle: wrote {}; on a GPU machine run `bash {}/run.sh` (the JSON line is the last \
         line; with $OUT set it is also saved as $OUT/device_check.json)",
        out.display(),
        out.display()
    );
    Ok(())
}

/// Every `cu*` entry point of the CUDA 13 header and of cudarc's bindings.
fn driver_symbols(cuda: &Path) -> Result<Vec<String>, String> {
    let header = Command::new("gcc")
        .args(["-E", "-P"])
        .arg(format!("-I{}", cuda.join("include").display()))
        .arg(cuda.join("include/cuda.h"))
        .output()
        .map_err(|e| e.to_string())?;
    let mut text = String::from_utf8_lossy(&header.stdout).into_owned();
    let meta = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--features",
            "ebm-core/cuda",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    let meta: serde_json::Value =
        serde_json::from_slice(&meta.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    if let Some(pkgs) = meta["packages"].as_array() {
        for p in pkgs.iter().filter(|p| p["name"] == "cudarc") {
            if let Some(manifest) = p["manifest_path"].as_str() {
                let sys = Path::new(manifest).with_file_name("src/driver/sys.rs");
                text.push_str(&std::fs::read_to_string(sys).unwrap_or_default());
            }
        }
    }
    let mut names: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 2 < bytes.len() {
        let starts = bytes[i] == b'c'
            && bytes[i + 1] == b'u'
            && bytes[i + 2].is_ascii_uppercase()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
        if starts {
            let end = i + bytes[i..]
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                .unwrap_or(bytes.len() - i);
            let rest = text[end..].trim_start();
            if rest.starts_with('(') {
                names.push(text[i..end].to_string());
            }
            i = end;
        } else {
            i += 1;
        }
    }
    names.sort();
    names.dedup();
    if names.len() < 100 {
        return Err(format!("found only {} driver entry points", names.len()));
    }
    Ok(names)
}

/// dfdx's build output folder in the GPU build (the one holding compiled `.ptx` files).
fn dfdx_out_dir(target: &Path) -> Result<PathBuf, String> {
    let build = target.join("release/build");
    for entry in std::fs::read_dir(&build).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path().join("out");
        let is_dfdx = path
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|n| n.to_string_lossy().starts_with("dfdx-"));
        if is_dfdx && path.join("binary_add.ptx").is_file() {
            return Ok(path);
        }
    }
    Err(format!(
        "no dfdx build output with PTX under {}",
        build.display()
    ))
}

fn run_script(cuda: &Path, dfdx_out: &Path) -> String {
    format!(
        r#"#!/usr/bin/env bash
# Runs the ebm GPU check on a machine with an NVIDIA GPU and driver. The binaries were built
# elsewhere: this script recreates the two folders they were built against and finds the CUDA 13
# libraries they load (libnvrtc.so.13, libcublas.so.13; libcuda.so.1 comes with the driver).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "{cuda}" "{dfdx}"
rm -rf "{cuda}/include" && cp -a "$here/include" "{cuda}/include"
cp "$here"/dfdx-out/*.cuh "{dfdx}/"
libs=""
for lib in libnvrtc.so.13 libcublas.so.13 libcublasLt.so.13; do
    found=$( (ls /usr/local/cuda/lib64/$lib 2>/dev/null;
              find /usr /opt -name "$lib" 2>/dev/null) | head -n 1)
    if [ -z "$found" ]; then echo "run.sh: $lib not found" >&2; exit 3; fi
    libs="$libs:$(dirname "$found")"
done
export LD_LIBRARY_PATH="${{libs#:}}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader || true
"$here/bin/langevin_basic" --device cuda
"$here/bin/device_check" --device cuda | tee "${{OUT:-/tmp}}/device_check.json"
"#,
        cuda = cuda.display(),
        dfdx = dfdx_out.display()
    )
}
