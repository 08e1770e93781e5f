use std::borrow::Cow;

use super::cpu_fast::Rows;
use super::ops::{BinaryKernel, UnaryKernel};
use crate::{
    shapes::{Dtype, Shape},
    tensor::{
        cpu::Cpu,
        unique_id, Tensor, Tensorlike, ZerosTensor,
    },
};

pub trait UnaryDerivative<E> {
    /// Whether the [UnaryDerivative::df] function can re-use the output
    /// from [UnaryDerivative::f].
    const DF_USES_FX: bool;
    /// Whether the derivative of this op can be computed without
    /// any data.
    const HAS_CONST_DF: bool;

    fn f(&self, x: &E) -> E;

    /// Patch (ebm): applies [UnaryDerivative::f] to every element of `xs` in place. Ops with a
    /// vectorised kernel for a dtype override it.
    #[inline(always)]
    fn f_slice(&self, xs: &mut [E]) {
        for x in xs.iter_mut() {
            *x = self.f(x);
        }
    }

    /// Receives `f(x)` if [UnaryDerivative::DF_USES_FX] is true,
    /// otherwise `x`.
    fn df(&self, x: &E) -> E;

    fn const_df(&self) -> E {
        unimplemented!()
    }
}

pub trait BinaryDerivative<E>: std::fmt::Debug {
    /// Whether the derivative of this op can be computed without
    /// any data.
    const HAS_CONST_DF: bool;
    fn f(&self, x: &E, y: &E) -> E;
    fn dfdx(&self, x: &E, y: &E) -> E;
    fn dfdy(&self, x: &E, y: &E) -> E;
    fn const_dfdx(&self) -> E {
        unimplemented!()
    }
    fn const_dfdy(&self) -> E {
        unimplemented!()
    }
}

impl<E: Dtype, Op: UnaryDerivative<E>> UnaryKernel<Op, E> for Cpu {
    const BACKWARD_WITHOUT_INP: bool = Op::DF_USES_FX;
    const BACKWARD_WITHOUT_DATA: bool = Op::HAS_CONST_DF;

    fn forward<S: Shape>(
        &self,
        op: Op,
        inp: Cow<Tensor<S, E, Self>>,
    ) -> Result<Tensor<S, E, Self>, Self::Err> {
        let mut out = match inp {
            Cow::Borrowed(inp) => {
                // allocate a new data buffer
                Tensor {
                    id: unique_id(),
                    data: inp.data.clone(),
                    shape: inp.shape,
                    strides: inp.strides,
                    device: self.clone(),
                    tape: Default::default(),
                }
            }
            Cow::Owned(mut inp) => {
                // re-use the data buffer
                inp.id = unique_id();
                inp
            }
        };
        // NOTE: we can iterate over buf here because we know inp & out
        // have exact same strides due to clone.
        op.f_slice(std::sync::Arc::make_mut(&mut out.data).as_mut_slice());
        Ok(out)
    }
    fn backward<S: Shape>(
        &self,
        op: Op,
        inp: &impl Tensorlike<S, E, Self>,
        grad_inp: &mut Self::Vec,
        out: &impl Tensorlike<S, E, Self>,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err> {
        match (inp.data(), out.data()) {
            // Patch (ebm): zipped loops, which vectorise, instead of indexing.
            (None, None) => {
                let df = op.const_df();
                for (x, &g) in grad_inp.iter_mut().zip(grad_out.iter()) {
                    *x += df * g;
                }
            }
            (None, Some(out)) => {
                for ((x, o), &g) in grad_inp.iter_mut().zip(out.iter()).zip(grad_out.iter()) {
                    *x += op.df(o) * g;
                }
            }
            (Some(inp), None) => {
                for ((x, i), &g) in grad_inp.iter_mut().zip(inp.iter()).zip(grad_out.iter()) {
                    *x += op.df(i) * g;
                }
            }
            _ => unreachable!(),
        }
        Ok(())
    }
}

/// Patch (ebm): `out[i] = f(lhs[..], rhs[..])` row by row, `out` contiguous with the shape of
/// `rows`; `a` and `b` are the operands' buffers, `rows` holds their strides.
#[inline(always)]
fn binary_rows<E: Dtype>(
    rows: &Rows,
    out: &mut [E],
    a: &[E],
    b: &[E],
    f: impl Fn(E, E) -> E,
) {
    let len = rows.len();
    let (sa, sb) = rows.inner();
    rows.for_each(|row, ao, bo| {
        let o = &mut out[row * len..(row + 1) * len];
        match (sa, sb) {
            (1, 1) => {
                for ((o, &x), &y) in o.iter_mut().zip(&a[ao..ao + len]).zip(&b[bo..bo + len]) {
                    *o = f(x, y);
                }
            }
            (1, 0) => {
                let y = b[bo];
                for (o, &x) in o.iter_mut().zip(&a[ao..ao + len]) {
                    *o = f(x, y);
                }
            }
            (0, 1) => {
                let x = a[ao];
                for (o, &y) in o.iter_mut().zip(&b[bo..bo + len]) {
                    *o = f(x, y);
                }
            }
            _ => {
                for (j, o) in o.iter_mut().enumerate() {
                    *o = f(a[ao + j * sa], b[bo + j * sb]);
                }
            }
        }
    });
}

/// Patch (ebm): `grad[..] += d(i) * grad_out[i]` row by row, `grad` laid out by `stride_of` (the
/// operand's strides in `rows`, side `first` or not) and `d(row, j)` the local derivative.
#[inline(always)]
fn accumulate_rows<E: Dtype>(
    rows: &Rows,
    first: bool,
    grad: &mut [E],
    grad_out: &[E],
    d: impl Fn(usize, usize, usize) -> E,
) {
    let len = rows.len();
    let (sa, sb) = rows.inner();
    let s = if first { sa } else { sb };
    rows.for_each(|row, ao, bo| {
        let go = &grad_out[row * len..(row + 1) * len];
        let at = if first { ao } else { bo };
        match s {
            1 => add_products(&mut grad[at..at + len], go, |j| d(ao + j * sa, bo + j * sb, j)),
            0 => {
                let mut sum = E::default();
                for (j, &go) in go.iter().enumerate() {
                    sum += d(ao + j * sa, bo + j * sb, j) * go;
                }
                grad[at] += sum;
            }
            _ => {
                for (j, &go) in go.iter().enumerate() {
                    grad[at + j * s] += d(ao + j * sa, bo + j * sb, j) * go;
                }
            }
        }
    });
}

/// Patch (ebm): `g[j] += d(j) * go[j]`. A function of its own so that the slices are known not
/// to overlap (inside `Rows::for_each`'s closure the loop reloaded the gradient's address at every
/// element and did not vectorise).
#[inline(always)]
fn add_products<E: Dtype>(g: &mut [E], go: &[E], d: impl Fn(usize) -> E) {
    for (j, (g, &go)) in g.iter_mut().zip(go).enumerate() {
        *g += d(j) * go;
    }
}

impl<E: Dtype, Op: BinaryDerivative<E>> BinaryKernel<Op, E> for Cpu {
    const BACKWARD_WITHOUT_DATA: bool = Op::HAS_CONST_DF;
    fn forward<S: Shape>(
        &self,
        op: Op,
        lhs: Cow<Tensor<S, E, Self>>,
        rhs: Cow<Tensor<S, E, Self>>,
    ) -> Result<Tensor<S, E, Self>, Self::Err> {
        // Patch (ebm): the output is written row by row (see `binary_rows`), in place in an
        // operand's buffer when that operand is contiguous and not shared.
        let dims = lhs.shape.concrete();
        let contiguous = lhs.shape.strides();
        match (lhs, rhs) {
            (Cow::Owned(mut lhs), Cow::Owned(rhs))
                if lhs.strides == contiguous && std::sync::Arc::strong_count(&lhs.data) == 1 =>
            {
                lhs.id = unique_id();
                let rows = Rows::new(dims, contiguous, rhs.strides);
                let buf = std::sync::Arc::make_mut(&mut lhs.data);
                let (len, (_, sb)) = (rows.len(), rows.inner());
                let b = &rhs.data[..];
                rows.for_each(|row, _, bo| {
                    let o = &mut buf[row * len..(row + 1) * len];
                    match sb {
                        1 => {
                            for (x, &y) in o.iter_mut().zip(&b[bo..bo + len]) {
                                *x = op.f(x, &y);
                            }
                        }
                        0 => {
                            let y = b[bo];
                            for x in o.iter_mut() {
                                *x = op.f(x, &y);
                            }
                        }
                        _ => {
                            for (j, x) in o.iter_mut().enumerate() {
                                *x = op.f(x, &b[bo + j * sb]);
                            }
                        }
                    }
                });
                Ok(lhs)
            }
            (Cow::Owned(lhs), Cow::Owned(mut rhs))
                if rhs.strides == contiguous && std::sync::Arc::strong_count(&rhs.data) == 1 =>
            {
                rhs.id = unique_id();
                let rows = Rows::new(dims, lhs.strides, contiguous);
                let buf = std::sync::Arc::make_mut(&mut rhs.data);
                let (len, (sa, _)) = (rows.len(), rows.inner());
                let a = &lhs.data[..];
                rows.for_each(|row, ao, _| {
                    let o = &mut buf[row * len..(row + 1) * len];
                    for (j, y) in o.iter_mut().enumerate() {
                        *y = op.f(&a[ao + j * sa], y);
                    }
                });
                Ok(rhs)
            }
            (lhs, rhs) => {
                // Patch (ebm): `binary_rows` writes every entry.
                let mut out = self.try_overwritten_like(&lhs.shape)?;
                let rows = Rows::new(dims, lhs.strides, rhs.strides);
                let buf = std::sync::Arc::make_mut(&mut out.data);
                binary_rows(&rows, buf, &lhs.data, &rhs.data, |x, y| op.f(&x, &y));
                Ok(out)
            }
        }
    }
    fn backward<S: Shape>(
        &self,
        op: Op,
        lhs: &impl Tensorlike<S, E, Self>,
        grad_lhs: &mut Self::Vec,
        rhs: &impl Tensorlike<S, E, Self>,
        grad_rhs: &mut Self::Vec,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err> {
        let rows = Rows::new(lhs.shape().concrete(), lhs.strides(), rhs.strides());
        match (lhs.data(), rhs.data()) {
            (Some(l), Some(r)) => {
                accumulate_rows(&rows, true, grad_lhs, grad_out, |a, b, _| op.dfdx(&l[a], &r[b]));
                accumulate_rows(&rows, false, grad_rhs, grad_out, |a, b, _| op.dfdy(&l[a], &r[b]));
            }
            (None, None) => {
                assert!(Op::HAS_CONST_DF);
                let (dx, dy) = (op.const_dfdx(), op.const_dfdy());
                accumulate_rows(&rows, true, grad_lhs, grad_out, move |_, _, _| dx);
                accumulate_rows(&rows, false, grad_rhs, grad_out, move |_, _, _| dy);
            }
            _ => unreachable!(),
        }
        Ok(())
    }
    fn backward_lhs<S: Shape>(
        &self,
        op: Op,
        lhs: &impl Tensorlike<S, E, Self>,
        grad_lhs: &mut Self::Vec,
        rhs: &impl Tensorlike<S, E, Self>,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err> {
        let rows = Rows::new(lhs.shape().concrete(), lhs.strides(), rhs.strides());
        match (lhs.data(), rhs.data()) {
            (Some(l), Some(r)) => {
                accumulate_rows(&rows, true, grad_lhs, grad_out, |a, b, _| op.dfdx(&l[a], &r[b]));
            }
            (None, None) => {
                assert!(Op::HAS_CONST_DF);
                let dx = op.const_dfdx();
                accumulate_rows(&rows, true, grad_lhs, grad_out, move |_, _, _| dx);
            }
            _ => unreachable!(),
        }
        Ok(())
    }
}
