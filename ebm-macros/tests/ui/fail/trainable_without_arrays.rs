use ebm_core::prelude::*;

#[energy(trainable)]
fn bowl(x: Batch<2>, k: f32) -> Energies {
    x.square().sum::<_, Axis<1>>() * k
}

fn main() {}
