//! `cargo xtask docs-figures [--check]`: renders the figures of the user guides (`docs/sampling.md`,
//! `docs/training.md`) into `docs/`.
//!
//! Every figure is computed from fixed seeds and drawn in memory: plotters' bitmap backend into an
//! RGB buffer, with text in the font bundled under `xtask/assets/`, so no system font or other
//! machine state enters the pixels. The buffer is then PNG-encoded.
//!
//! With `--check` nothing is written: each figure is rendered again and its pixels are compared with
//! the decoded pixels of the committed PNG (not the PNG bytes, so a different PNG encoder or
//! compression level does not count as a change). Any difference fails the task, naming the file.
//! Without `--check`, a file is only rewritten when its pixels change.

mod acceptance;
mod backend;
mod canvas;
mod hmc_standard;
mod landscapes;
mod langevin_basic;
mod langevin_trajectory;
mod nuts_warmup;
mod replica_exchange;
mod trace_autocorrelation;
mod training;

use canvas::Image;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The error type of the figure tasks.
pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A rendered figure and the seconds its rendering took, or why it failed.
type Rendered = std::result::Result<(Image, f64), String>;

/// One figure: its file under `docs/` and how to render it.
struct Figure {
    file: &'static str,
    render: fn() -> Result<Image>,
}

const FIGURES: &[Figure] = &[
    Figure {
        file: "langevin_basic.png",
        render: langevin_basic::render,
    },
    Figure {
        file: "langevin_trajectory.png",
        render: langevin_trajectory::render,
    },
    Figure {
        file: "hmc_standard.png",
        render: hmc_standard::render,
    },
    Figure {
        file: "trace_autocorrelation.png",
        render: trace_autocorrelation::render,
    },
    Figure {
        file: "acceptance_rate.png",
        render: acceptance::render,
    },
    Figure {
        file: "energy_landscapes.png",
        render: landscapes::render,
    },
    Figure {
        file: "replica_exchange.png",
        render: replica_exchange::render,
    },
    Figure {
        file: "nuts_warmup.png",
        render: nuts_warmup::render,
    },
    Figure {
        file: "training.png",
        render: training::render,
    },
];

const USAGE: &str = "usage: cargo xtask docs-figures [--check]

Renders the user guide's figures into docs/. With --check, renders them in memory and fails when a
committed figure differs (compared pixel by pixel) or is missing.";

pub fn run(args: &[String]) -> std::result::Result<(), String> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            return Ok(());
        }
        _ => {
            return Err(format!(
                "docs-figures: unexpected arguments {args:?}\n\n{USAGE}"
            ))
        }
    };
    canvas::register_font().map_err(|e| e.to_string())?;
    let dir = docs_dir();
    let start = Instant::now();

    // Figures are independent; render them side by side, report in a fixed order.
    let rendered: Vec<(&Figure, Rendered)> = FIGURES
        .par_iter()
        .map(|figure| {
            let t = Instant::now();
            let result = (figure.render)()
                .map(|image| (image, t.elapsed().as_secs_f64()))
                .map_err(|e| format!("docs-figures: rendering {} failed: {e}", figure.file));
            (figure, result)
        })
        .collect();

    let mut stale = Vec::new();
    for (figure, result) in rendered {
        let (image, seconds) = result?;
        let path = dir.join(figure.file);
        let shown = format!("docs/{}", figure.file);
        let difference = compare(&path, &image);
        if check {
            match difference {
                None => println!("{shown}: up to date"),
                Some(why) => {
                    println!("{shown}: STALE ({why})");
                    stale.push(format!("  {shown}: {why}"));
                }
            }
            continue;
        }
        match difference {
            None => println!("{shown}: unchanged ({seconds:.2} s)"),
            Some(_) => {
                let bytes = canvas::encode_png(&image).map_err(|e| format!("{shown}: {e}"))?;
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                std::fs::write(&path, &bytes).map_err(|e| format!("{shown}: {e}"))?;
                println!(
                    "{shown}: written, {}x{}, {:.1} KiB ({seconds:.2} s)",
                    image.width,
                    image.height,
                    bytes.len() as f64 / 1024.0
                );
            }
        }
    }
    println!(
        "docs-figures: {} figures in {:.2} s",
        FIGURES.len(),
        start.elapsed().as_secs_f64()
    );
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "docs-figures --check: {} of {} figures are stale:\n{}\nrun `cargo xtask docs-figures` and commit docs/",
            stale.len(),
            FIGURES.len(),
            stale.join("\n")
        ))
    }
}

/// The workspace's `docs/` directory, whatever the current directory.
fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .join("docs")
}

/// `None` when the PNG at `path` holds exactly the pixels of `image`, otherwise why not.
fn compare(path: &Path, image: &Image) -> Option<String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some("missing".into()),
        Err(e) => return Some(format!("unreadable: {e}")),
    };
    let committed = match canvas::decode_png(&bytes) {
        Ok(committed) => committed,
        Err(e) => return Some(format!("not a readable PNG: {e}")),
    };
    if (committed.width, committed.height) != (image.width, image.height) {
        return Some(format!(
            "size {}x{}, expected {}x{}",
            committed.width, committed.height, image.width, image.height
        ));
    }
    let differing: Vec<usize> = committed
        .rgb
        .chunks_exact(3)
        .zip(image.rgb.chunks_exact(3))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i)
        .collect();
    let first = differing.first()?;
    let width = image.width as usize;
    Some(format!(
        "{} of {} pixels differ, the first at x = {}, y = {}",
        differing.len(),
        width * image.height as usize,
        first % width,
        first / width
    ))
}
