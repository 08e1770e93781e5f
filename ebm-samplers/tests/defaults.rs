//! Every kernel's `Default` is the documented setting, one its constructor accepts.

use ebm_core::prelude::*;
use ebm_models::Harmonic;
use ebm_samplers::prelude::*;

#[test]
fn every_kernel_has_the_documented_default() {
    assert_eq!(
        LangevinDynamics::default(),
        LangevinDynamics::new(0.01, 1.0).unwrap()
    );
    assert_eq!(Mala::default(), Mala::new(0.1, 1.0).unwrap());
    assert_eq!(
        HamiltonianMonteCarlo::default(),
        HamiltonianMonteCarlo::new(0.1, 10).unwrap()
    );
    assert_eq!(Nuts::default(), Nuts::new(1.0).unwrap());
    for threshold in [
        Mala::default().divergence_threshold(),
        HamiltonianMonteCarlo::default().divergence_threshold(),
        Nuts::default().divergence_threshold(),
    ] {
        assert_eq!(threshold, 1000.0, "the documented threshold, as Stan's");
    }
    assert_eq!(
        HamiltonianMonteCarlo::default().mass(),
        &MassMatrix::Identity
    );
}

#[test]
fn default_kernels_run() {
    let model = Harmonic::<f64>::default();
    let x0: Batch<1, f64> = Cpu::default().zeros_like(&(4, Const::<1>));
    let steps = |out: SampleOutput<1, f64, Cpu>| out.samples.shape().0;
    let options = RunOptions::new(5).progress(false);
    assert_eq!(
        steps(
            LangevinDynamics::default()
                .run(&model, &x0, &options)
                .unwrap()
        ),
        4
    );
    assert_eq!(
        steps(Mala::default().run(&model, &x0, &options).unwrap()),
        4
    );
    assert_eq!(
        steps(
            HamiltonianMonteCarlo::default()
                .run(&model, &x0, &options)
                .unwrap()
        ),
        4
    );
}
