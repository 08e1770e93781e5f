//! The benchmark MLP written as a user of the library would write it: an `#[energy]` function whose
//! gradient comes from autodiff, with no hand-written backward pass. `cases.rs` times it next to the
//! built-in `Mlp`, which has one.

use super::floor::MlpWeights;
use ebm_core::prelude::*;

// `user_mlp64`, shared with the crate that `cargo xtask outside` builds outside the workspace.
include!("../../outside/network.rs");

/// The same network with 256 units per hidden layer.
#[energy]
pub fn user_mlp256(
    x: Batch<2>,
    w1: [[f32; 256]; 2],
    b1: [f32; 256],
    w2: [[f32; 256]; 256],
    b2: [f32; 256],
    w3: [[f32; 1]; 256],
) -> Energies {
    let rows = (x.shape().0, Const::<256>);
    let h1 = (x.matmul(w1) + b1.broadcast_like::<_, Axis<0>>(&rows)).tanh();
    let h2 = (h1.matmul(w2) + b2.broadcast_like::<_, Axis<0>>(&rows)).tanh();
    h2.matmul(w3).sum::<_, Axis<1>>() + x.square().sum::<_, Axis<1>>() * 0.05
}

/// `w` (row-major `(outputs, inputs)`) as `[[_; OUT]; IN]`, inputs first.
pub fn transposed<const IN: usize, const OUT: usize>(w: &[f32]) -> Box<[[f32; OUT]; IN]> {
    assert_eq!(w.len(), IN * OUT, "weights of a {OUT} x {IN} layer");
    let mut t = Box::new([[0.0f32; OUT]; IN]);
    for (o, row) in w.chunks_exact(IN).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            t[i][o] = v;
        }
    }
    t
}

fn vector<const N: usize>(v: &[f32]) -> [f32; N] {
    v.try_into().expect("one value per unit")
}

/// The `#[energy]` model with the weights `w` (64 units).
pub fn model64(dev: &Cpu, w: &MlpWeights) -> UserMlp64<f32> {
    UserMlp64::new(
        dev,
        *transposed::<2, 64>(&w.w1),
        vector(&w.b1),
        *transposed::<64, 64>(&w.w2),
        vector(&w.b2),
        *transposed::<64, 1>(&w.w3),
    )
    .expect("finite weights")
}

/// The `#[energy]` model with the weights `w` (256 units).
pub fn model256(dev: &Cpu, w: &MlpWeights) -> UserMlp256<f32> {
    UserMlp256::new(
        dev,
        *transposed::<2, 256>(&w.w1),
        vector(&w.b1),
        *transposed::<256, 256>(&w.w2),
        vector(&w.b2),
        *transposed::<256, 1>(&w.w3),
    )
    .expect("finite weights")
}
