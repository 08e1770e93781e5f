//! The NUTS cases of `docs/benchmarks.md`: `gauss100_diag`, `gauss100_corr` and `logreg25`, 4 chains,
//! 1000 warm-up + 1000 draws, float64, starting points from the documented generator; diagonal and
//! dense mass adaptation. Each energy has an O(d) (or one product) closed form on the host.

use super::logistic;
use ebm_core::dense::{self, Strided};
use ebm_core::energy::host_rows;
use ebm_core::prelude::*;
use ebm_samplers::diagnostics::ess_bulk;
use ebm_samplers::prelude::*;
use serde_json::{json, Value};

/// The documented 64-bit LCG: output the high 32 bits of the new state.
struct Lcg(u64);

impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 32) as f64 / 4294967296.0
    }
    fn normal(&mut self) -> f64 {
        let mut s = 0.0;
        for _ in 0..12 {
            s += self.uniform();
        }
        s - 6.0
    }
}

/// Starting points for target `t` (1, 2 or 3): `4 u - 2`, chain by chain, coordinate by coordinate.
fn starts<const D: usize>(t: u64, chains: usize) -> Batch<D, f64> {
    let mut lcg = Lcg(1000 + t);
    let x: Vec<f64> = (0..chains * D).map(|_| 4.0 * lcg.uniform() - 2.0).collect();
    Cpu::default().tensor_from_vec(x, (chains, Const::<D>))
}

/// `gauss100_diag`: `sum_i x_i^2 / (2 sd_i^2)`, `sd_i = 10^(-1 + 2 i / 99)`.
struct Diag {
    inv_var: Vec<f64>,
}

impl Diag {
    fn new() -> Self {
        Self {
            inv_var: (0..100)
                .map(|i| 10f64.powf(-2.0 * (-1.0 + 2.0 * i as f64 / 99.0)))
                .collect(),
        }
    }
}

impl Energy<100, f64, Cpu> for Diag {
    fn energy<T: Tape<f64, Cpu>>(&self, x: Batch<100, f64, Cpu, T>) -> Energies<f64, Cpu, T> {
        let n = x.shape().0;
        let w: Tensor<(Const<100>,), f64, Cpu> = x
            .device()
            .tensor(<[f64; 100]>::try_from(self.inv_var.clone()).expect("100 entries"));
        (x.square() * w.broadcast_like(&(n, Const::<100>))).sum::<(usize,), Axis<1>>() * 0.5
    }
    fn has_host_path(&self) -> bool {
        true
    }
    fn host_energy_and_gradient(&self, x: &[f64], e: &mut [f64], g: &mut [f64]) -> bool {
        let w = &self.inv_var;
        host_rows(x, e, g, |p: &[f64; 100], g: &mut [f64; 100]| {
            let mut s = 0.0;
            for i in 0..100 {
                g[i] = w[i] * p[i];
                s += p[i] * g[i];
            }
            0.5 * s
        });
        true
    }
}

/// `gauss100_corr`: `x_0^2 / 2 + sum_{i>=1} (x_i - 0.9 x_{i-1})^2 / (2 (1 - 0.81))`.
struct Corr {
    /// `A` with `E = |x A|^2 / 2`: column 0 is `e_0`, column `i >= 1` is `(e_i - 0.9 e_{i-1}) / sqrt(0.19)`.
    a: Tensor<(Const<100>, Const<100>), f64, Cpu>,
}

impl Corr {
    fn new() -> Self {
        let s = 1.0 / (1.0f64 - 0.81).sqrt();
        let mut a = vec![0.0; 100 * 100];
        a[0] = 1.0;
        for i in 1..100 {
            a[i * 100 + i] = s;
            a[(i - 1) * 100 + i] = -0.9 * s;
        }
        Self {
            a: Cpu::default().tensor_from_vec(a, (Const::<100>, Const::<100>)),
        }
    }
}

impl Energy<100, f64, Cpu> for Corr {
    fn energy<T: Tape<f64, Cpu>>(&self, x: Batch<100, f64, Cpu, T>) -> Energies<f64, Cpu, T> {
        x.matmul(self.a.clone()).square().sum::<(usize,), Axis<1>>() * 0.5
    }
    fn has_host_path(&self) -> bool {
        true
    }
    fn host_energy_and_gradient(&self, x: &[f64], e: &mut [f64], g: &mut [f64]) -> bool {
        let c = 1.0 / (1.0 - 0.81);
        host_rows(x, e, g, |p: &[f64; 100], g: &mut [f64; 100]| {
            let mut s = 0.5 * p[0] * p[0];
            g[0] = p[0];
            for i in 1..100 {
                let r = p[i] - 0.9 * p[i - 1];
                s += 0.5 * c * r * r;
                g[i] += c * r;
                g[i - 1] -= 0.9 * c * r;
            }
            s
        });
        true
    }
}

/// `logreg25`: `-sum_n [y_n eta_n - softplus(eta_n)] + |beta|^2 / 2`, `eta = X beta`.
struct LogReg {
    x: Vec<f64>,
    y: Vec<f64>,
    xt: Tensor<(Const<25>, Const<1000>), f64, Cpu>,
    yt: Tensor<(Const<1000>,), f64, Cpu>,
}

thread_local! {
    /// `eta = B X^T` for the batch being evaluated, per thread (chains on two threads never wait
    /// on each other's buffer).
    static ETA: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl LogReg {
    /// The documented data: LCG seeded with 20251126.
    fn new() -> Self {
        let mut lcg = Lcg(20251126);
        let beta: Vec<f64> = (0..25).map(|_| 0.5 * lcg.normal()).collect();
        let mut x = vec![0.0; 1000 * 25];
        for n in 0..1000 {
            x[n * 25] = 1.0;
            for j in 1..25 {
                x[n * 25 + j] = lcg.normal();
            }
        }
        let u: Vec<f64> = (0..1000).map(|_| lcg.uniform()).collect();
        let y: Vec<f64> = (0..1000)
            .map(|n| {
                let eta: f64 = (0..25).map(|j| x[n * 25 + j] * beta[j]).sum();
                f64::from(u[n] < 1.0 / (1.0 + (-eta).exp()))
            })
            .collect();
        let dev = Cpu::default();
        let mut xt = vec![0.0; 25 * 1000];
        for n in 0..1000 {
            for j in 0..25 {
                xt[j * 1000 + n] = x[n * 25 + j];
            }
        }
        let xt = dev.tensor_from_vec(xt, (Const::<25>, Const::<1000>));
        let yt = dev.tensor_from_vec(y.clone(), (Const::<1000>,));
        Self { x, y, xt, yt }
    }
}

impl Energy<25, f64, Cpu> for LogReg {
    fn energy<T: Tape<f64, Cpu>>(&self, b: Batch<25, f64, Cpu, T>) -> Energies<f64, Cpu, T> {
        let n = b.shape().0;
        let prior = b.retaped::<T>().square().sum::<(usize,), Axis<1>>() * 0.5;
        let eta = b.matmul(self.xt.clone());
        let y = self.yt.clone().broadcast_like(&(n, Const::<1000>));
        // |eta| stays small here, so ln(1 + e^eta) is computed directly.
        let softplus = (eta.retaped::<T>().exp() + 1.0).ln();
        prior + (softplus - eta * y).sum::<(usize,), Axis<1>>()
    }
    fn has_host_path(&self) -> bool {
        true
    }
    fn host_energy_and_gradient(&self, b: &[f64], e: &mut [f64], g: &mut [f64]) -> bool {
        // The whole batch at once: eta = B X^T (n x 1000) and grad = B + (sigmoid(eta) - y) X,
        // two matrix products, which is where a batch of chains beats one chain at a time. A
        // batch of two rows or more is split into one block of rows per thread, so the products
        // and the exponentials of every row run on all cores (one row costs some 15 us, far more
        // than handing a block to another thread).
        use rayon::prelude::*;
        let n = e.len();
        let threads = rayon::current_num_threads();
        if n >= 2 && threads > 1 {
            let rows = n.div_ceil(threads);
            b.par_chunks(rows * 25)
                .zip(e.par_chunks_mut(rows).zip(g.par_chunks_mut(rows * 25)))
                .for_each(|(b, (e, g))| ETA.with_borrow_mut(|eta| self.host_batch(b, e, g, eta)));
        } else {
            ETA.with_borrow_mut(|eta| self.host_batch(b, e, g, eta));
        }
        true
    }
}

impl LogReg {
    fn host_batch(&self, b: &[f64], e: &mut [f64], g: &mut [f64], eta: &mut Vec<f64>) {
        let n = e.len();
        eta.resize(n * 1000, 0.0);
        // eta (n x 1000) = b (n x 25) x^T, x being 1000 x 25 row-major.
        let b_rows = Strided::row_major(b, n, 25);
        let x_t = Strided::transpose_of(&self.x, 25, 1000);
        dense::matmul_strided(eta, b_rows, x_t, false, 1).expect("logistic buffers");
        for c in 0..n {
            let beta = &b[c * 25..(c + 1) * 25];
            let prior: f64 = 0.5 * beta.iter().map(|v| v * v).sum::<f64>();
            // softplus(eta) - y eta summed, and eta replaced by sigmoid(eta) - y.
            e[c] = prior + logistic::terms(&mut eta[c * 1000..(c + 1) * 1000], &self.y);
        }
        g.copy_from_slice(b);
        // g (n x 25) += eta (n x 1000) x.
        let eta_rows = Strided::row_major(&eta[..n * 1000], n, 1000);
        let x_rows = Strided::row_major(&self.x, 1000, 25);
        dense::matmul_strided(g, eta_rows, x_rows, true, 1).expect("logistic buffers");
    }
}

/// Timed runs of each NUTS row (ours and the peer's), all from the same seeds, so with the same
/// draws every time. The suite runs this many times over, a row after every other, so that a
/// burst of load on a shared machine does not fall on all runs of one row; each row reports its
/// fastest run, as the other cases report their minimum.
pub const TIMED_RUNS: usize = 3;

/// One row of the NUTS table: a sampler's run of one case.
pub struct Row {
    pub name: &'static str,
    pub mass: &'static str,
    pub chains: usize,
    pub warmup_s: f64,
    pub sampling_s: f64,
    /// The seconds the ESS per second divides by (warm-up and sampling, or the peer's wall time).
    pub total_s: f64,
    /// Every gradient evaluation before the first draw: the warm-up transitions', the starting
    /// points' and the step-size searches'.
    pub warm_grads: u64,
    pub grads: u64,
    pub min_bulk: f64,
    pub energy_ess: f64,
    pub max_rhat: f64,
    pub divergences: usize,
    /// Mean tree depth, where the sampler reports it.
    pub depth: Option<f64>,
    /// A note after the row (the peer's name and threads).
    pub note: String,
    /// Further figures for the JSON record.
    pub extra: serde_json::Map<String, Value>,
}

impl Row {
    fn per_1k(&self) -> f64 {
        self.min_bulk / self.grads as f64 * 1000.0
    }

    fn per_s(&self) -> f64 {
        self.min_bulk / self.total_s
    }

    /// Keeps the times of `other`, another run of the same row, when it was faster. The runs
    /// start from the same seeds, so they must agree on everything but the times.
    fn keep_faster(&mut self, other: Row) -> Result<(), String> {
        if (other.grads, other.warm_grads, other.min_bulk.to_bits())
            != (self.grads, self.warm_grads, self.min_bulk.to_bits())
        {
            return Err(format!(
                "{} ({}, {} chains): a repeated run from the same seeds gave other draws",
                self.name, self.mass, self.chains
            ));
        }
        if other.total_s < self.total_s {
            (self.warmup_s, self.sampling_s, self.total_s) =
                (other.warmup_s, other.sampling_s, other.total_s);
        }
        Ok(())
    }

    fn print(&self) {
        let depth = self
            .depth
            .map_or_else(|| "-".to_string(), |d| format!("{d:.2}"));
        println!(
            "{:<15} {:<7} {:>6} {:>8.3} s {:>8.3} s {:>9} {:>9} {:>8.0} {:>8.0} {:>7.4} {:>4} {:>6} {:>9.1} {:>10.0}{}",
            self.name,
            self.mass,
            self.chains,
            self.warmup_s,
            self.sampling_s,
            self.warm_grads,
            self.grads,
            self.min_bulk,
            self.energy_ess,
            self.max_rhat,
            self.divergences,
            depth,
            self.per_1k(),
            self.per_s(),
            self.note
        );
    }

    fn json(&self) -> Value {
        let mut v = json!({
            "chains": self.chains,
            "mass": self.mass,
            "warmup_s": self.warmup_s,
            "sampling_s": self.sampling_s,
            "total_s": self.total_s,
            "warmup_grads": self.warm_grads,
            "sampling_grads": self.grads,
            "min_bulk_ess": self.min_bulk,
            "energy_bulk_ess": self.energy_ess,
            "max_r_hat": self.max_rhat,
            "divergences": self.divergences,
            "mean_tree_depth": self.depth,
            "min_ess_per_1k_grads": self.per_1k(),
            "min_ess_per_s": self.per_s(),
            "timed_runs": TIMED_RUNS,
        });
        if let Value::Object(m) = &mut v {
            m.extend(self.extra.clone());
        }
        v
    }
}

/// What one of our rows runs: a mass adaptation and the U-turn criteria of sampling and warm-up.
#[derive(Clone, Copy, PartialEq)]
struct Variant {
    mass: MassAdaptation,
    uturn: UTurn,
    warmup_uturn: UTurn,
}

impl Variant {
    /// The default criteria (momentum sampling, position warm-up) with `mass`.
    fn mass(mass: MassAdaptation) -> Self {
        let nuts = Nuts::default();
        Self {
            mass,
            uturn: nuts.uturn(),
            warmup_uturn: nuts.warmup_uturn(),
        }
    }

    /// The row's label in the table.
    fn label(self) -> &'static str {
        match (self.uturn, self.warmup_uturn) {
            (UTurn::Position, _) => "pos",
            (_, UTurn::Momentum) => "mwarm",
            _ => mass_label(self.mass),
        }
    }

    /// The row's key in the JSON record, after the case's name.
    fn suffix(self) -> &'static str {
        match (self.uturn, self.warmup_uturn, self.mass) {
            (UTurn::Position, _, _) => "_diag_position",
            (_, UTurn::Momentum, _) => "_diag_momentum_warmup",
            (_, _, MassAdaptation::Dense) => "_dense",
            (_, _, MassAdaptation::GradientDense) => "_gradient_dense",
            (_, _, MassAdaptation::Diagonal) => "_stan_diag",
            _ => "_diag",
        }
    }
}

/// One case with one variant: a row of the NUTS table.
fn measure<const D: usize, M: Energy<D, f64, Cpu>>(
    name: &'static str,
    model: &M,
    x0: &Batch<D, f64>,
    v: Variant,
    seed: u64,
) -> Result<Row, String> {
    let run = Warmup {
        seed,
        mass: v.mass,
        progress: false,
        keep_warmup: false,
        ..Warmup::default()
    }
    .run(
        &Nuts::default()
            .with_uturn(v.uturn)
            .with_warmup_uturn(v.warmup_uturn),
        model,
        x0,
    )
    .map_err(|e| e.to_string())?;
    let summary = run.summary().map_err(|e| e.to_string())?;
    let min_bulk = summary
        .rows
        .iter()
        .map(|r| r.ess_bulk)
        .fold(f64::INFINITY, f64::min);
    let n = run.sampling.stats.n_chains();
    let energy: Vec<Vec<f64>> = (0..n)
        .map(|c| {
            run.sampling
                .stats
                .energy
                .iter()
                .skip(c)
                .step_by(n)
                .copied()
                .collect()
        })
        .collect();
    let refs: Vec<&[f64]> = energy.iter().map(|c| c.as_slice()).collect();
    let energy_ess = ess_bulk(&refs).map_err(|e| e.to_string())?;
    let (tw, ts) = (
        run.warmup_time.as_secs_f64(),
        run.sampling_time.as_secs_f64(),
    );
    let mut extra = serde_json::Map::new();
    extra.insert("step_sizes".into(), json!(run.step_sizes));
    extra.insert(
        "warmup_grads_outside_transitions".into(),
        json!(run.search_gradient_evaluations),
    );
    Ok(Row {
        name,
        mass: v.label(),
        chains: n,
        warmup_s: tw,
        sampling_s: ts,
        total_s: tw + ts,
        warm_grads: run.warmup.stats.total_gradient_evaluations() + run.search_gradient_evaluations,
        grads: run.sampling.stats.total_gradient_evaluations(),
        min_bulk,
        energy_ess,
        max_rhat: summary.max_r_hat(),
        divergences: run.sampling.stats.total_divergences(),
        depth: Some(run.sampling.stats.mean_tree_depth()),
        note: String::new(),
        extra,
    })
}

fn mass_label(mass: MassAdaptation) -> &'static str {
    match mass {
        MassAdaptation::Dense => "dense",
        MassAdaptation::GradientDense => "gdens",
        MassAdaptation::GradientDiagonal => "diag",
        MassAdaptation::Diagonal => "stan",
        MassAdaptation::Off => "none",
    }
}

/// Runs `f` on a pool of one thread: the 4-chain rows run on one core, as the peer's 4-chain rows
/// do, and the 64-chain rows on all (the peer's on two threads).
fn one_thread<T: Send>(f: impl FnOnce() -> Result<T, String> + Send) -> Result<T, String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| e.to_string())?
        .install(f)
}

/// A row to measure: its key in the JSON record and the run that measures it.
type Job<'a> = (String, Box<dyn Fn() -> Result<Row, String> + 'a>);

/// Runs the NUTS cases and prints their table; returns the figures by case.
pub fn run(only: Option<&str>) -> Result<serde_json::Map<String, Value>, String> {
    let wanted = |name: &str| only.is_none_or(|o| o == name);
    let (diag, corr, logreg) = (&Diag::new(), &Corr::new(), &LogReg::new());
    let (x_diag, x_corr) = (&starts::<100>(1, 4), &starts::<100>(2, 4));
    let (x_logreg, x_logreg64) = (&starts::<25>(3, 4), &starts::<25>(3, 64));
    let mut jobs: Vec<Job> = Vec::new();
    // The four mass adaptations; the default diagonal one also with the position U-turn criterion
    // throughout (rows `pos`) and with the momentum criterion in warm-up too (rows `mwarm`).
    let diagonal = Variant::mass(MassAdaptation::GradientDiagonal);
    for v in [
        diagonal,
        Variant::mass(MassAdaptation::Diagonal),
        Variant::mass(MassAdaptation::Dense),
        Variant::mass(MassAdaptation::GradientDense),
        Variant {
            uturn: UTurn::Position,
            ..diagonal
        },
        Variant {
            warmup_uturn: UTurn::Momentum,
            ..diagonal
        },
    ] {
        let suffix = v.suffix();
        if wanted("gauss100_diag") {
            jobs.push((
                format!("gauss100_diag{suffix}"),
                Box::new(move || one_thread(|| measure("gauss100_diag", diag, x_diag, v, SEED))),
            ));
        }
        if wanted("gauss100_corr") {
            jobs.push((
                format!("gauss100_corr{suffix}"),
                Box::new(move || one_thread(|| measure("gauss100_corr", corr, x_corr, v, SEED))),
            ));
        }
        if wanted("logreg25") {
            jobs.push((
                format!("logreg25{suffix}"),
                Box::new(move || one_thread(|| measure("logreg25", logreg, x_logreg, v, SEED))),
            ));
            if v.uturn == UTurn::Momentum && v.warmup_uturn == UTurn::Position {
                jobs.push((
                    format!("logreg25_64{suffix}"),
                    Box::new(move || measure("logreg25", logreg, x_logreg64, v, SEED)),
                ));
            }
        }
    }
    // nuts-rs on the same density code and starting points: 4 chains one after another on one
    // thread, and on `logreg25` 64 chains over two threads.
    #[cfg(feature = "nuts-rs")]
    {
        use super::nuts_peer::{measure as peer, PeerMass};
        // Its default diagonal adaptation, and its low-rank one (the peer of our dense rows).
        for (mass, tag) in [(PeerMass::Diag, ""), (PeerMass::LowRank, "_lowrank")] {
            if wanted("gauss100_diag") {
                jobs.push((
                    format!("gauss100_diag_nuts_rs{tag}"),
                    Box::new(move || peer("gauss100_diag", diag, x_diag, 1, SEED, mass)),
                ));
            }
            if wanted("gauss100_corr") {
                jobs.push((
                    format!("gauss100_corr_nuts_rs{tag}"),
                    Box::new(move || peer("gauss100_corr", corr, x_corr, 1, SEED, mass)),
                ));
            }
            if wanted("logreg25") {
                jobs.push((
                    format!("logreg25_nuts_rs{tag}"),
                    Box::new(move || peer("logreg25", logreg, x_logreg, 1, SEED, mass)),
                ));
            }
        }
        if wanted("logreg25") {
            jobs.push((
                "logreg25_64_nuts_rs".into(),
                Box::new(move || peer("logreg25", logreg, x_logreg64, 2, SEED, PeerMass::Diag)),
            ));
        }
    }
    let mut rows: Vec<Row> = Vec::with_capacity(jobs.len());
    for rep in 0..TIMED_RUNS {
        for (k, (_, job)) in jobs.iter().enumerate() {
            let row = job()?;
            if rep == 0 {
                rows.push(row);
            } else {
                rows[k].keep_faster(row)?;
            }
        }
    }
    println!();
    println!(
        "NUTS cases: float64, 1000 warm-up + 1000 draws, target acceptance 0.8, max depth 10 (ESS over the draws; per-second figures include warm-up; times: the fastest of {TIMED_RUNS} runs from the same seeds)"
    );
    println!(
        "{:<15} {:<7} {:>6} {:>10} {:>10} {:>9} {:>9} {:>8} {:>8} {:>7} {:>4} {:>6} {:>9} {:>10}",
        "case",
        "mass",
        "chains",
        "warm-up",
        "sampling",
        "warm grad",
        "grads",
        "minESS",
        "E ESS",
        "R-hat",
        "div",
        "depth",
        "ESS/1kgr",
        "ESS/s"
    );
    let mut out = serde_json::Map::new();
    for ((key, _), row) in jobs.iter().zip(&rows) {
        row.print();
        out.insert(key.clone(), row.json());
    }
    #[cfg(feature = "nuts-rs")]
    {
        println!();
        println!(
            "Over {SEEDS} seeds (4 chains, default diagonal rows, the starting points above; +- standard error; ESS/s: all ESS over all seconds; x: ebm over nuts-rs)"
        );
        println!(
            "{:<15} {:>16} {:>16} {:>18} {:>14} {:>14} {:>9} {:>8} {:>8} {:>8}",
            "case",
            "warm grad ebm",
            "nuts-rs",
            "ebm - nuts-rs",
            "ESS/1kgr ebm",
            "nuts-rs",
            "ESS/s ebm",
            "nuts-rs",
            "x 1kgr",
            "x ESS/s"
        );
        let mut seeds = serde_json::Map::new();
        if wanted("gauss100_diag") {
            let v = over_seeds("gauss100_diag", diag, x_diag, diagonal)?;
            seeds.insert("gauss100_diag".into(), v);
        }
        if wanted("gauss100_corr") {
            let v = over_seeds("gauss100_corr", corr, x_corr, diagonal)?;
            seeds.insert("gauss100_corr".into(), v);
        }
        if wanted("logreg25") {
            let v = over_seeds("logreg25", logreg, x_logreg, diagonal)?;
            seeds.insert("logreg25".into(), v);
        }
        out.insert("over_seeds".into(), Value::Object(seeds));
    }
    if !cfg!(feature = "nuts-rs") {
        println!(
            "(nuts-rs peer rows: run with `cargo run --release -p xtask --features nuts-rs -- bench`)"
        );
    }
    Ok(out)
}

/// The seed of the table's rows (the peer's chain `c` takes `SEED + c`).
const SEED: u64 = 2026;

/// Seeds over which the default diagonal rows are compared with the peer's (`SEED + 1000 k`): from
/// seed to seed one 4-chain warm-up's gradient count varies by about 2% and the minimum bulk-ESS
/// by about 8%, as much as the differences to judge.
#[cfg(feature = "nuts-rs")]
const SEEDS: usize = 16;

/// Our row `v` and the peer's on one case, each run from [`SEEDS`] seeds (4 chains on one thread):
/// prints the line of the seed table and returns its figures.
#[cfg(feature = "nuts-rs")]
fn over_seeds<const D: usize, M: Energy<D, f64, Cpu> + Sync>(
    name: &'static str,
    model: &M,
    x0: &Batch<D, f64>,
    v: Variant,
) -> Result<Value, String> {
    let mut runs = Vec::with_capacity(SEEDS);
    for k in 0..SEEDS as u64 {
        let seed = SEED + 1000 * k;
        let ours = one_thread(|| measure(name, model, x0, v, seed))?;
        let peer =
            super::nuts_peer::measure(name, model, x0, 1, seed, super::nuts_peer::PeerMass::Diag)?;
        runs.push((ours, peer));
    }
    let mean = |f: fn(&(Row, Row)) -> f64| mean_se(&runs.iter().map(f).collect::<Vec<_>>());
    let (wa, wb, wd) = (
        mean(|(a, _)| a.warm_grads as f64),
        mean(|(_, b)| b.warm_grads as f64),
        mean(|(a, b)| a.warm_grads as f64 - b.warm_grads as f64),
    );
    let (ea, eb) = (mean(|(a, _)| a.per_1k()), mean(|(_, b)| b.per_1k()));
    let per_s = |f: fn(&(Row, Row)) -> &Row| {
        let (ess, s) = runs
            .iter()
            .map(f)
            .fold((0.0, 0.0), |(e, t), r| (e + r.min_bulk, t + r.total_s));
        ess / s
    };
    let (sa, sb) = (per_s(|r| &r.0), per_s(|r| &r.1));
    println!(
        "{name:<15} {:>7.0} +- {:<5.0} {:>7.0} +- {:<5.0} {:>+7.2}% +- {:<5.2}% {:>6.1} +- {:<4.1} {:>6.1} +- {:<4.1} {:>9.0} {:>8.0} {:>8.2} {:>8.2}",
        wa.0, wa.1, wb.0, wb.1, 100.0 * wd.0 / wb.0, 100.0 * wd.1 / wb.0, ea.0, ea.1, eb.0,
        eb.1, sa, sb, ea.0 / eb.0, sa / sb
    );
    Ok(
        json!({"seeds": SEEDS, "warmup_grads_ebm": wa, "warmup_grads_nuts_rs": wb,
              "warmup_grads_difference": wd, "ess_per_1k_grads_ebm": ea,
              "ess_per_1k_grads_nuts_rs": eb, "ess_per_s_ebm": sa, "ess_per_s_nuts_rs": sb}),
    )
}

/// The mean of `v` and its standard error.
#[cfg(feature = "nuts-rs")]
fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, (var / n).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_reproduces_the_documented_check_values() {
        let m = LogReg::new();
        assert_eq!(m.y.iter().sum::<f64>(), 422.0);
        assert_eq!(
            m.x[1..4],
            [1.0850964628625661, 0.9376519287470728, -0.8769087365362793]
        );
        let s = starts::<100>(1, 4).as_vec();
        assert_eq!(s[..2], [-0.30509933922439814, -1.1276398813351989]);
        let s = starts::<100>(2, 4).as_vec();
        assert_eq!(s[..2], [1.0749027244746685, 0.5031948490068316]);
        let s = starts::<25>(3, 4).as_vec();
        assert_eq!(s[..2], [-1.5450952108949423, -1.8659704206511378]);
    }

    fn check<const D: usize, M: Energy<D, f64, Cpu>>(model: &M, x: &Batch<D, f64>) {
        let n = x.shape().0;
        let (e, g) = ebm_core::autodiff_energy_and_gradient(model, x);
        let (mut eh, mut gh) = (vec![0.0; n], vec![0.0; n * D]);
        assert!(model.host_energy_and_gradient(&x.as_vec(), &mut eh, &mut gh));
        for (a, b) in e.as_vec().iter().zip(&eh).chain(g.as_vec().iter().zip(&gh)) {
            assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn the_closed_forms_match_autodiff() {
        check(&Diag::new(), &starts::<100>(1, 3));
        check(&Corr::new(), &starts::<100>(2, 3));
        check(&LogReg::new(), &starts::<25>(3, 3));
        // A batch split over the threads, with a short last block.
        check(&LogReg::new(), &starts::<25>(3, 11));
    }
}
