//! `#[energy(trainable)]` models against independent references: dfdx's own `Linear` layers for
//! the parameter gradients, central differences in `f64`, PyTorch's initialisation bounds, and a
//! round trip through `.npz`.

use ebm_core::prelude::*;
use ebm_samplers::LangevinDynamics;
use ebm_train::cd::{PcdConfig, PcdTrainer, Starts};
use ebm_train::data::Toy;
use ebm_train::nn::{build_network, Network, SiluMlp};

const H: usize = 16;

/// An MLP 2-16-16-1 with SiLU written as a function: the network of `SiluMlp<2, 16>`, with the
/// weights stored `(inputs, outputs)` for `x . w`.
#[energy(trainable, name = Mlp)]
fn silu_mlp(
    x: Batch<2>,
    w1: [[f32; H]; 2],
    b1: [f32; H],
    w2: [[f32; H]; H],
    b2: [f32; H],
    w3: [[f32; 1]; H],
    b3: [f32; 1],
    scale: f64,
) -> Energies {
    let n = x.shape().0;
    let h = (x.matmul(w1) + b1.broadcast_like::<_, Axis<0>>(&(n, Const::<H>))).silu();
    let h = (h.matmul(w2) + b2.broadcast_like::<_, Axis<0>>(&(n, Const::<H>))).silu();
    let out = h.matmul(w3) + b3.broadcast_like::<_, Axis<0>>(&(n, Const::<1>));
    out.sum::<_, Axis<1>>() * scale
}

fn points(n: usize, seed: u64) -> Batch<2> {
    Cpu::seed_from_u64(seed).sample_normal_like(&(n, Const::<2>)) * 2.0
}

/// `(rows, cols)` row-major to `(cols, rows)`.
fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols)
        .flat_map(|c| (0..rows).map(move |r| v[r * cols + c]))
        .collect()
}

/// The dfdx network with the same parameters as `m` (dfdx stores `Linear` weights
/// `(outputs, inputs)`).
fn as_dfdx(m: &Mlp<f32>) -> <SiluMlp<2, H> as dfdx::nn::BuildOnDevice<Cpu, f32>>::Built {
    let mut net = build_network::<SiluMlp<2, H>>(0);
    net.0.weight.copy_from(&transpose(&m.w1.as_vec(), 2, H));
    net.0.bias.copy_from(&m.b1.as_vec());
    net.2.weight.copy_from(&transpose(&m.w2.as_vec(), H, H));
    net.2.bias.copy_from(&m.b2.as_vec());
    net.4.weight.copy_from(&transpose(&m.w3.as_vec(), H, 1));
    net.4.bias.copy_from(&m.b3.as_vec());
    net
}

fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} against {y}"
        );
    }
}

/// The gradients of `sum_i w_i E(x_i)` with respect to the parameters of any network.
fn weighted_gradients<N: Network<2>>(
    net: &N,
    x: &Batch<2>,
    w: &[f32],
) -> dfdx::prelude::Gradients<f32, Cpu> {
    let dev = Cpu::default();
    let grads = net.alloc_grads();
    let e = net.traced_energies(x.clone().traced(grads));
    let w = dev.tensor_from_vec(w.to_vec(), (w.len(),));
    (e * w).sum::<Rank0, _>().backward()
}

#[test]
fn init_draws_pytorchs_linear_bounds_from_the_seed() {
    let dev = Cpu::default();
    let m = Mlp::<f32>::init(&dev, 7, 1.0).unwrap();
    // fan_in: 2 for w1 and its bias b1, H for w2, b2, w3, b3.
    for (name, values, fan_in) in [
        ("w1", m.w1.as_vec(), 2.0f32),
        ("b1", m.b1.as_vec(), 2.0),
        ("w2", m.w2.as_vec(), H as f32),
        ("b2", m.b2.as_vec(), H as f32),
        ("w3", m.w3.as_vec(), H as f32),
    ] {
        let bound = 1.0 / fan_in.sqrt();
        let largest = values.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        assert!(largest <= bound, "{name}: {largest} beyond {bound}");
        // Uniform over the whole interval: with 16 or more draws the largest is near the bound.
        assert!(largest > 0.7 * bound, "{name}: {largest} against {bound}");
    }
    let again = Mlp::<f32>::init(&dev, 7, 1.0).unwrap();
    assert_eq!(m.w2.as_vec(), again.w2.as_vec());
    let other = Mlp::<f32>::init(&dev, 8, 1.0).unwrap();
    assert_ne!(m.w2.as_vec(), other.w2.as_vec());
    // Scalars stay constants and are checked.
    let err = Mlp::<f32>::init(&dev, 7, f64::NAN).unwrap_err();
    assert!(err.to_string().contains("scale"), "{err}");
    // The trainable tensors are the arrays, in order, and not the scalar.
    assert_eq!(m.num_trainable_params(), 2 * H + H + H * H + H + H + 1);
}

#[test]
fn parameter_gradients_match_the_same_network_of_dfdx_layers() {
    let dev = Cpu::default();
    let m = Mlp::<f32>::init(&dev, 3, 1.0).unwrap();
    let net = as_dfdx(&m);
    let x = points(40, 1);
    let w: Vec<f32> = (0..40).map(|i| (i as f32 - 17.0) / 40.0).collect();

    // Energies first, without a tape and with one.
    let plain = m.energy(x.clone()).as_vec();
    let traced = m.energy_with_params(x.clone()).as_vec();
    let reference = net.traced_energies(x.clone().leaky_traced()).as_vec();
    assert_eq!(plain, traced);
    assert_close(&plain, &reference, 1e-5, "energies");

    let g = weighted_gradients(&m, &x, &w);
    let r = weighted_gradients(&net, &x, &w);
    let pairs = [
        (
            g.get(&m.w1).as_vec(),
            transpose(&r.get(&net.0.weight).as_vec(), H, 2),
            "w1",
        ),
        (g.get(&m.b1).as_vec(), r.get(&net.0.bias).as_vec(), "b1"),
        (
            g.get(&m.w2).as_vec(),
            transpose(&r.get(&net.2.weight).as_vec(), H, H),
            "w2",
        ),
        (g.get(&m.b2).as_vec(), r.get(&net.2.bias).as_vec(), "b2"),
        (
            g.get(&m.w3).as_vec(),
            transpose(&r.get(&net.4.weight).as_vec(), 1, H),
            "w3",
        ),
        (g.get(&m.b3).as_vec(), r.get(&net.4.bias).as_vec(), "b3"),
    ];
    for (ours, theirs, name) in pairs {
        assert!(ours.iter().any(|v| *v != 0.0), "{name}: no gradient");
        assert_close(&ours, &theirs, 1e-4, name);
    }
}

#[test]
fn the_parameter_gradient_matches_central_differences_in_f64() {
    let dev = Cpu::default();
    let m = Mlp::<f64>::init(&dev, 5, 0.7).unwrap();
    let x: Batch<2, f64> =
        dev.tensor_from_vec(vec![0.3, -1.2, 1.5, 0.4, -0.8, 2.0], (3, Const::<2>));
    let w = [0.5, -1.0, 2.0];
    let weighted = |m: &Mlp<f64>| -> f64 {
        let e = m.energy(x.clone()).as_vec();
        e.iter().zip(&w).map(|(e, w)| e * w).sum()
    };
    let grads = {
        let e = m.energy_with_params(x.clone().traced(m.alloc_grads()));
        let wt = dev.tensor(w);
        let wt = wt.reshape_like(&(3,));
        (e * wt).sum::<Rank0, _>().backward()
    };
    let g2 = grads.get(&m.w2).as_vec();
    let g3 = grads.get(&m.b3).as_vec();
    let eps = 1e-6;
    for k in [0, 17, 100, H * H - 1] {
        let mut v = m.w2.as_vec();
        let mut plus = m.clone();
        v[k] += eps;
        plus.w2.copy_from(&v);
        let mut minus = m.clone();
        v[k] -= 2.0 * eps;
        minus.w2.copy_from(&v);
        let fd = (weighted(&plus) - weighted(&minus)) / (2.0 * eps);
        assert!(
            (g2[k] - fd).abs() < 1e-7 * (1.0 + fd.abs()),
            "w2[{k}]: {} against {fd}",
            g2[k]
        );
    }
    let mut plus = m.clone();
    plus.b3.copy_from(&[m.b3.as_vec()[0] + eps]);
    let mut minus = m.clone();
    minus.b3.copy_from(&[m.b3.as_vec()[0] - eps]);
    let fd = (weighted(&plus) - weighted(&minus)) / (2.0 * eps);
    // d/db3 sum_i w_i scale (.. + b3) = scale * sum w.
    assert!((fd - 0.7 * 1.5).abs() < 1e-8, "{fd}");
    assert!((g3[0] - fd).abs() < 1e-8, "{} against {fd}", g3[0]);
}

#[test]
fn a_trainable_model_trains_by_pcd_and_round_trips_through_npz() {
    let dev = Cpu::default();
    let data: Vec<f32> = Toy::ring8()
        .sample(1000, 2)
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let config = PcdConfig {
        buffer_size: 500,
        batch: 32,
        init_steps: 5,
        starts: Starts::Buffer,
        ..PcdConfig::default()
    };
    let model = Mlp::<f32>::init(&dev, 2, 1.0).unwrap();
    let before = model.w2.as_vec();
    let mut t = PcdTrainer::<2, _>::new(
        model,
        LangevinDynamics::new(0.01, 1.0).unwrap(),
        data,
        config,
        2,
    )
    .unwrap();
    for _ in 0..5 {
        assert!(t.step().unwrap().loss.is_finite());
    }
    assert_ne!(t.network().w2.as_vec(), before, "Adam moved the weights");
    // The trainer samples the model itself.
    let sampling: Mlp<f32> = t.energy().unwrap();
    let x = points(30, 4);
    assert_eq!(
        sampling.energy(x.clone()).as_vec(),
        t.network().energy(x.clone()).as_vec()
    );

    let dir = std::env::temp_dir().join(format!("ebm-trainable-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.npz");
    ebm_train::io::save_npz(t.network(), &path).unwrap();
    let mut loaded = Mlp::<f32>::init(&dev, 99, 1.0).unwrap();
    ebm_train::io::load_npz(&mut loaded, &path).unwrap();
    assert_eq!(
        loaded.energy(x.clone()).as_vec(),
        t.network().energy(x).as_vec()
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // A parameter that stops being finite is refused when sampling.
    let mut broken = loaded.clone();
    let mut v = broken.b2.as_vec();
    v[0] = f32::INFINITY;
    broken.b2.copy_from(&v);
    assert!(broken.sampling_energy().is_err());
}
