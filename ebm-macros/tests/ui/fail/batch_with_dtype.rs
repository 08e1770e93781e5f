use ebm_core::prelude::*;

#[energy]
fn bowl(x: Batch<2, f64>) -> Energies {
    x.square().sum::<_, Axis<1>>()
}

fn main() {}
