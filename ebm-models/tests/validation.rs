//! Every rejected constructor input gives its own typed error naming the parameter.

use ebm_core::prelude::*;
use ebm_models::*;

fn invalid_name(err: Error) -> String {
    match err {
        Error::InvalidParameter { name, .. } => name,
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

#[test]
fn gaussian_rejects_non_finite_mean() {
    let dev = Cpu::default();
    let err = GaussianModel::new(&dev, [0.0, f64::NAN], [[1.0, 0.0], [0.0, 1.0]]).unwrap_err();
    assert_eq!(invalid_name(err.clone()), "mean[1]");
    assert!(err.to_string().contains("NaN"), "{err}");
}

#[test]
fn gaussian_rejects_non_finite_covariance() {
    let dev = Cpu::default();
    let err =
        GaussianModel::new(&dev, [0.0f32, 0.0], [[1.0, 0.0], [0.0, f32::INFINITY]]).unwrap_err();
    assert_eq!(invalid_name(err), "cov[3]");
}

#[test]
fn gaussian_rejects_asymmetric_covariance() {
    let dev = Cpu::default();
    let err = GaussianModel::new(&dev, [0.0f64, 0.0], [[1.0, 0.5], [0.4, 2.0]]).unwrap_err();
    match &err {
        Error::NotSymmetric {
            name,
            row,
            col,
            upper,
            lower,
            ..
        } => {
            assert_eq!((name.as_str(), *row, *col), ("cov", 0, 1));
            assert_eq!((*upper, *lower), (0.5, 0.4));
        }
        other => panic!("expected NotSymmetric, got {other:?}"),
    }
    assert!(err.to_string().contains("not symmetric"), "{err}");
}

#[test]
fn gaussian_accepts_asymmetry_within_tolerance_and_symmetrises() {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [0.0f64, 0.0], [[1.0, 0.5], [0.5 + 1e-9, 2.0]]).unwrap();
    let cov = model.covariance();
    assert_eq!(cov[1], cov[2]);
}

#[test]
fn gaussian_rejects_indefinite_and_singular_covariance() {
    let dev = Cpu::default();
    let indefinite = GaussianModel::new(
        &dev,
        [0.0f64; 3],
        [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]],
    );
    assert!(
        matches!(indefinite, Err(Error::NotPositiveDefinite { pivot: 1, .. })),
        "{indefinite:?}"
    );
    let singular = GaussianModel::new(&dev, [0.0f64; 2], [[1.0, 1.0], [1.0, 1.0]]);
    assert!(
        matches!(singular, Err(Error::NotPositiveDefinite { pivot: 1, .. })),
        "{singular:?}"
    );
    let zero = GaussianModel::new(&dev, [0.0f64; 2], [[0.0, 0.0], [0.0, 1.0]]);
    assert!(
        matches!(zero, Err(Error::NotPositiveDefinite { pivot: 0, .. })),
        "{zero:?}"
    );
}

#[test]
fn gaussian_rejects_slices_of_the_wrong_length() {
    let dev = Cpu::default();
    let err =
        GaussianModel::<2, f64>::from_slices(&dev, &[0.0; 3], &[1.0, 0.0, 0.0, 1.0]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LengthMismatch {
                expected: 2,
                actual: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let err = GaussianModel::<2, f64>::from_slices(&dev, &[0.0; 2], &[1.0, 0.0, 0.0]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LengthMismatch {
                expected: 4,
                actual: 3,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn gaussian_precision_inverts_covariance() {
    let dev = Cpu::default();
    let model = GaussianModel::new(&dev, [1.0f64, -1.0], [[1.0, 0.5], [0.5, 2.0]]).unwrap();
    // inverse of [[1, .5], [.5, 2]] is [[2, -.5], [-.5, 1]] / 1.75
    let expect = [2.0 / 1.75, -0.5 / 1.75, -0.5 / 1.75, 1.0 / 1.75];
    for (a, b) in model.precision().iter().zip(expect) {
        assert!((a - b).abs() < 1e-14);
    }
}

#[test]
fn landscape_parameters_are_validated() {
    assert_eq!(invalid_name(Harmonic::new(0.0f64).unwrap_err()), "k");
    assert_eq!(invalid_name(Harmonic::new(f64::NAN).unwrap_err()), "k");
    assert_eq!(
        invalid_name(DoubleWell::new(-2.0f64, 1.0).unwrap_err()),
        "h"
    );
    assert_eq!(
        invalid_name(DoubleWell::new(2.0f64, f64::INFINITY).unwrap_err()),
        "b"
    );
    assert_eq!(
        invalid_name(Rosenbrock::new(f64::NAN, 100.0).unwrap_err()),
        "a"
    );
    assert_eq!(invalid_name(Rosenbrock::new(1.0f64, 0.0).unwrap_err()), "b");
    assert_eq!(invalid_name(Rastrigin::new(-1.0f64).unwrap_err()), "a");
    assert_eq!(
        invalid_name(Ackley::new(0.0f64, 0.2, 1.0).unwrap_err()),
        "a"
    );
    assert_eq!(
        invalid_name(Ackley::new(20.0f64, -0.2, 1.0).unwrap_err()),
        "b"
    );
    assert_eq!(
        invalid_name(Ackley::new(20.0f64, 0.2, f64::NAN).unwrap_err()),
        "c"
    );
}

#[test]
fn mixture_parameters_are_validated() {
    let dev = Cpu::default();
    let err = GaussianMixture::<2, f64>::new(&dev, vec![], vec![]).unwrap_err();
    assert_eq!(invalid_name(err), "centers");
    let err = GaussianMixture::<2, f64>::new(&dev, vec![[0.0, 0.0]], vec![1.0, 2.0]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LengthMismatch {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let err =
        GaussianMixture::<2, f64>::new(&dev, vec![[0.0, 0.0], [1.0, f64::NAN]], vec![1.0, 1.0])
            .unwrap_err();
    assert_eq!(invalid_name(err), "centers[1][1]");
    let err = GaussianMixture::<2, f64>::new(&dev, vec![[0.0, 0.0], [1.0, 1.0]], vec![1.0, 0.0])
        .unwrap_err();
    assert_eq!(invalid_name(err), "weights[1]");
}
