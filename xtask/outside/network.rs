// The benchmark's `#[energy]` network, the one source of it: `xtask/src/bench/user_mlp.rs` includes
// this file, and `cargo xtask outside` copies it into a crate outside the workspace, so that both
// builds compile the same function.

/// `E(x) = w3 . tanh(W2 tanh(W1 x + b1) + b2) + 0.05 |x|^2`, 64 units per hidden layer. The weights
/// are stored as `(inputs, outputs)` so that a layer is `h.matmul(w)`.
#[energy]
pub fn user_mlp64(
    x: Batch<2>,
    w1: [[f32; 64]; 2],
    b1: [f32; 64],
    w2: [[f32; 64]; 64],
    b2: [f32; 64],
    w3: [[f32; 1]; 64],
) -> Energies {
    let rows = (x.shape().0, Const::<64>);
    let h1 = (x.matmul(w1) + b1.broadcast_like::<_, Axis<0>>(&rows)).tanh();
    let h2 = (h1.matmul(w2) + b2.broadcast_like::<_, Axis<0>>(&rows)).tanh();
    h2.matmul(w3).sum::<_, Axis<1>>() + x.square().sum::<_, Axis<1>>() * 0.05
}
