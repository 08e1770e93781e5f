use ebm_core::prelude::*;

#[energy(dim = 2)]
fn bowl(x: Batch<2>) -> Energies {
    x.square().sum::<_, Axis<1>>()
}

fn main() {}
