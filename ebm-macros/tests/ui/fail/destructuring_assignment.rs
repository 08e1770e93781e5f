use ebm_core::prelude::*;

#[energy]
fn split(x: Batch<2>) -> Energies {
    let (mut a, mut b);
    (a, b) = (x.square(), x.exp());
    (a + b).sum::<_, Axis<1>>()
}

fn main() {}
