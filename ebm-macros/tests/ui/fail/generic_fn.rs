use ebm_core::prelude::*;

#[energy]
fn bowl<const D: usize>(x: Batch<D>) -> Energies {
    x.square().sum::<_, Axis<1>>()
}

fn main() {}
