//! Models in a crate that denies warnings and missing docs: the generated items must be documented
//! and warning-free, and the models must work in `f32` and `f64`.
#![deny(warnings, missing_docs)]

use ebm_core::prelude::*;

/// Public models.
pub mod models {
    use ebm_core::prelude::*;

    /// A bowl `depth * |x - tilt|^2 / 2`, depth doubled in the body.
    #[energy]
    pub fn tilted_bowl(x: Batch<2>, tilt: [f64; 2], mut depth: f32) -> Energies {
        depth = depth * 2.0;
        let t = tilt.broadcast_like::<_, Axis<0>>(&(x.shape().0, Const::<2>));
        let d = x - t;
        (d * d).sum::<_, Axis<1>>() * depth * 0.5
    }

    #[energy(name = Flat)]
    #[allow(unused_variables)]
    pub fn zero_everywhere(x: Batch<3>) -> Energies {
        let n = 0usize;
        x.sum::<_, Axis<1>>() * 0.0
    }
}

use models::{Flat, TiltedBowl};

fn main() {
    let dev = Cpu::default();
    let bowl = TiltedBowl::<f64>::new(&dev, [1.0, -1.0], 0.5).unwrap();
    let x: Batch<2, f64> = dev.tensor_from_vec(vec![1.0, -1.0, 3.0, 1.0], (2, Const::<2>));
    let (e, g) = bowl.energy_and_gradient(&x);
    // depth 1 after doubling: E = |x - t|^2 / 2, grad = x - t
    assert_eq!(e.as_vec(), vec![0.0, 4.0]);
    assert_eq!(g.as_vec(), vec![0.0, 0.0, 2.0, 2.0]);

    let bowl32 = TiltedBowl::<f32>::new(&dev, [1.0, -1.0], 0.5).unwrap();
    let x32: Batch<2> = dev.tensor_from_vec(vec![3.0, 1.0], (1, Const::<2>));
    assert_eq!(bowl32.energy(x32).as_vec(), vec![4.0]);

    let flat = Flat::<f32>::new(&dev).unwrap();
    let y: Batch<3> = dev.ones_like(&(2, Const::<3>));
    assert_eq!(flat.gradient(&y).as_vec(), vec![0.0; 6]);
    let copy = flat.clone();
    let _ = format!("{copy:?}");

    assert!(TiltedBowl::<f32>::new(&dev, [f64::NAN, 0.0], 1.0).is_err());
    assert!(TiltedBowl::<f32>::new(&dev, [0.0, 0.0], f32::INFINITY).is_err());
}
