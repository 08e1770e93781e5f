use ebm_core::prelude::*;

#[energy]
fn bowl(x: Batch<2>) {
    let _ = x.square();
}

fn main() {}
