use ebm_core::prelude::*;

#[energy]
struct FourWells {
    weights: [f32; 4],
}

fn main() {
    let _ = FourWells { weights: [1.0; 4] }.weights;
}
