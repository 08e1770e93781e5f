//! `cargo xtask outside [--reps N]`: builds and runs a crate outside the workspace that depends on
//! the ebm library crates by path, as a user's crate does: no `[patch]` section, no dfdx of its
//! own. It runs the README's first example, a stored run summarised from disk, a network of
//! `#[energy(trainable)]` trained and saved with ebm-train, and the benchmark's
//! `#[energy]` network (`mlp2d_langevin_user`), whose draws must equal, bit for bit, those of the
//! same case run here, inside the workspace; with `--reps N` both are timed, alternately, and the
//! best times printed side by side.

use crate::bench::{floor::MlpWeights, user_mlp};
use ebm_core::prelude::*;
use ebm_samplers::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The library crates the outside crate lists, and nothing else.
const CRATES: [&str; 6] = [
    "ebm-core",
    "ebm-models",
    "ebm-samplers",
    "ebm-diagnostics",
    "ebm-storage",
    "ebm-train",
];

pub fn run(args: &[String]) -> Result<(), String> {
    let mut reps = 1usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--reps" => {
                reps = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--reps takes a positive integer")?
            }
            other => return Err(format!("outside: unknown argument `{other}`")),
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask has no parent folder")?
        .canonicalize()
        .map_err(|e| format!("workspace root: {e}"))?;
    let dir = std::env::temp_dir().join(format!("ebm-outside-{}", std::process::id()));
    let result = check(&root, &dir, reps);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn check(root: &Path, dir: &Path, reps: usize) -> Result<(), String> {
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| format!("{what}: {e}")
    };
    if dir.starts_with(root) {
        return Err(format!("{} is inside the workspace", dir.display()));
    }
    std::fs::create_dir_all(dir.join("src")).map_err(io("creating the outside crate"))?;
    let mut manifest = String::from(
        "[package]\nname = \"outside-check\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n",
    );
    for c in CRATES {
        manifest.push_str(&format!(
            "{c} = {{ path = {:?} }}\n",
            root.join(c).display().to_string()
        ));
    }
    std::fs::write(dir.join("Cargo.toml"), &manifest).map_err(io("Cargo.toml"))?;
    let template = root.join("xtask/outside");
    for f in ["main.rs", "network.rs"] {
        std::fs::copy(template.join(f), dir.join("src").join(f)).map_err(io(f))?;
    }
    // The versions the workspace was tested with; cargo drops the entries this crate does not use.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).map_err(io("Cargo.lock"))?;
    println!("outside crate: {}\n{manifest}", dir.display());

    // The workspace's target folder keeps the build between runs; the outside crate has its own
    // profile (cargo's default release), so nothing is shared with the workspace's builds.
    let target = root.join("target/outside");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .map_err(io("running cargo build"))?;
    if !status.success() {
        return Err(format!("the outside crate failed to build ({status})"));
    }
    let tree = Command::new(&cargo)
        .args([
            "tree",
            "--prefix",
            "none",
            "-e",
            "normal",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .map_err(io("running cargo tree"))?;
    let tree = String::from_utf8_lossy(&tree.stdout);
    if tree.lines().any(|l| l.starts_with("dfdx ")) {
        return Err("the outside crate's dependencies include the unpatched dfdx".into());
    }
    if !tree.lines().any(|l| l.starts_with("ebm-dfdx ")) {
        return Err(format!(
            "ebm-dfdx is missing from the outside crate's tree:\n{tree}"
        ));
    }

    // The benchmark's network and starting points, as the outside program reads them.
    let w = MlpWeights::with_width(64);
    let dev = Cpu::default();
    let x0: Batch<2> = Cpu::seed_from_u64(4).sample_normal_like(&(1000, Const::<2>));
    let mut input = Vec::new();
    for part in [
        user_mlp::transposed::<2, 64>(&w.w1).concat(),
        w.b1.clone(),
        user_mlp::transposed::<64, 64>(&w.w2).concat(),
        w.b2.clone(),
        w.w3.clone(),
        x0.as_vec(),
    ] {
        input.extend(part.iter().flat_map(|v| v.to_le_bytes()));
    }
    std::fs::write(dir.join("input.bin"), input).map_err(io("input.bin"))?;

    let model = user_mlp::model64(&dev, &w);
    let sampler = LangevinDynamics::new(0.01, 1.0).map_err(|e| e.to_string())?;
    let mut inside = Vec::new();
    let mut inside_best = f64::INFINITY;
    let mut outside_best = f64::INFINITY;
    let binary: PathBuf = target.join("release/outside-check");
    // Alternate the two, so that both see the same machine.
    for _ in 0..reps {
        let out = Command::new(&binary)
            .arg(dir.join("input.bin"))
            .arg(dir.join("draws.bin"))
            .arg("1")
            .output()
            .map_err(io("running the outside crate"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "the outside crate failed ({}):\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if inside.is_empty() {
            print!("{stdout}");
        }
        let ms = stdout
            .lines()
            .last()
            .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .and_then(|v| v["mlp2d_langevin_user_ms"].as_f64())
            .ok_or("the outside crate printed no timing")?;
        outside_best = outside_best.min(ms);
        let started = Instant::now();
        let x = sampler
            .sample(&model, &x0, 100, 2026)
            .map_err(|e| e.to_string())?;
        inside_best = inside_best.min(started.elapsed().as_secs_f64() * 1e3);
        inside = x.as_vec();
    }
    let bytes = std::fs::read(dir.join("draws.bin")).map_err(io("draws.bin"))?;
    let outside: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let same = outside.len() == inside.len()
        && outside
            .iter()
            .zip(&inside)
            .all(|(a, b)| a.to_bits() == b.to_bits());
    if !same {
        return Err("the outside crate's draws differ from the workspace's".into());
    }
    println!(
        "draws: the {} values of the outside build equal the workspace's, bit for bit",
        inside.len()
    );
    println!(
        "mlp2d_langevin_user, best of {reps}: outside crate {outside_best:.2} ms, workspace {inside_best:.2} ms (ratio {:.3})",
        outside_best / inside_best
    );
    Ok(())
}
