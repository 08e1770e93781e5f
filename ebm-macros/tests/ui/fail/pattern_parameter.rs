use ebm_core::prelude::*;

#[energy]
fn tilted(x: Batch<2>, [a, b]: [f32; 2]) -> Energies {
    (x.square() * a + b).sum::<_, Axis<1>>()
}

fn main() {}
