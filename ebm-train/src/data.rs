//! Seeded 2-D toy data sets, the usual test beds for energy-based models, with TorchEBM's
//! definitions and default parameters (`torchebm.datasets`, 0.8.9), and the true density of the
//! Gaussian mixtures for exact evaluation ([`crate::eval`]).
//!
//! Every generator draws from a ChaCha8 stream of its seed: the same seed gives the same points on
//! any machine (not TorchEBM's points, which come from torch's generator).

use crate::error::{invalid, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::f64::consts::PI;

/// A 2-D toy data set and its parameters. [`Toy::all`] lists each with TorchEBM's defaults.
#[derive(Debug, Clone, PartialEq)]
pub enum Toy {
    /// `modes` isotropic Gaussians of standard deviation `std` whose centres sit evenly on the circle
    /// of `radius`, the first at `(radius, 0)`; `n / modes` points each (the first `n % modes`
    /// modes one more), shuffled. Defaults 8, 2.0, 0.05 (the benchmark uses `std` 0.15).
    GaussianMixture {
        /// Number of modes.
        modes: usize,
        /// Radius of the circle of centres.
        radius: f64,
        /// Standard deviation of each mode.
        std: f64,
    },
    /// Eight Gaussians at `scale` times `(+-1, 0)`, `(0, +-1)` and `(+-1, +-1) / sqrt 2`, standard
    /// deviation `std`. Defaults 2.0, 0.02.
    EightGaussians {
        /// Distance of the centres from the origin.
        scale: f64,
        /// Standard deviation of each mode.
        std: f64,
    },
    /// Two interleaved half circles: `(cos t, sin t)` and `(1 - cos t, 0.5 - sin t)` for `t` evenly
    /// spaced in `[0, pi]`, plus Gaussian noise of standard deviation `noise`. Default 0.05.
    TwoMoons {
        /// Standard deviation of the noise.
        noise: f64,
    },
    /// `(t cos t, t sin t)` for `t = arclength pi (1 + 2u)`, `u` uniform, plus noise, then centred
    /// and divided by twice the mean of the coordinates' standard deviations. Defaults 0.05, 1.5.
    SwissRoll {
        /// Standard deviation of the noise (before scaling).
        noise: f64,
        /// Turns of the roll, in half turns.
        arclength: f64,
    },
    /// Uniform on the circle of `radius`, plus noise. Defaults 1.0, 0.05.
    Circle {
        /// Radius.
        radius: f64,
        /// Standard deviation of the noise.
        noise: f64,
    },
    /// Uniform on the black squares of a checkerboard of unit cells over `[-range, range]^2` (cells
    /// whose integer coordinates have an odd sum), plus noise. Defaults 4.0, 0.0.
    Checkerboard {
        /// Half-width of the board.
        range: f64,
        /// Standard deviation of the noise.
        noise: f64,
    },
    /// `classes` spiral blades: radius `radial_scale sqrt(u)`, angle `2 pi c / classes +
    /// spiral_scale sqrt(u) + angular_scale N(0, 1)`, shuffled, plus noise. Defaults 5, 0.05, 2.0,
    /// 0.1, 5.0.
    Pinwheel {
        /// Number of blades.
        classes: usize,
        /// Standard deviation of the final noise.
        noise: f64,
        /// Length of the blades.
        radial_scale: f64,
        /// Thickness of the blades (standard deviation of the angle).
        angular_scale: f64,
        /// Twist of the blades.
        spiral_scale: f64,
    },
    /// The `per_dim x per_dim` points of a regular grid over `[-range, range]^2` (row by row),
    /// repeated to `n` points, plus noise. Defaults 10, 1.0, 0.01.
    Grid {
        /// Points per side.
        per_dim: usize,
        /// Half-width of the grid.
        range: f64,
        /// Standard deviation of the noise.
        noise: f64,
    },
}

impl Toy {
    /// Every data set with TorchEBM's default parameters.
    pub fn all() -> [Toy; 8] {
        [
            Toy::GaussianMixture {
                modes: 8,
                radius: 2.0,
                std: 0.05,
            },
            Toy::EightGaussians {
                scale: 2.0,
                std: 0.02,
            },
            Toy::TwoMoons { noise: 0.05 },
            Toy::SwissRoll {
                noise: 0.05,
                arclength: 1.5,
            },
            Toy::Circle {
                radius: 1.0,
                noise: 0.05,
            },
            Toy::Checkerboard {
                range: 4.0,
                noise: 0.0,
            },
            Toy::Pinwheel {
                classes: 5,
                noise: 0.05,
                radial_scale: 2.0,
                angular_scale: 0.1,
                spiral_scale: 5.0,
            },
            Toy::Grid {
                per_dim: 10,
                range: 1.0,
                noise: 0.01,
            },
        ]
    }

    /// The benchmark's data: eight Gaussians of standard deviation 0.15 on the circle of radius 2.
    pub fn ring8() -> Toy {
        Toy::GaussianMixture {
            modes: 8,
            radius: 2.0,
            std: 0.15,
        }
    }

    /// A short name, as in file names and tables.
    pub fn name(&self) -> &'static str {
        match self {
            Toy::GaussianMixture { .. } => "gaussian_mixture",
            Toy::EightGaussians { .. } => "eight_gaussians",
            Toy::TwoMoons { .. } => "two_moons",
            Toy::SwissRoll { .. } => "swiss_roll",
            Toy::Circle { .. } => "circle",
            Toy::Checkerboard { .. } => "checkerboard",
            Toy::Pinwheel { .. } => "pinwheel",
            Toy::Grid { .. } => "grid",
        }
    }

    /// The mixture's components (centres and their common standard deviation), for the data sets
    /// that are Gaussian mixtures with equal weights; `None` for the others.
    pub fn mixture(&self) -> Option<Mixture> {
        match *self {
            Toy::GaussianMixture { modes, radius, std } => Some(Mixture {
                centres: (0..modes)
                    .map(|k| {
                        let t = 2.0 * PI * k as f64 / modes as f64;
                        [radius * t.cos(), radius * t.sin()]
                    })
                    .collect(),
                std,
            }),
            Toy::EightGaussians { scale, std } => {
                let d = std::f64::consts::FRAC_1_SQRT_2;
                let unit = [
                    [1.0, 0.0],
                    [-1.0, 0.0],
                    [0.0, 1.0],
                    [0.0, -1.0],
                    [d, d],
                    [d, -d],
                    [-d, d],
                    [-d, -d],
                ];
                Some(Mixture {
                    centres: unit.iter().map(|c| [scale * c[0], scale * c[1]]).collect(),
                    std,
                })
            }
            _ => None,
        }
    }

    fn validate(&self) -> Result<()> {
        let non_negative = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(invalid(name, v, "must be finite and non-negative"))
            }
        };
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(invalid(name, v, "must be finite and positive"))
            }
        };
        match *self {
            Toy::GaussianMixture { modes, radius, std } => {
                if modes == 0 {
                    return Err(invalid("modes", 0, "a mixture needs at least one mode"));
                }
                non_negative("radius", radius)?;
                non_negative("std", std)
            }
            Toy::EightGaussians { scale, std } => {
                non_negative("scale", scale)?;
                non_negative("std", std)
            }
            Toy::TwoMoons { noise } => non_negative("noise", noise),
            Toy::SwissRoll { noise, arclength } => {
                non_negative("noise", noise)?;
                positive("arclength", arclength)
            }
            Toy::Circle { radius, noise } => {
                non_negative("radius", radius)?;
                non_negative("noise", noise)
            }
            Toy::Checkerboard { range, noise } => {
                if !(range.is_finite() && range >= 1.0) {
                    return Err(invalid("range", range, "must be at least 1 (one cell)"));
                }
                non_negative("noise", noise)
            }
            Toy::Pinwheel {
                classes,
                noise,
                radial_scale,
                angular_scale,
                spiral_scale,
            } => {
                if classes == 0 {
                    return Err(invalid("classes", 0, "a pinwheel needs at least one blade"));
                }
                non_negative("noise", noise)?;
                non_negative("radial_scale", radial_scale)?;
                non_negative("angular_scale", angular_scale)?;
                if !spiral_scale.is_finite() {
                    return Err(invalid("spiral_scale", spiral_scale, "must be finite"));
                }
                Ok(())
            }
            Toy::Grid {
                per_dim,
                range,
                noise,
            } => {
                if per_dim == 0 {
                    return Err(invalid(
                        "per_dim",
                        0,
                        "a grid needs at least one point per side",
                    ));
                }
                non_negative("range", range)?;
                non_negative("noise", noise)
            }
        }
    }

    /// `n` points drawn with `seed`.
    ///
    /// ```
    /// use ebm_train::data::Toy;
    ///
    /// let x = Toy::ring8().sample(800, 0)?;
    /// assert_eq!(x.len(), 800);
    /// assert_eq!(x, Toy::ring8().sample(800, 0)?); // seeded
    /// # Ok::<(), ebm_train::TrainError>(())
    /// ```
    ///
    /// # Errors
    /// [`crate::TrainError::InvalidParameter`] for a parameter out of its range (negative noise,
    /// no modes, ...) or `n = 0`.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Vec<[f32; 2]>> {
        self.validate()?;
        if n == 0 {
            return Err(invalid("n", 0, "draw at least one point"));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut points: Vec<[f64; 2]> = Vec::with_capacity(n);
        match *self {
            Toy::GaussianMixture { .. } | Toy::EightGaussians { .. } => {
                let mix = self.mixture().expect("a mixture");
                let k = mix.centres.len();
                for (m, c) in mix.centres.iter().enumerate() {
                    let count = n / k + usize::from(m < n % k);
                    for _ in 0..count {
                        let (a, b) = (normal(&mut rng), normal(&mut rng));
                        points.push([c[0] + mix.std * a, c[1] + mix.std * b]);
                    }
                }
                shuffle(&mut points, &mut rng);
            }
            Toy::TwoMoons { noise } => {
                let outer = n / 2;
                let inner = n - outer;
                let at = |i: usize, m: usize| {
                    if m > 1 {
                        PI * i as f64 / (m - 1) as f64
                    } else {
                        0.0
                    }
                };
                for i in 0..outer {
                    let t = at(i, outer);
                    points.push([t.cos(), t.sin()]);
                }
                for i in 0..inner {
                    let t = at(i, inner);
                    points.push([1.0 - t.cos(), 0.5 - t.sin()]);
                }
                add_noise(&mut points, noise, &mut rng);
            }
            Toy::SwissRoll { noise, arclength } => {
                for _ in 0..n {
                    let t = arclength * PI * (1.0 + 2.0 * rng.gen::<f64>());
                    points.push([t * t.cos(), t * t.sin()]);
                }
                add_noise(&mut points, noise, &mut rng);
                let mean = |j: usize| points.iter().map(|p| p[j]).sum::<f64>() / n as f64;
                let (m0, m1) = (mean(0), mean(1));
                let sd = |j: usize, m: f64| {
                    let dof = (n.max(2) - 1) as f64;
                    (points.iter().map(|p| (p[j] - m).powi(2)).sum::<f64>() / dof).sqrt()
                };
                let scale = (sd(0, m0) + sd(1, m1)) / 2.0 * 2.0;
                let scale = if scale > 0.0 { scale } else { 1.0 };
                for p in &mut points {
                    p[0] = (p[0] - m0) / scale;
                    p[1] = (p[1] - m1) / scale;
                }
            }
            Toy::Circle { radius, noise } => {
                for _ in 0..n {
                    let a = 2.0 * PI * rng.gen::<f64>();
                    let (e0, e1) = (normal(&mut rng), normal(&mut rng));
                    points.push([radius * a.cos() + noise * e0, radius * a.sin() + noise * e1]);
                }
            }
            Toy::Checkerboard { range, noise } => {
                while points.len() < n {
                    let x = (2.0 * rng.gen::<f64>() - 1.0) * range;
                    let y = (2.0 * rng.gen::<f64>() - 1.0) * range;
                    if (x.floor() + y.floor()).rem_euclid(2.0) != 0.0 {
                        points.push([x, y]);
                    }
                }
                add_noise(&mut points, noise, &mut rng);
            }
            Toy::Pinwheel {
                classes,
                noise,
                radial_scale,
                angular_scale,
                spiral_scale,
            } => {
                for c in 0..classes {
                    let count = n / classes + usize::from(c < n % classes);
                    let base = 2.0 * PI * c as f64 / classes as f64;
                    for _ in 0..count {
                        let t = rng.gen::<f64>().sqrt();
                        let theta = base + spiral_scale * t + angular_scale * normal(&mut rng);
                        let r = radial_scale * t;
                        points.push([r * theta.cos(), r * theta.sin()]);
                    }
                }
                shuffle(&mut points, &mut rng);
                add_noise(&mut points, noise, &mut rng);
            }
            Toy::Grid {
                per_dim,
                range,
                noise,
            } => {
                let coord = |i: usize| {
                    if per_dim > 1 {
                        -range + 2.0 * range * i as f64 / (per_dim - 1) as f64
                    } else {
                        0.0
                    }
                };
                for k in 0..n {
                    let (i, j) = ((k / per_dim) % per_dim, k % per_dim);
                    let (e0, e1) = (normal(&mut rng), normal(&mut rng));
                    points.push([coord(i) + noise * e0, coord(j) + noise * e1]);
                }
            }
        }
        Ok(points
            .into_iter()
            .map(|[a, b]| [a as f32, b as f32])
            .collect())
    }
}

/// A standard normal draw.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

/// Adds `noise N(0, I)` to every point, in order.
fn add_noise(points: &mut [[f64; 2]], noise: f64, rng: &mut ChaCha8Rng) {
    for p in points {
        p[0] += noise * normal(rng);
        p[1] += noise * normal(rng);
    }
}

/// Fisher-Yates, from the end.
fn shuffle<T>(v: &mut [T], rng: &mut ChaCha8Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.gen_range(0..=i);
        v.swap(i, j);
    }
}

/// An equal-weight mixture of isotropic Gaussians in 2-D: the true density of
/// [`Toy::GaussianMixture`] and [`Toy::EightGaussians`].
#[derive(Debug, Clone, PartialEq)]
pub struct Mixture {
    /// The centres.
    pub centres: Vec<[f64; 2]>,
    /// The common standard deviation.
    pub std: f64,
}

impl Mixture {
    /// `log p(x)`, computed as a log-sum-exp over the components.
    ///
    /// ```
    /// use ebm_train::data::Toy;
    ///
    /// let mix = Toy::ring8().mixture().unwrap();
    /// // At a centre the density is almost that of one component, divided by 8.
    /// let one = -(2.0 * std::f64::consts::PI * 0.15f64 * 0.15).ln() - 8f64.ln();
    /// assert!((mix.log_density([2.0, 0.0]) - one).abs() < 1e-6);
    /// ```
    pub fn log_density(&self, x: [f64; 2]) -> f64 {
        let var = self.std * self.std;
        let logs: Vec<f64> = self
            .centres
            .iter()
            .map(|c| -((x[0] - c[0]).powi(2) + (x[1] - c[1]).powi(2)) / (2.0 * var))
            .collect();
        let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = top + logs.iter().map(|l| (l - top).exp()).sum::<f64>().ln();
        lse - (self.centres.len() as f64).ln() - (2.0 * PI * var).ln()
    }
}
