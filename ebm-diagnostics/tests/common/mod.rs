//! Fixed-seed random numbers for the tests (no extra dependencies).

/// splitmix64 generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in the open interval (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal by Box-Muller (one value per pair of uniforms).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// `n` iid normal draws with the given mean and standard deviation.
    #[allow(dead_code)]
    pub fn normals(&mut self, n: usize, mean: f64, sd: f64) -> Vec<f64> {
        (0..n).map(|_| mean + sd * self.normal()).collect()
    }

    /// A stationary AR(1) chain with unit marginal variance: `x_0 ~ N(0, 1)`,
    /// `x_t = rho x_{t-1} + sqrt(1 - rho^2) e_t`.
    #[allow(dead_code)]
    pub fn ar1(&mut self, n: usize, rho: f64) -> Vec<f64> {
        let scale = (1.0 - rho * rho).sqrt();
        let mut x = self.normal();
        (0..n)
            .map(|_| {
                let out = x;
                x = rho * x + scale * self.normal();
                out
            })
            .collect()
    }
}

/// Borrows each chain as a slice.
#[allow(dead_code)]
pub fn views(chains: &[Vec<f64>]) -> Vec<&[f64]> {
    chains.iter().map(Vec::as_slice).collect()
}
