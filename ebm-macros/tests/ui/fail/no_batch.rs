use ebm_core::prelude::*;

#[energy]
fn constant() -> Energies {
    unimplemented!()
}

fn main() {}
