use ebm_core::prelude::*;

#[energy]
fn bowl(&self, x: Batch<2>) -> Energies {
    x.square().sum::<_, Axis<1>>()
}

fn main() {}
