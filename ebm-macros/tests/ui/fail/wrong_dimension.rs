use ebm_core::prelude::*;

/// A bowl on the plane.
#[energy]
fn bowl(x: Batch<2>) -> Energies {
    x.square().sum::<_, Axis<1>>()
}

fn main() {
    let dev = Cpu::default();
    let model = Bowl::new(&dev).unwrap();
    let points: Batch<3> = dev.zeros_like(&(4, Const::<3>));
    let _ = model.energy(points);
}
