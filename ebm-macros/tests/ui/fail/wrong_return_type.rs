use ebm_core::prelude::*;

#[energy]
fn bowl(x: Batch<2>) -> f32 {
    x.square().sum::<_, Axis<1>>().as_vec()[0]
}

fn main() {}
