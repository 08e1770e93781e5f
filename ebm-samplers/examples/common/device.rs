//! Device choice shared by the examples: `--device cpu` or `--device cuda`, and by default CUDA when
//! the program was built with the `cuda` feature and a GPU is present, else the CPU (the guide's
//! `cuda if available else cpu`).

/// The device an example runs on.
pub enum Choice {
    /// dfdx's CPU device.
    Cpu,
    /// dfdx's CUDA device (GPU 0).
    #[cfg(feature = "cuda")]
    Cuda,
}

/// Reads `--device` from the command line, or picks the default.
pub fn choose() -> Result<Choice, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wanted = match args.iter().position(|a| a == "--device") {
        Some(i) => Some(
            args.get(i + 1)
                .ok_or("--device takes `cpu` or `cuda`")?
                .as_str(),
        ),
        None => None,
    };
    match wanted {
        Some("cpu") => Ok(Choice::Cpu),
        #[cfg(feature = "cuda")]
        Some("cuda") if ebm_core::cuda_available() => Ok(Choice::Cuda),
        #[cfg(feature = "cuda")]
        Some("cuda") => Err("--device cuda: no CUDA GPU is available".into()),
        #[cfg(not(feature = "cuda"))]
        Some("cuda") => {
            Err("--device cuda: this program was built without the `cuda` feature".into())
        }
        Some(other) => Err(format!("--device takes `cpu` or `cuda`, not `{other}`")),
        #[cfg(feature = "cuda")]
        None if ebm_core::cuda_available() => Ok(Choice::Cuda),
        None => Ok(Choice::Cpu),
    }
}
