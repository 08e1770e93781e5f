//! Training runs saved and resumed: bit for bit as a run never interrupted, also after the process
//! writing the checkpoints is killed; checkpoints of other runs and damaged files are refused.

use ebm_samplers::LangevinDynamics;
use ebm_train::cd::{Flow, IterationStats, PcdConfig, PcdTrainer};
use ebm_train::data::Toy;
use ebm_train::nn::{build_network, SiluMlp};
use ebm_train::TrainError;
use std::path::{Path, PathBuf};

type Net = <SiluMlp<2, 16> as dfdx::nn::BuildOnDevice<ebm_core::prelude::Cpu, f32>>::Built;

const TOTAL: usize = 40;

fn data(seed: u64) -> Vec<f32> {
    Toy::ring8()
        .sample(2000, seed)
        .unwrap()
        .into_iter()
        .flatten()
        .collect()
}

fn trainer(network_seed: u64) -> PcdTrainer<2, Net> {
    let config = PcdConfig {
        buffer_size: 1000,
        batch: 64,
        init_steps: 10,
        ..PcdConfig::default()
    };
    PcdTrainer::new(
        build_network::<SiluMlp<2, 16>>(network_seed),
        LangevinDynamics::new(0.01, 1.0).unwrap(),
        data(0),
        config,
        7,
    )
    .unwrap()
}

/// Every parameter's bits, then the buffer's.
fn bits(t: &PcdTrainer<2, Net>) -> Vec<u32> {
    let n = t.network();
    [
        n.0.weight.as_vec(),
        n.0.bias.as_vec(),
        n.2.weight.as_vec(),
        n.2.bias.as_vec(),
        n.4.weight.as_vec(),
        n.4.bias.as_vec(),
        t.buffer().map(|b| b.points().to_vec()).unwrap_or_default(),
    ]
    .concat()
    .into_iter()
    .map(f32::to_bits)
    .collect()
}

fn uninterrupted() -> Vec<u32> {
    let mut t = trainer(0);
    t.fit(TOTAL, &mut []).unwrap();
    bits(&t)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ebm-train-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_resumed_run_ends_with_the_bits_of_an_uninterrupted_one() {
    let dir = scratch("resume");
    let path = dir.join("run.ckpt");
    let mut first = trainer(0);
    first.fit_with_checkpoints(13, 5, &path, &mut []).unwrap();
    assert_eq!(first.iterations(), 13);
    drop(first);
    // Another initialisation: everything that matters comes from the checkpoint.
    let mut second = trainer(99);
    second.load_checkpoint(&path).unwrap();
    assert_eq!(second.iterations(), 13);
    second
        .fit_with_checkpoints(TOTAL, 5, &path, &mut [])
        .unwrap();
    assert_eq!(bits(&second), uninterrupted());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoints_of_other_runs_and_damaged_files_are_refused() {
    let dir = scratch("refuse");
    let path = dir.join("run.ckpt");
    let mut t = trainer(0);
    t.fit_with_checkpoints(3, 3, &path, &mut []).unwrap();
    let before = bits(&trainer(1));

    // Other data.
    let mut other = PcdTrainer::<2, Net>::new(
        build_network::<SiluMlp<2, 16>>(1),
        LangevinDynamics::new(0.01, 1.0).unwrap(),
        data(1),
        PcdConfig {
            buffer_size: 1000,
            batch: 64,
            init_steps: 10,
            ..PcdConfig::default()
        },
        7,
    )
    .unwrap();
    let err = other.load_checkpoint(&path).unwrap_err();
    assert!(matches!(err, TrainError::Format { .. }), "{err}");
    assert!(err.to_string().contains("other training data"), "{err}");

    // Cut short at every tenth of its length, and one byte flipped in the magic line.
    let bytes = std::fs::read(&path).unwrap();
    for k in 0..10 {
        let cut = dir.join("cut.ckpt");
        std::fs::write(&cut, &bytes[..bytes.len() * k / 10]).unwrap();
        let mut fresh = trainer(1);
        let err = fresh.load_checkpoint(&cut).unwrap_err();
        assert!(
            matches!(err, TrainError::Format { .. }),
            "cut at {k}/10: {err}"
        );
        assert_eq!(
            bits(&fresh),
            before,
            "a refused checkpoint changed the trainer"
        );
    }
    let mut flipped = bytes.clone();
    flipped[0] ^= 1;
    std::fs::write(dir.join("flip.ckpt"), &flipped).unwrap();
    assert!(trainer(1).load_checkpoint(dir.join("flip.ckpt")).is_err());
    let missing = trainer(1)
        .load_checkpoint(dir.join("none.ckpt"))
        .unwrap_err();
    assert!(matches!(missing, TrainError::Io { .. }), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// In the child process: trains towards `TOTAL` with a checkpoint after every iteration, slowly
/// enough to be killed on the way.
fn child(path: &Path) {
    let mut t = trainer(0);
    if path.exists() {
        t.load_checkpoint(path).unwrap();
    }
    let mut slow = |_: &IterationStats| {
        std::thread::sleep(std::time::Duration::from_millis(15));
        Ok(Flow::Continue)
    };
    t.fit_with_checkpoints(TOTAL, 1, path, &mut [&mut slow])
        .unwrap();
}

#[test]
fn a_run_killed_while_writing_checkpoints_resumes_exactly() {
    const CHILD: &str = "EBM_TRAIN_CHECKPOINT_CHILD";
    if let Ok(path) = std::env::var(CHILD) {
        child(Path::new(&path));
        return;
    }
    let dir = scratch("kill");
    let path = dir.join("run.ckpt");
    // Kill the child at several moments: soon after its first checkpoint, and later.
    for wait_ms in [0u64, 37, 150] {
        let mut proc = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_run_killed_while_writing_checkpoints_resumes_exactly",
                "--test-threads=1",
            ])
            .env(CHILD, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while !path.exists() && started.elapsed().as_secs() < 60 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        proc.kill().unwrap();
        proc.wait().unwrap();
    }
    let mut resumed = trainer(5);
    resumed.load_checkpoint(&path).unwrap();
    assert!(
        resumed.iterations() < TOTAL,
        "the child finished before it was killed ({} iterations)",
        resumed.iterations()
    );
    resumed
        .fit_with_checkpoints(TOTAL, 10, &path, &mut [])
        .unwrap();
    assert_eq!(bits(&resumed), uninterrupted());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn persistent_chains_go_on_and_resume_exactly() {
    use ebm_train::cd::Starts;
    let make = |network_seed: u64| {
        PcdTrainer::<2, Net>::new(
            build_network::<SiluMlp<2, 16>>(network_seed),
            LangevinDynamics::new(0.01, 1.0).unwrap(),
            data(0),
            PcdConfig {
                starts: Starts::Chains {
                    restart: 0.05,
                    scale: 1.0,
                },
                batch: 64,
                steps: 5,
                ..PcdConfig::default()
            },
            3,
        )
        .unwrap()
    };
    let mut straight = make(0);
    straight.fit(12, &mut []).unwrap();
    let chains = straight.chains().unwrap();
    // Every chain took every step: 12 iterations of 5.
    assert_eq!((chains.n_chains(), chains.steps()), (64, 60));
    assert!(straight.buffer().is_none());

    let dir = scratch("chains");
    let path = dir.join("run.ckpt");
    let mut first = make(0);
    first.fit_with_checkpoints(7, 7, &path, &mut []).unwrap();
    let mut second = make(1);
    second.load_checkpoint(&path).unwrap();
    second.fit(5, &mut []).unwrap();
    assert_eq!(bits(&second), bits(&straight));
    let positions = |t: &PcdTrainer<2, Net>| {
        t.chains()
            .unwrap()
            .positions()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(positions(&second), positions(&straight));
    std::fs::remove_dir_all(&dir).unwrap();
}
