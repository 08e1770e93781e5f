//! Small validators shared by model and sampler constructors.
//!
//! Each returns [`Error::InvalidParameter`] naming the parameter and the value it was given.

use crate::error::{Error, Result};

/// `value` must be finite.
///
/// ```
/// assert!(ebm_core::check::finite("a", 1.0).is_ok());
/// assert!(ebm_core::check::finite("a", f64::NAN).is_err());
/// ```
pub fn finite(name: &str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::invalid(name, value, "must be finite"))
    }
}

/// `value` must be finite and strictly greater than 0.
///
/// ```
/// assert!(ebm_core::check::positive("h", 0.1).is_ok());
/// assert!(ebm_core::check::positive("h", 0.0).is_err());
/// ```
pub fn positive(name: &str, value: f64) -> Result<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(Error::invalid(
            name,
            value,
            "must be finite and greater than 0",
        ))
    }
}

/// `value` must be finite and at least 0.
///
/// ```
/// assert!(ebm_core::check::non_negative("s", 0.0).is_ok());
/// assert!(ebm_core::check::non_negative("s", -1.0).is_err());
/// ```
pub fn non_negative(name: &str, value: f64) -> Result<f64> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(Error::invalid(name, value, "must be finite and at least 0"))
    }
}

/// Every element of `values` must be finite; the error names the first that is not as `name[i]`.
///
/// ```
/// assert!(ebm_core::check::all_finite("w", &[1.0, 2.0]).is_ok());
/// let err = ebm_core::check::all_finite("w", &[1.0, f64::INFINITY]).unwrap_err();
/// assert!(err.to_string().contains("`w[1]`"));
/// ```
pub fn all_finite(name: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::invalid(
            format!("{name}[{i}]"),
            values[i],
            "must be finite",
        )),
    }
}
