use ebm_core::prelude::*;

#[energy]
fn bowl(x: Tensor<(usize, Const<2>), f32, Cpu>) -> Energies {
    x.square().sum::<_, Axis<1>>()
}

fn main() {}
