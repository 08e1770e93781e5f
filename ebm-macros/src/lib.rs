//! # ebm-macros
//!
//! The [`macro@energy`] attribute: write an energy as one function of a batch of points, get a model
//! that implements `ebm_core::Energy`. Use it through `ebm-core`, which re-exports it
//! (`use ebm_core::prelude::*;` brings it into scope); the generated code refers to `ebm_core` only.

#![warn(missing_docs)]

mod expand;
mod parse;
mod rewrite;
mod validate;

use proc_macro::TokenStream;
use quote::quote;
use syn::{FnArg, ItemFn};

/// Turns a function of a batch of points into an energy model.
///
/// ```
/// use ebm_core::prelude::*;
///
/// /// Four Gaussian wells: `E(x) = -log sum_k exp(-w_k |x - c_k|^2 / 2)`.
/// #[energy]
/// pub fn four_wells(x: Batch<2>, centers: [[f32; 2]; 4], weights: [f32; 4]) -> Energies {
///     let n = x.shape().0;
///     let shape = (n, Const::<4>, Const::<2>);
///     let d = x.broadcast_like::<_, Axis<1>>(&shape) - centers.broadcast_like::<_, Axis<0>>(&shape);
///     let w = weights.broadcast_like::<_, Axis<0>>(&(n, Const::<4>));
///     let logits = d.square().sum::<_, Axis<2>>() * w * -0.5;
///     -logits.logsumexp::<_, Axis<1>>()
/// }
///
/// let dev = Cpu::default();
/// let centers = [[-1.5, -1.5], [1.5, 1.5], [-1.5, 1.5], [1.5, -1.5]];
/// let model = FourWells::new(&dev, centers, [1.0, 1.0, 0.8, 0.8])?;
///
/// let x: Batch<2> = dev.tensor_from_vec(vec![1.5, 1.5, 0.0, 0.0], (2, Const::<2>));
/// let (energies, gradients) = model.energy_and_gradient(&x);
/// assert!(energies.as_vec()[0] < energies.as_vec()[1]); // a well is lower than the saddle
/// assert!(gradients.as_vec()[2..].iter().all(|g| g.abs() < 1e-6)); // the origin is symmetric
///
/// // The same function in f64:
/// let model64 = FourWells::<f64>::new(&dev, centers, [1.0, 1.0, 0.8, 0.8])?;
/// let x64: Batch<2, f64> = dev.tensor_from_vec(vec![1.5, 1.5], (1, Const::<2>));
/// assert!(model64.energy(x64).as_vec()[0] < 0.0);
///
/// // Parameters must be finite:
/// assert!(FourWells::<f32>::new(&dev, centers, [1.0, f32::NAN, 0.8, 0.8]).is_err());
/// # Ok::<(), ebm_core::Error>(())
/// ```
///
/// # The function
///
/// ```text
/// #[energy]                 // or #[energy(name = StructName)], #[energy(trainable)]
/// VIS fn NAME(x: Batch<D>, PARAM: TYPE, ...) -> Energies { BODY }
/// ```
///
/// - The first argument is the batch, shape `(n_chains, D)`; `D` is a literal, a named constant or a
///   `{ block }`. Any name works (`x` above).
/// - The other arguments are the model's parameters. Each is an `f32` or `f64` scalar, or a
///   fixed-size array of them with up to 6 dimensions (`[f32; 4]`, `[[f64; 2]; 4]`).
/// - The result is `Energies`: one energy per row of the batch, each depending on its own row only
///   (on the CPU, batches of 500 rows or more are evaluated in blocks over the threads).
/// - Doc comments, `cfg` and lint attributes (`allow`, `warn`, `deny`, ...) are kept.
///
/// # What it generates
///
/// For `fn four_wells(...)`:
///
/// - `struct FourWells<E: Real = f32, Dev: Device<E> = Cpu>` with the function's visibility and doc
///   comments (plus a paragraph saying what it is). Its fields are the parameters: scalars as `E`,
///   arrays as dfdx tensors `Tensor<(Const<N>, Const<M>, ...), E, Dev>` on the model's device.
///   `#[energy(name = Other)]` picks another name.
/// - `FourWells::new(&dev, params...) -> Result<Self, ebm_core::Error>`, taking the parameters in
///   their declared types (so literals need no suffix) and converting them to `E`. A NaN or
///   infinite parameter gives `Error::InvalidParameter` naming it, with the index of an array
///   element (`centers[1][0]`). Declare parameters as `f64` to keep them exact in an `f64` model.
/// - `impl<E: Real, Dev: Device<E>> Energy<D, E, Dev> for FourWells<E, Dev>`, whose
///   `energy<T: Tape<E, Dev>>` runs the body. It is generic over the element type, the device
///   (CPU or CUDA) and the tape, so the same body serves plain evaluation and autodiff; gradients come
///   from autodiff. The dimension is part of the trait, so calling the model on points of another
///   dimension does not compile.
/// - On dfdx's `Cpu` in `f32` and `f64`, evaluation in blocks of rows on every thread: the model
///   overrides `energy_and_gradient` with `ebm_core::energy::blockwise_energy_and_gradient`, has a
///   host path (`Energy::has_host_path`, the same blocks from the samplers' buffers) and offers
///   `ebm_core::energy::AutodiffRows` as its `Energy::row_energy`, so that samplers which run
///   blocks of chains for many steps on one thread (Langevin's `sample`, `Kernel::advance`) do so
///   with it. A row's energy and gradient are the same bits in every block.
///
/// # Trainable models: `#[energy(trainable)]`
///
/// With `trainable`, the array parameters are the model's weights, to be fitted to data by
/// `ebm-train` (which must then be a dependency of the crate: the generated code names it). The
/// model also gets:
///
/// - `impl dfdx::nn::TensorCollection<E, Dev>`: the array parameters, named as in the function,
///   are what dfdx's optimisers (`Adam`, `Sgd`), `alloc_grads`, `num_trainable_params` and the
///   `.npz`/safetensors writers see. Scalar parameters are constants and are not trained.
/// - `NAME::init(&dev, seed, scalars...)`: random weights as `torch.nn.Linear` draws them, each
///   element uniform in `+-1/sqrt(fan_in)` from ChaCha8 seeded with `seed`. For an array of rank 2
///   or more, `fan_in` is the product of all its lengths but the last (`w: [[f32; OUT]; IN]` used as
///   `x.matmul(w)`); a one-dimensional array right after such a matrix, of the matrix's last length,
///   is its bias and shares its `fan_in`; another one-dimensional array of length `N` has
///   `fan_in = N`. `new` still builds the model from given values.
/// - `energy_with_params(x)`: the body with the weights on the batch's tape, so that `backward`
///   gives their gradients. `Energy::energy` keeps them constant, so sampling the model costs what
///   it did without `trainable`.
/// - `impl ebm_train::nn::Network<D> for NAME<f32, Cpu>`: `ebm_train::cd::PcdTrainer` trains it
///   and draws its negatives from the model itself.
///
/// ```
/// use ebm_core::prelude::*;
///
/// #[energy(trainable)]
/// fn mlp(x: Batch<2>, w1: [[f32; 32]; 2], b1: [f32; 32], w2: [[f32; 1]; 32]) -> Energies {
///     let n = x.shape().0;
///     let h = (x.matmul(w1) + b1.broadcast_like::<_, Axis<0>>(&(n, Const::<32>))).silu();
///     h.matmul(w2).sum::<_, Axis<1>>()
/// }
///
/// let dev = Cpu::default();
/// let model = Mlp::<f32>::init(&dev, 0)?;
/// assert_eq!(model.num_trainable_params(), 2 * 32 + 32 + 32);
/// // The gradient of the summed energies with respect to a weight:
/// let x: Batch<2> = dev.tensor_from_vec(vec![0.5, -1.0, 2.0, 0.0], (2, Const::<2>));
/// let grads = model
///     .energy_with_params(x.traced(model.alloc_grads()))
///     .sum::<Rank0, _>()
///     .backward();
/// assert!(grads.get(&model.w2).as_vec().iter().any(|g| *g != 0.0));
/// # Ok::<(), ebm_core::Error>(())
/// ```
///
/// # The body
///
/// The body is ordinary Rust over dfdx tensors, as in a hand-written `Energy::energy`:
///
/// - The batch is a `Tensor<(usize, Const<D>), E, Dev, T>`; array parameters are tensors without a
///   tape; scalar parameters are `E` values. In the body, `E` is the element type, `Dev` the device
///   type and `T` the tape type.
/// - **Bindings can be used any number of times.** dfdx's tapes normally allow each traced tensor to
///   be consumed once (`x.retaped::<T>()` is needed for every other use). The macro handles it: each
///   read of a binding becomes a cheap copy (`retaped`, which shares the data and the gradient slot,
///   or `clone` for non-tensor values), and every binding's recorded operations are collected and
///   merged into the returned tensor's tape, so autodiff sees all of them. This holds in branches,
///   loops, closures and `match` arms alike. Methods that only borrow (`shape`, `device`, `len`,
///   `iter`, ...), `&name` and calls `name(..)` use the binding in place; for other method calls a
///   non-tensor binding is used by reference (`&mut` for a `mut` binding, so `v.push(t)` works).
///   `x.clone()` of a tensor binding is accepted as the same copy as `x` (a dfdx tensor carrying a
///   tape has no `Clone`, and none is needed); other bindings clone as written.
/// - **`x * x` works.** dfdx's binary operators need two distinct tensors, so when both operands
///   are the same binding (`x * x`, `d + (d)`), or a binding is bound again under another name
///   (`let y = x;`), that copy is made a distinct tensor (`x * 1`) whose gradient flows back to `x`.
/// - **Float literals follow `E`.** An unsuffixed float literal `0.5` becomes `E::of(0.5)`, so
///   `x * 0.5` and `x.square() - 1.0` work in `f32` and `f64`. Write a suffix (`0.5f64`) for a plain
///   float, e.g. in host-side arithmetic; the arguments of a call to `of` (`E::of(0.5)`) are left
///   alone. Integer literals are never changed.
/// - Pick columns with `ebm_core::ops::{column, columns}`, not dfdx's `slice` (whose gradient is
///   wrong when a tensor is sliced more than once in dfdx 0.13).
///
/// Supported: `let` (with patterns, types and `else`), shadowing, blocks, `if` / `if let` / `else`,
/// `match`, `for` / `while` / `loop`, closures, method chains, operators, nested item definitions
/// (left untouched) and macros whose arguments are comma-separated expressions (`println!`,
/// `assert!`, `format!`, `vec![a, b]`), which are rewritten like the rest. Bindings used more than
/// once must be tensors or `Clone` values. Tensors held inside a struct, tuple or collection bound
/// as a whole are not copied: destructure them (`let (a, b) = ...;`) to reuse the parts, or move
/// them out once (`v.drain(..)`, `v.pop()`); code that would reuse them does not compile.
///
/// Rejected with an error: `move` closures, destructuring assignment (`(a, b) = ...`; use `let`),
/// and `self`. Inside macros with other syntax (`vec![v; n]`) nothing is rewritten. Dfdx's operators
/// take the tensor on the left: write `x * h`, not `h * x`.
///
/// # Errors
///
/// A misused attribute reports one error at the offending tokens and emits the function with an
/// empty body (`unimplemented!()`) so that nothing else fails: it must be applied to a free function
/// (not `async`, `const`, `unsafe`, `extern` or generic, without `self`), whose arguments are plain
/// names, whose first argument is `Batch<D>`, whose parameters are `f32`/`f64` scalars or arrays,
/// and which returns `Energies`; the attribute arguments are `name = StructName` and `trainable`
/// (which needs at least one array parameter).
#[proc_macro_attribute]
pub fn energy(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into()).into()
}

fn expand(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let f = match parse::target(item) {
        parse::Target::Fn(f) => f,
        parse::Target::Other(item) => {
            let error = validate::not_a_function(&item).into_compile_error();
            return quote!(#error #item);
        }
    };
    let result = parse::args(attr)
        .and_then(|args| validate::model(args, (*f).clone()))
        .and_then(expand::model);
    match result {
        Ok(tokens) => tokens,
        Err(error) => {
            let error = error.into_compile_error();
            let stub = stub(*f);
            quote!(#error #stub)
        }
    }
}

/// The function as written, with an empty body and without what cannot compile outside an impl, so
/// that a misuse reports only the macro's own error.
fn stub(mut f: ItemFn) -> proc_macro2::TokenStream {
    f.attrs.retain(|a| {
        [
            "doc", "cfg", "cfg_attr", "allow", "warn", "deny", "forbid", "expect",
        ]
        .iter()
        .any(|name| a.path().is_ident(name))
    });
    f.sig.inputs = std::mem::take(&mut f.sig.inputs)
        .into_iter()
        .filter(|arg| !matches!(arg, FnArg::Receiver(_)))
        .collect();
    f.sig.variadic = None;
    *f.block = syn::parse_quote!({ ::core::unimplemented!() });
    quote! {
        #[allow(
            dead_code,
            unused_variables,
            unused_mut,
            missing_docs,
            improper_ctypes_definitions,
            clippy::all
        )]
        #f
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::{TokenStream, TokenTree};

    /// Every identifier in `tokens`, through groups.
    fn idents(tokens: TokenStream, out: &mut Vec<String>) {
        for t in tokens {
            match t {
                TokenTree::Group(g) => idents(g.stream(), out),
                TokenTree::Ident(i) => out.push(i.to_string()),
                _ => {}
            }
        }
    }

    #[test]
    fn expansions_use_the_shared_helpers_instead_of_defining_them() {
        let item: TokenStream = syn::parse_quote! {
            fn bowl(x: Batch<2>, w: [f32; 2]) -> Energies {
                let d = x - w.broadcast_like::<_, Axis<0>>(&(x.shape().0, Const::<2>));
                (d * d).sum::<_, Axis<1>>() * 0.5
            }
        };
        let mut names = Vec::new();
        idents(super::expand(TokenStream::new(), item), &mut names);
        for keyword in ["mod", "trait"] {
            assert!(
                !names.iter().any(|n| n == keyword),
                "the expansion defines a `{keyword}`"
            );
        }
        assert!(names.iter().any(|n| n == "__macro_support"));
    }
}
