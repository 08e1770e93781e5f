use ebm_core::prelude::*;

#[energy]
#[inline]
fn bowl(x: Batch<2>) -> Energies {
    x.square().sum::<_, Axis<1>>()
}

fn main() {}
