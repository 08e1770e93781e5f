//! Reading the attribute's arguments and the item it is attached to.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, Item, ItemFn, Token};

/// The arguments of `#[energy(...)]`.
#[derive(Default)]
pub struct Args {
    /// `name = StructName`: the generated model's name instead of the CamelCase of the function's.
    pub name: Option<Ident>,
    /// `trainable`: the array parameters are trainable (a dfdx `TensorCollection`, `init`,
    /// `energy_with_params` and `ebm_train::nn::Network`).
    pub trainable: bool,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let key: Ident = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "#[energy] takes the arguments `name = StructName` and `trainable`",
                )
            })?;
            if key == "trainable" {
                if args.trainable {
                    return Err(syn::Error::new_spanned(
                        &key,
                        "`trainable` is given more than once",
                    ));
                }
                args.trainable = true;
                if input.is_empty() {
                    break;
                }
                input.parse::<Token![,]>()?;
                continue;
            }
            if key != "name" {
                return Err(syn::Error::new_spanned(
                    &key,
                    format!(
                        "unknown #[energy] argument `{key}`: the arguments are \
                         `name = StructName`, the name of the generated model, and `trainable`"
                    ),
                ));
            }
            if args.name.is_some() {
                return Err(syn::Error::new_spanned(
                    &key,
                    "`name` is given more than once",
                ));
            }
            input.parse::<Token![=]>()?;
            let value: Ident = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected the model's name, an identifier: `name = StructName`",
                )
            })?;
            args.name = Some(value);
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

/// What the attribute was attached to.
pub enum Target {
    /// A function item: the only thing `#[energy]` accepts.
    Fn(Box<ItemFn>),
    /// Anything else, kept as written so that it can be emitted unchanged beside the error.
    Other(TokenStream),
}

/// Parses the attribute's arguments.
pub fn args(attr: TokenStream) -> syn::Result<Args> {
    syn::parse2(attr)
}

/// Parses the annotated item.
pub fn target(item: TokenStream) -> Target {
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => Target::Fn(Box::new(f)),
        _ => Target::Other(item),
    }
}
