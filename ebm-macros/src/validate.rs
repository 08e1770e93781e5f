//! Checking the annotated function and turning its signature into a model description.
//!
//! Every rejection is a `syn::Error` spanned on the offending tokens; independent problems are
//! combined so that one compilation reports them all.

use crate::parse::Args;
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{
    Attribute, Block, Expr, FnArg, GenericArgument, Ident, Item, ItemFn, Pat, PathArguments,
    ReturnType, Token, Type, Visibility,
};

/// The element type a parameter was declared with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Elem {
    F32,
    F64,
}

/// A model parameter: a scalar or a (nested) array of `f32`/`f64`.
pub struct Param {
    pub ident: Ident,
    pub mutability: Option<Token![mut]>,
    /// The type as the user wrote it; the constructor takes exactly this type.
    pub ty: Type,
    /// Array lengths, outermost first; empty for a scalar.
    pub dims: Vec<Expr>,
}

/// The batch argument `x: Batch<D>`.
pub struct BatchArg {
    pub ident: Ident,
    pub mutability: Option<Token![mut]>,
    /// The dimension `D`, ready to be used as a const generic argument.
    pub dim: TokenStream,
}

/// Everything the expansion needs.
pub struct Model {
    pub vis: Visibility,
    pub fn_ident: Ident,
    pub name: Ident,
    pub docs: Vec<Attribute>,
    /// `cfg`, `allow` and other lint attributes, copied onto every generated item.
    pub forwarded: Vec<Attribute>,
    pub batch: BatchArg,
    pub params: Vec<Param>,
    pub body: Block,
    /// `#[energy(trainable)]`: the array parameters are trained.
    pub trainable: bool,
}

/// Collects errors so that independent problems are reported together.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    fn spanned(&mut self, tokens: impl ToTokens, msg: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, msg));
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }
}

const SHAPE: &str = "fn name(x: Batch<D>, params...) -> Energies { ... }";

/// The error for an attribute placed on something other than a function.
pub fn not_a_function(item: &TokenStream) -> syn::Error {
    let (what, at): (&str, TokenStream) = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(s)) => ("a struct", s.ident.to_token_stream()),
        Ok(Item::Enum(e)) => ("an enum", e.ident.to_token_stream()),
        Ok(Item::Impl(i)) => ("an impl block", i.impl_token.to_token_stream()),
        Ok(Item::Trait(t)) => ("a trait", t.ident.to_token_stream()),
        Ok(Item::Mod(m)) => ("a module", m.ident.to_token_stream()),
        Ok(Item::Const(c)) => ("a constant", c.ident.to_token_stream()),
        Ok(Item::Static(s)) => ("a static", s.ident.to_token_stream()),
        Ok(Item::Type(t)) => ("a type alias", t.ident.to_token_stream()),
        Ok(Item::Use(u)) => ("a use declaration", u.use_token.to_token_stream()),
        _ => ("this item", item.clone()),
    };
    syn::Error::new_spanned(
        at,
        format!(
            "#[energy] applies to a function `{SHAPE}`, not to {what}: it generates the model \
             struct itself"
        ),
    )
}

/// Checks the function and describes the model it defines.
pub fn model(args: Args, f: ItemFn) -> syn::Result<Model> {
    let mut errors = Errors::default();
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = f;

    let mut docs = Vec::new();
    let mut forwarded = Vec::new();
    for attr in attrs {
        let path = attr.path();
        if path.is_ident("doc") {
            docs.push(attr);
        } else if [
            "cfg", "cfg_attr", "allow", "warn", "deny", "forbid", "expect",
        ]
        .iter()
        .any(|name| path.is_ident(name))
        {
            forwarded.push(attr);
        } else {
            errors.spanned(
                &attr,
                "#[energy] functions accept only doc comments, `cfg` and lint attributes \
                 (`allow`, `warn`, `deny`, ...): the function becomes a struct and an `Energy` impl",
            );
        }
    }

    if let Some(c) = &sig.constness {
        errors.spanned(c, "an #[energy] function cannot be `const`");
    }
    if let Some(a) = &sig.asyncness {
        errors.spanned(
            a,
            "an #[energy] function cannot be `async`: energies are evaluated synchronously",
        );
    }
    if let Some(u) = &sig.unsafety {
        errors.spanned(
            u,
            "an #[energy] function cannot be `unsafe`; use an `unsafe` block in the body instead",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(abi, "an #[energy] function cannot have an `extern` ABI");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let at = if sig.generics.params.is_empty() {
            sig.generics.where_clause.to_token_stream()
        } else {
            sig.generics.to_token_stream()
        };
        errors.spanned(
            at,
            "an #[energy] function cannot have generic parameters: the generated model is already \
             generic over the element type (`E`), the device (`Dev`) and the tape; fix the \
             dimension in `Batch<D>` and the parameters' sizes",
        );
    }
    if let Some(v) = &sig.variadic {
        errors.spanned(v, "an #[energy] function cannot be variadic");
    }

    // A receiver is reported and skipped, so that the batch and parameters after it are still read.
    let mut typed = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => errors.spanned(r, self_message()),
            FnArg::Typed(arg) => typed.push(arg),
        }
    }
    let mut inputs = typed.into_iter();
    let batch = match inputs.next() {
        None if sig.receiver().is_some() => None,
        None => {
            errors.push(syn::Error::new(
                sig.paren_token.span.join(),
                "an #[energy] function needs the batch of points as its first argument, \
                 e.g. `x: Batch<2>`",
            ));
            None
        }
        Some(arg) => plain_ident(&arg.pat, &mut errors).and_then(|(ident, mutability)| {
            batch_dim(&arg.ty, &mut errors).map(|dim| BatchArg {
                ident,
                mutability,
                dim,
            })
        }),
    };

    let mut params = Vec::new();
    for arg in inputs {
        // One message per argument: its type is checked once its name is usable.
        let Some((ident, mutability)) = plain_ident(&arg.pat, &mut errors) else {
            continue;
        };
        if let Some((_, dims)) = param_type(&arg.ty, &mut errors) {
            params.push(Param {
                ident,
                mutability,
                ty: (*arg.ty).clone(),
                dims,
            });
        }
    }

    let mut seen: Vec<&Ident> = batch.iter().map(|b| &b.ident).collect();
    for p in &params {
        if seen.contains(&&p.ident) {
            errors.spanned(
                &p.ident,
                format!("the argument name `{}` is used more than once", p.ident),
            );
        }
        seen.push(&p.ident);
    }

    match &sig.output {
        ReturnType::Default => errors.push(syn::Error::new(
            sig.paren_token.span.join(),
            "an #[energy] function must return `Energies`, one energy per row of the batch: \
             add `-> Energies`",
        )),
        ReturnType::Type(_, ty) => check_return(ty, &mut errors),
    }

    if args.trainable && !params.iter().any(|p| !p.dims.is_empty()) {
        errors.push(syn::Error::new(
            sig.paren_token.span.join(),
            "a `trainable` #[energy] function trains its array parameters and has none: declare \
             the weights as arrays, e.g. `w: [[f32; 16]; 2]`",
        ));
    }

    let name = match args.name {
        Some(name) => Some(name),
        None => {
            let camel = camel_case(&sig.ident.unraw().to_string());
            match syn::parse_str::<Ident>(&camel) {
                Ok(mut ident) if !camel.is_empty() => {
                    ident.set_span(sig.ident.span());
                    Some(ident)
                }
                _ => {
                    errors.spanned(
                        &sig.ident,
                        format!(
                            "cannot derive a struct name from `{}`; name the model with \
                             #[energy(name = StructName)]",
                            sig.ident
                        ),
                    );
                    None
                }
            }
        }
    };

    if let (Some(batch), Some(name)) = (batch, name) {
        errors.finish(Model {
            vis,
            fn_ident: sig.ident,
            name,
            docs,
            forwarded,
            batch,
            params,
            body: *block,
            trainable: args.trainable,
        })
    } else {
        // Something above failed and recorded why.
        Err(errors
            .0
            .unwrap_or_else(|| syn::Error::new(Span::call_site(), "invalid #[energy] function")))
    }
}

fn self_message() -> &'static str {
    "an #[energy] function takes no `self`: write a free function; the parameters after the batch \
     become the model's fields"
}

/// The identifier of a plain `name` or `mut name` pattern.
fn plain_ident(pat: &Pat, errors: &mut Errors) -> Option<(Ident, Option<Token![mut]>)> {
    match pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() && p.attrs.is_empty() => {
            Some((p.ident.clone(), p.mutability))
        }
        _ => {
            errors.spanned(
                pat,
                "#[energy] arguments must be plain names (`x: Batch<2>`, `weights: [f32; 4]`), \
                 not patterns: each name becomes a binding in the body and, for parameters, a \
                 field of the model",
            );
            None
        }
    }
}

fn unwrap_group(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => unwrap_group(&g.elem),
        Type::Paren(p) => unwrap_group(&p.elem),
        _ => ty,
    }
}

/// The dimension of `Batch<D>` (any path ending in `Batch`).
fn batch_dim(ty: &Type, errors: &mut Errors) -> Option<TokenStream> {
    let wrong = |errors: &mut Errors| {
        errors.spanned(
            ty,
            "the first argument of an #[energy] function must be the batch of points, \
             `x: Batch<D>` with a fixed dimension `D` (e.g. `x: Batch<2>`)",
        );
        None
    };
    let Type::Path(tp) = unwrap_group(ty) else {
        return wrong(errors);
    };
    if tp.qself.is_some() {
        return wrong(errors);
    }
    let Some(last) = tp.path.segments.last() else {
        return wrong(errors);
    };
    if last.ident != "Batch" {
        return wrong(errors);
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        errors.spanned(
            ty,
            "`Batch` needs its dimension: write `Batch<D>` with a fixed `D`, e.g. `Batch<2>`",
        );
        return None;
    };
    if args.args.len() != 1 {
        errors.spanned(
            &args.args,
            "write the batch as `Batch<D>` with the dimension only: the model is generic over \
             the element type, the device and the tape, which the macro fills in",
        );
        return None;
    }
    match &args.args[0] {
        GenericArgument::Const(e) => Some(e.to_token_stream()),
        GenericArgument::Type(Type::Path(p)) if p.qself.is_none() => {
            // A named constant such as `Batch<N>`.
            Some(p.to_token_stream())
        }
        other => {
            errors.spanned(
                other,
                "the batch dimension must be a constant: a literal (`Batch<2>`), a named \
                 constant (`Batch<N>`) or a block (`Batch<{ 2 * N }>`)",
            );
            None
        }
    }
}

/// The element type and array lengths of a parameter type.
fn param_type(ty: &Type, errors: &mut Errors) -> Option<(Elem, Vec<Expr>)> {
    let mut dims = Vec::new();
    let mut t = unwrap_group(ty);
    while let Type::Array(a) = t {
        dims.push(a.len.clone());
        t = unwrap_group(&a.elem);
    }
    let elem = match t {
        Type::Path(p) if p.qself.is_none() && p.path.is_ident("f32") => Some(Elem::F32),
        Type::Path(p) if p.qself.is_none() && p.path.is_ident("f64") => Some(Elem::F64),
        _ => None,
    };
    match elem {
        Some(_) if dims.len() > 6 => {
            errors.spanned(
                ty,
                "#[energy] parameters can have at most 6 array dimensions (dfdx's largest rank)",
            );
            None
        }
        Some(elem) => Some((elem, dims)),
        None => {
            errors.spanned(
                ty,
                format!(
                    "unsupported #[energy] parameter type `{}`: a parameter is an `f32` or `f64` \
                     scalar (an `E` in the body) or a fixed-size array of them such as \
                     `[f32; 4]` or `[[f64; 2]; 4]` (a dfdx tensor in the body)",
                    pretty(ty)
                ),
            );
            None
        }
    }
}

fn check_return(ty: &Type, errors: &mut Errors) {
    if let Type::Path(tp) = unwrap_group(ty) {
        if let Some(last) = tp.path.segments.last() {
            if tp.qself.is_none() && last.ident == "Energies" {
                if !last.arguments.is_empty() {
                    errors.spanned(
                        &last.arguments,
                        "write the return type as plain `Energies`: the element type, device \
                         and tape are filled in by the macro",
                    );
                }
                return;
            }
        }
    }
    errors.spanned(
        ty,
        "an #[energy] function must return `Energies`, one energy per row of the batch",
    );
}

/// Tokens as a person would write them: `[[f32; 2]; 4]`, `Vec<f32>`, `&[f64]`.
pub fn pretty(tokens: &impl ToTokens) -> String {
    let mut s = tokens.to_token_stream().to_string();
    for (from, to) in [
        (" < ", "<"),
        ("< ", "<"),
        (" >", ">"),
        ("[ ", "["),
        (" ]", "]"),
        ("( ", "("),
        (" )", ")"),
        (" ;", ";"),
        (" ,", ","),
        ("& ", "&"),
        (" :: ", "::"),
    ] {
        s = s.replace(from, to);
    }
    s
}

/// `four_wells` -> `FourWells`; leading, trailing and repeated underscores are dropped.
pub fn camel_case(snake: &str) -> String {
    snake
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_joins_capitalised_words() {
        assert_eq!(camel_case("four_wells"), "FourWells");
        assert_eq!(camel_case("mlp"), "Mlp");
        assert_eq!(camel_case("_double__well_2d_"), "DoubleWell2d");
        assert_eq!(camel_case("already_CamelCase"), "AlreadyCamelCase");
        assert_eq!(camel_case("__"), "");
    }

    #[test]
    fn types_print_as_written() {
        assert_eq!(pretty(&ty("[[f32; 2]; 4]")), "[[f32; 2]; 4]");
        assert_eq!(pretty(&ty("Vec<f32>")), "Vec<f32>");
        assert_eq!(pretty(&ty("&[f64]")), "&[f64]");
        assert_eq!(pretty(&ty("(f32, f32)")), "(f32, f32)");
    }

    fn ty(s: &str) -> Type {
        syn::parse_str(s).unwrap()
    }

    #[test]
    fn parameter_types_give_element_type_and_lengths() {
        let mut errors = Errors::default();
        let (elem, dims) = param_type(&ty("[[f64; 2]; 4]"), &mut errors).unwrap();
        assert_eq!(elem, Elem::F64);
        let dims: Vec<String> = dims
            .iter()
            .map(|d| d.to_token_stream().to_string())
            .collect();
        assert_eq!(dims, ["4", "2"]);
        let (elem, dims) = param_type(&ty("f32"), &mut errors).unwrap();
        assert_eq!((elem, dims.len()), (Elem::F32, 0));
        assert!(errors.0.is_none());
        assert!(param_type(&ty("usize"), &mut errors).is_none());
        assert!(param_type(&ty("Vec<f32>"), &mut errors).is_none());
        assert!(param_type(&ty("[[[[[[[f32; 1]; 1]; 1]; 1]; 1]; 1]; 1]"), &mut errors).is_none());
        assert!(errors.0.is_some());
    }

    #[test]
    fn batch_dimension_is_read_from_the_type() {
        let mut errors = Errors::default();
        let d = batch_dim(&ty("Batch<3>"), &mut errors).unwrap();
        assert_eq!(d.to_string(), "3");
        let d = batch_dim(&ty("ebm_core::Batch<N>"), &mut errors).unwrap();
        assert_eq!(d.to_string(), "N");
        assert!(errors.0.is_none());
        assert!(batch_dim(&ty("Batch<2, f64>"), &mut errors).is_none());
        assert!(batch_dim(&ty("Batch"), &mut errors).is_none());
        assert!(batch_dim(&ty("Tensor<(usize, Const<2>)>"), &mut errors).is_none());
    }
}
