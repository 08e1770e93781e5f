//! Rewriting the body of an energy function so that it works with dfdx's tapes and any element type.
//!
//! dfdx records the backward pass on a tape carried by each tensor, and a tensor that carries a tape
//! cannot be cloned. The rewrite makes every binding reusable without losing any recorded operation:
//!
//! - **Absorb at binding.** Right after a binding is introduced (`let`, closure and `for` patterns,
//!   `match` arms, `if let` / `while let`, and assignments `name = value`), a tensor's tape is moved
//!   into one shared sink and the binding keeps the tensor with an empty tape. Non-tensor values are
//!   left as they are.
//! - **Copy at use.** Each read of a binding becomes a copy of it: `retaped` for a tensor (which shares
//!   the data and the gradient slot), `clone` for anything else. Receivers of methods, field accesses
//!   and indexing use a reference to non-tensor values instead, so `v.push(t)` on a `mut` binding
//!   still mutates it; `&name`, calls `f(..)` and the known by-reference methods (`shape`, `device`,
//!   `len`, ...) use the binding itself. `name.clone()` of a tensor is the same copy as a plain read
//!   (a tensor carrying a tape has no `Clone`); of anything else, it is left to `Clone` as written.
//! - **Distinct operands.** dfdx's binary backward needs two different tensors, so in `a op a` (or
//!   `a op a.clone()`) the second operand, and the value of `let b = a;` / `let b = a.clone();` /
//!   `b = a`, is a new tensor `a * 1` whose backward adds into `a`'s gradient.
//! - **Finish.** The function's result (its tail expression and any `return`) gets the sink's
//!   operations merged into its tape, so backward runs through everything recorded.
//!
//! Since every operation ends up on the result's tape exactly once, the gradient is right however
//! often, and in whichever branch, loop or closure, a binding is used.
//!
//! Unsuffixed float literals become `<E as Real>::of(literal)`, so `x * 0.5` works for `f32` and `f64`.

use crate::validate::{BatchArg, Param};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{parse_quote, Block, Expr, Ident, Lit, Local, Macro, Pat, Stmt, Token};

/// The names the generated code shares with the rewritten body.
pub struct Names {
    /// The path of the tape helpers, `ebm_core::__macro_support`.
    pub support: TokenStream,
    /// The `&Cell<T>` collecting tapes.
    pub sink: Ident,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            support: quote!(::ebm_core::__macro_support),
            sink: Ident::new("__ebm_sink", Span::call_site()),
        }
    }
}

/// Methods that only borrow their receiver; a binding that receives them is used in place.
const BY_REF_METHODS: &[&str] = &[
    "shape", "device", "strides", "as_vec", "array", "retaped", "clone", "len", "is_empty", "iter",
    "get", "first", "last",
];

/// How an expression is used by its parent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Read by value: a binding becomes a copy.
    Value,
    /// A method receiver, a field base or an indexed value: a binding becomes a copy of a tensor or a
    /// reference to anything else.
    Place,
    /// Used in place (`&name`, `name(..)`, assignment targets): a binding is left as written.
    InPlace,
    /// The receiver of `.clone()`: a tensor binding gives a copy like any read (a tensor with a tape
    /// has no `Clone`); any other binding is cloned as written.
    CloneReceiver,
}

struct Binding {
    name: String,
    mutable: bool,
}

/// A binding introduced by a pattern.
struct NewBinding {
    ident: Ident,
    /// `mut`, moved from the pattern to the re-binding that absorbs the tape.
    mut_token: Option<Token![mut]>,
    /// `false` for `ref` bindings, which hold references and are not re-bound.
    absorb: bool,
    mutable: bool,
}

struct Rewriter<'a> {
    names: &'a Names,
    scopes: Vec<Vec<Binding>>,
    /// Closures and async blocks around the current expression: `return` inside them is theirs.
    closure_depth: usize,
    errors: Option<syn::Error>,
}

/// Rewrites the function body; the batch and the parameters are bound before it runs.
pub fn body(
    block: Block,
    batch: &BatchArg,
    params: &[Param],
    names: &Names,
) -> syn::Result<Vec<Stmt>> {
    let mut outer = vec![Binding {
        name: batch.ident.to_string(),
        mutable: batch.mutability.is_some(),
    }];
    outer.extend(params.iter().map(|p| Binding {
        name: p.ident.to_string(),
        mutable: p.mutability.is_some(),
    }));
    let mut r = Rewriter {
        names,
        scopes: vec![outer],
        closure_depth: 0,
        errors: None,
    };
    let mut block = block;
    r.stmts(&mut block.stmts);
    if let Some(Stmt::Expr(tail, None)) = block.stmts.last_mut() {
        let e = std::mem::replace(tail, Expr::Verbatim(TokenStream::new()));
        *tail = r.finish(e);
    }
    match r.errors {
        Some(e) => Err(e),
        None => Ok(block.stmts),
    }
}

/// `name` when the path is a single plain identifier.
fn single_ident(e: &Expr) -> Option<&Ident> {
    match e {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => p.path.get_ident(),
        _ => None,
    }
}

/// The binding an operand names, through parentheses: `a` in `a * (a)`.
fn operand_ident(e: &Expr) -> Option<&Ident> {
    match e {
        Expr::Paren(p) => operand_ident(&p.expr),
        Expr::Group(g) => operand_ident(&g.expr),
        _ => single_ident(e),
    }
}

/// `.clone()` without arguments or turbofish: a plain copy of its receiver.
fn is_plain_clone(m: &syn::ExprMethodCall) -> bool {
    m.method == "clone" && m.args.is_empty() && m.turbofish.is_none() && m.attrs.is_empty()
}

/// The binding an operand copies: `a` in `a`, `(a)` and `a.clone()`.
fn copied_ident(e: &Expr) -> Option<&Ident> {
    match e {
        Expr::Paren(p) => copied_ident(&p.expr),
        Expr::Group(g) => copied_ident(&g.expr),
        Expr::MethodCall(m) if is_plain_clone(m) => operand_ident(&m.receiver),
        _ => single_ident(e),
    }
}

fn is_unsuffixed_float(e: &Expr) -> bool {
    matches!(e, Expr::Lit(l) if matches!(&l.lit, Lit::Float(f) if f.suffix().is_empty()))
}

/// A span at `at` whose tokens count as generated (so lints aimed at hand-written code skip them).
fn generated(at: Span) -> Span {
    Span::call_site().located_at(at)
}

impl Rewriter<'_> {
    fn error(&mut self, tokens: impl ToTokens, msg: &str) {
        let e = syn::Error::new_spanned(tokens, msg);
        match &mut self.errors {
            Some(all) => all.combine(e),
            None => self.errors = Some(e),
        }
    }

    fn lookup(&self, ident: &Ident) -> Option<bool> {
        let name = ident.to_string();
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|b| b.name == name)
            .map(|b| b.mutable)
    }

    fn declare(&mut self, bindings: &[NewBinding]) {
        let scope = self.scopes.last_mut().expect("a scope is open");
        scope.extend(bindings.iter().map(|b| Binding {
            name: b.ident.to_string(),
            mutable: b.mutable,
        }));
    }

    fn use_of(&self, ident: &Ident, ctx: Ctx, mutable: bool) -> Expr {
        let support = &self.names.support;
        let s = generated(ident.span());
        match (ctx, mutable) {
            (Ctx::Value, _) => {
                parse_quote_spanned_expr(quote_spanned!(s=> (&#support::Ref(&#ident)).__ebm_use()))
            }
            (Ctx::Place, false) => parse_quote_spanned_expr(
                quote_spanned!(s=> (&#support::Ref(&#ident)).__ebm_place()),
            ),
            (Ctx::Place, true) => parse_quote_spanned_expr(
                quote_spanned!(s=> (&#support::Mut::new(&mut #ident)).__ebm_place_mut()),
            ),
            (Ctx::InPlace, _) => parse_quote_spanned_expr(quote!(#ident)),
            (Ctx::CloneReceiver, _) => parse_quote_spanned_expr(
                quote_spanned!(s=> (*(&#support::Ref(&#ident)).__ebm_clone_place())),
            ),
        }
    }

    /// A copy of the binding that is a distinct tensor for dfdx (see `TensorFresh`).
    fn fresh(&self, ident: &Ident) -> Expr {
        let support = &self.names.support;
        let s = generated(ident.span());
        parse_quote_spanned_expr(quote_spanned!(s=> (&#support::Ref(&#ident)).__ebm_fresh()))
    }

    /// An operand that must be a distinct tensor for dfdx: a copy of `a` in `a op a`, `a op (a)`,
    /// `a op a.clone()`, or the value of `let b = a;` / `let b = a.clone();`.
    fn fresh_operand(&mut self, e: &mut Expr) {
        if let Some(ident) = operand_ident(e) {
            let ident = ident.clone();
            *e = self.fresh(&ident);
            return;
        }
        // `a.clone()`: the clone as rewritten, then made distinct if it is a tensor.
        let mut e = e;
        while let Expr::Paren(syn::ExprParen { expr, .. })
        | Expr::Group(syn::ExprGroup { expr, .. }) = e
        {
            e = &mut **expr;
        }
        self.expr(e, Ctx::Value);
        let support = &self.names.support;
        let s = generated(span_of(e));
        let value = std::mem::replace(e, Expr::Verbatim(TokenStream::new()));
        *e = parse_quote_spanned_expr(
            quote_spanned!(s=> (&#support::Own::new(#value)).__ebm_fresh()),
        );
    }

    fn absorb(&self, e: Expr) -> Expr {
        let (support, sink) = (&self.names.support, &self.names.sink);
        let s = generated(span_of(&e));
        parse_quote_spanned_expr(quote_spanned!(s=> (&#support::Own::new(#e)).__ebm_absorb(#sink)))
    }

    fn absorb_stmts(&self, bindings: &[NewBinding]) -> Vec<Stmt> {
        let (support, sink) = (&self.names.support, &self.names.sink);
        bindings
            .iter()
            .filter(|b| b.absorb)
            .map(|b| {
                let ident = &b.ident;
                let mut_token = &b.mut_token;
                let s = generated(ident.span());
                let init = quote_spanned!(s=> (&#support::Own::new(#ident)).__ebm_absorb(#sink));
                parse_quote!(let #mut_token #ident = #init;)
            })
            .collect()
    }

    fn finish(&self, e: Expr) -> Expr {
        let (support, sink) = (&self.names.support, &self.names.sink);
        let s = generated(span_of(&e));
        parse_quote_spanned_expr(quote_spanned!(s=> #support::finish(#sink, #e)))
    }

    fn float(&self, e: &Expr) -> Expr {
        let s = generated(span_of(e));
        parse_quote_spanned_expr(quote_spanned!(s=> <E as ::ebm_core::Real>::of(#e)))
    }

    /// Collects the bindings of `pat`; with `strip`, moves `mut` from the pattern to the binding
    /// record (the re-binding that absorbs the tape carries it instead).
    fn pat_bindings(&mut self, pat: &mut Pat, strip: bool, out: &mut Vec<NewBinding>) {
        match pat {
            Pat::Ident(p) => {
                let constant = p.by_ref.is_none()
                    && p.mutability.is_none()
                    && p.subpat.is_none()
                    && p.ident
                        .to_string()
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_uppercase());
                if !constant {
                    if p.by_ref.is_some() {
                        out.push(NewBinding {
                            ident: p.ident.clone(),
                            mut_token: None,
                            absorb: false,
                            mutable: p.mutability.is_some(),
                        });
                    } else {
                        let mut_token = if strip {
                            p.mutability.take()
                        } else {
                            p.mutability
                        };
                        out.push(NewBinding {
                            ident: p.ident.clone(),
                            mutable: mut_token.is_some(),
                            mut_token,
                            absorb: strip,
                        });
                    }
                }
                if let Some((_, sub)) = &mut p.subpat {
                    self.pat_bindings(sub, strip, out);
                }
            }
            Pat::Tuple(t) => {
                for p in t.elems.iter_mut() {
                    self.pat_bindings(p, strip, out);
                }
            }
            Pat::TupleStruct(t) => {
                for p in t.elems.iter_mut() {
                    self.pat_bindings(p, strip, out);
                }
            }
            Pat::Slice(s) => {
                for p in s.elems.iter_mut() {
                    self.pat_bindings(p, strip, out);
                }
            }
            Pat::Struct(s) => {
                for f in s.fields.iter_mut() {
                    self.pat_bindings(&mut f.pat, strip, out);
                }
            }
            Pat::Reference(r) => self.pat_bindings(&mut r.pat, strip, out),
            Pat::Paren(p) => self.pat_bindings(&mut p.pat, strip, out),
            Pat::Type(t) => self.pat_bindings(&mut t.pat, strip, out),
            Pat::Or(o) => {
                let mut first = true;
                for case in o.cases.iter_mut() {
                    let mut these = Vec::new();
                    self.pat_bindings(case, strip, &mut these);
                    if first {
                        out.extend(these);
                        first = false;
                    }
                }
            }
            _ => {}
        }
    }

    /// Rewrites `block` in a new scope holding `bindings`, whose tapes are absorbed first.
    fn block_with(&mut self, block: &mut Block, bindings: Vec<NewBinding>) {
        self.scopes.push(Vec::new());
        self.declare(&bindings);
        self.stmts(&mut block.stmts);
        self.scopes.pop();
        let absorbs = self.absorb_stmts(&bindings);
        if !absorbs.is_empty() {
            block.stmts.splice(0..0, absorbs);
        }
    }

    fn stmts(&mut self, stmts: &mut Vec<Stmt>) {
        let old = std::mem::take(stmts);
        for stmt in old {
            match stmt {
                Stmt::Local(mut local) => {
                    let absorbs = self.local(&mut local);
                    stmts.push(Stmt::Local(local));
                    stmts.extend(absorbs);
                }
                Stmt::Item(item) => stmts.push(Stmt::Item(item)),
                Stmt::Expr(mut e, semi) => {
                    self.expr(&mut e, Ctx::Value);
                    stmts.push(Stmt::Expr(e, semi));
                }
                Stmt::Macro(mut m) => {
                    self.mac(&mut m.mac);
                    stmts.push(Stmt::Macro(m));
                }
            }
        }
    }

    /// A `let`: its initialiser sees the bindings before it; its own bindings start after it.
    fn local(&mut self, local: &mut Local) -> Vec<Stmt> {
        let initialised = local.init.is_some();
        if let Some(init) = &mut local.init {
            self.aliased(&mut init.expr);
            if let Some((_, diverge)) = &mut init.diverge {
                self.expr(diverge, Ctx::Value);
            }
        }
        let mut bindings = Vec::new();
        self.pat_bindings(&mut local.pat, initialised, &mut bindings);
        self.declare(&bindings);
        if initialised {
            self.absorb_stmts(&bindings)
        } else {
            Vec::new()
        }
    }

    /// The condition of `if` / `while`, possibly a `let` chain; returns the bindings it introduces.
    fn cond(&mut self, e: &mut Expr) -> Vec<NewBinding> {
        match e {
            Expr::Let(l) => {
                self.expr(&mut l.expr, Ctx::Value);
                let mut out = Vec::new();
                self.pat_bindings(&mut l.pat, true, &mut out);
                out
            }
            Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_)) && has_let(&b.left) => {
                let mut left = self.cond(&mut b.left);
                self.scopes.push(Vec::new());
                self.declare(&left);
                let right = self.cond(&mut b.right);
                self.scopes.pop();
                left.extend(right);
                left
            }
            Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_)) && has_let(&b.right) => {
                self.expr(&mut b.left, Ctx::Value);
                self.cond(&mut b.right)
            }
            _ => {
                self.expr(e, Ctx::Value);
                Vec::new()
            }
        }
    }

    /// A value about to be bound to a name. A plain other binding or a clone of one (`let y = x;`,
    /// `let y = x.clone();`) is bound as a distinct tensor, so that `x * y` has two distinct
    /// operands for dfdx.
    fn aliased(&mut self, e: &mut Expr) {
        match copied_ident(e) {
            Some(ident) if self.lookup(ident).is_some() => self.fresh_operand(e),
            _ => self.expr(e, Ctx::Value),
        }
    }

    fn mac(&mut self, mac: &mut Macro) {
        let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
        // Macros whose arguments are not comma-separated expressions (`vec![v; n]`, custom
        // syntax) are left as written: a binding moved into one is still correct, only not reusable.
        if let Ok(mut args) = parser.parse2(mac.tokens.clone()) {
            for arg in args.iter_mut() {
                self.expr(arg, Ctx::Value);
            }
            mac.tokens = args.to_token_stream();
        }
    }

    fn assign_target(&mut self, e: &mut Expr) {
        match e {
            Expr::Path(_) => {}
            Expr::Field(f) => self.expr(&mut f.base, Ctx::Place),
            Expr::Index(i) => {
                self.expr(&mut i.expr, Ctx::Place);
                self.expr(&mut i.index, Ctx::Value);
            }
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => {
                self.expr(&mut u.expr, Ctx::InPlace)
            }
            Expr::Paren(p) => self.assign_target(&mut p.expr),
            Expr::Group(g) => self.assign_target(&mut g.expr),
            Expr::Infer(_) => {}
            other => self.error(
                &*other,
                "#[energy] bodies do not support destructuring assignment; bind the parts with \
                 `let (a, b) = ...;` instead",
            ),
        }
    }

    fn expr(&mut self, e: &mut Expr, ctx: Ctx) {
        if let Some(ident) = single_ident(e) {
            if ident == "self" {
                self.error(
                    ident.clone(),
                    "an #[energy] body has no `self`: refer to the parameters by their names",
                );
                return;
            }
            if let Some(mutable) = self.lookup(ident) {
                let ident = ident.clone();
                *e = self.use_of(&ident, ctx, mutable);
            }
            return;
        }
        if is_unsuffixed_float(e) {
            *e = self.float(e);
            return;
        }
        match e {
            Expr::Array(a) => {
                for el in a.elems.iter_mut() {
                    self.expr(el, Ctx::Value);
                }
            }
            Expr::Assign(a) => {
                self.assign_target(&mut a.left);
                self.aliased(&mut a.right);
                if single_ident(&a.left).is_some_and(|i| self.lookup(i).is_some()) {
                    let right =
                        std::mem::replace(&mut *a.right, Expr::Verbatim(TokenStream::new()));
                    *a.right = self.absorb(right);
                }
            }
            Expr::Async(a) => {
                self.closure_depth += 1;
                self.block_with(&mut a.block, Vec::new());
                self.closure_depth -= 1;
            }
            Expr::Await(a) => self.expr(&mut a.base, Ctx::Value),
            Expr::Binary(b) => {
                if is_compound_assign(&b.op) {
                    self.assign_target(&mut b.left);
                    self.expr(&mut b.right, Ctx::Value);
                    return;
                }
                let same = match (copied_ident(&b.left), copied_ident(&b.right)) {
                    (Some(l), Some(r)) => l == r && self.lookup(l).is_some(),
                    _ => false,
                };
                self.expr(&mut b.left, Ctx::Value);
                if same {
                    self.fresh_operand(&mut b.right);
                } else {
                    self.expr(&mut b.right, Ctx::Value);
                }
            }
            Expr::Block(b) => self.block_with(&mut b.block, Vec::new()),
            Expr::Break(b) => {
                if let Some(v) = &mut b.expr {
                    self.expr(v, Ctx::Value);
                }
            }
            Expr::Call(c) => {
                self.expr(&mut c.func, Ctx::InPlace);
                let keep_literals = match &*c.func {
                    Expr::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "of"),
                    _ => false,
                };
                for arg in c.args.iter_mut() {
                    if !(keep_literals && is_unsuffixed_float(arg)) {
                        self.expr(arg, Ctx::Value);
                    }
                }
            }
            Expr::Cast(c) => self.expr(&mut c.expr, Ctx::Value),
            Expr::Closure(c) => {
                if let Some(m) = &c.capture {
                    self.error(
                        m,
                        "#[energy] bodies cannot use `move` closures: the macro lets closures \
                         borrow the bindings they use; remove `move`",
                    );
                }
                let mut bindings = Vec::new();
                for input in c.inputs.iter_mut() {
                    self.pat_bindings(input, true, &mut bindings);
                }
                self.closure_depth += 1;
                self.scopes.push(Vec::new());
                self.declare(&bindings);
                self.expr(&mut c.body, Ctx::Value);
                self.scopes.pop();
                self.closure_depth -= 1;
                let absorbs = self.absorb_stmts(&bindings);
                if !absorbs.is_empty() {
                    let body = &c.body;
                    *c.body = parse_quote!({ #(#absorbs)* #body });
                }
            }
            Expr::Const(_) => {}
            Expr::Field(f) => self.expr(&mut f.base, Ctx::Place),
            Expr::ForLoop(f) => {
                self.expr(&mut f.expr, Ctx::Value);
                let mut bindings = Vec::new();
                self.pat_bindings(&mut f.pat, true, &mut bindings);
                self.block_with(&mut f.body, bindings);
            }
            Expr::Group(g) => self.expr(&mut g.expr, ctx),
            Expr::If(i) => {
                let bindings = self.cond(&mut i.cond);
                self.block_with(&mut i.then_branch, bindings);
                if let Some((_, other)) = &mut i.else_branch {
                    self.expr(other, Ctx::Value);
                }
            }
            Expr::Index(i) => {
                self.expr(&mut i.expr, Ctx::Place);
                self.expr(&mut i.index, Ctx::Value);
            }
            Expr::Let(l) => self.expr(&mut l.expr, Ctx::Value),
            Expr::Loop(l) => self.block_with(&mut l.body, Vec::new()),
            Expr::Macro(m) => self.mac(&mut m.mac),
            Expr::Match(m) => {
                self.expr(&mut m.expr, Ctx::Value);
                for arm in m.arms.iter_mut() {
                    let mut bindings = Vec::new();
                    self.pat_bindings(&mut arm.pat, true, &mut bindings);
                    self.scopes.push(Vec::new());
                    self.declare(&bindings);
                    if let Some((_, guard)) = &mut arm.guard {
                        self.expr(guard, Ctx::Value);
                    }
                    self.expr(&mut arm.body, Ctx::Value);
                    self.scopes.pop();
                    let absorbs = self.absorb_stmts(&bindings);
                    if !absorbs.is_empty() {
                        let body = &arm.body;
                        *arm.body = parse_quote!({ #(#absorbs)* #body });
                        if arm.comma.is_none() {
                            arm.comma = Some(Default::default());
                        }
                    }
                }
            }
            Expr::MethodCall(m) => {
                let by_ref = BY_REF_METHODS.iter().any(|name| m.method == name);
                let receiver_ctx = if is_plain_clone(m) {
                    Ctx::CloneReceiver
                } else if by_ref {
                    Ctx::InPlace
                } else {
                    Ctx::Place
                };
                self.expr(&mut m.receiver, receiver_ctx);
                for arg in m.args.iter_mut() {
                    self.expr(arg, Ctx::Value);
                }
            }
            Expr::Paren(p) => self.expr(&mut p.expr, ctx),
            Expr::Range(r) => {
                if let Some(start) = &mut r.start {
                    self.expr(start, Ctx::Value);
                }
                if let Some(end) = &mut r.end {
                    self.expr(end, Ctx::Value);
                }
            }
            Expr::Reference(r) => self.expr(&mut r.expr, Ctx::InPlace),
            Expr::Repeat(r) => self.expr(&mut r.expr, Ctx::Value),
            Expr::Return(r) => {
                if let Some(v) = &mut r.expr {
                    self.expr(v, Ctx::Value);
                    if self.closure_depth == 0 {
                        let value = std::mem::replace(&mut **v, Expr::Verbatim(TokenStream::new()));
                        **v = self.finish(value);
                    }
                }
            }
            Expr::Struct(s) => {
                for field in s.fields.iter_mut() {
                    let shorthand = field.colon_token.is_none();
                    self.expr(&mut field.expr, Ctx::Value);
                    if shorthand && single_ident(&field.expr).is_none() {
                        // `S { a }` now reads `S { a: <copy of a> }`.
                        field.colon_token = Some(Default::default());
                    }
                }
                if let Some(rest) = &mut s.rest {
                    self.expr(rest, Ctx::Value);
                }
            }
            Expr::Try(t) => self.expr(&mut t.expr, Ctx::Value),
            Expr::TryBlock(t) => self.block_with(&mut t.block, Vec::new()),
            Expr::Tuple(t) => {
                for el in t.elems.iter_mut() {
                    self.expr(el, Ctx::Value);
                }
            }
            Expr::Unary(u) => self.expr(&mut u.expr, Ctx::Value),
            Expr::Unsafe(u) => self.block_with(&mut u.block, Vec::new()),
            Expr::While(w) => {
                let bindings = self.cond(&mut w.cond);
                self.block_with(&mut w.body, bindings);
            }
            Expr::Yield(y) => {
                if let Some(v) = &mut y.expr {
                    self.expr(v, Ctx::Value);
                }
            }
            _ => {}
        }
    }
}

fn parse_quote_spanned_expr(tokens: TokenStream) -> Expr {
    syn::parse2(tokens).expect("generated expression parses")
}

fn span_of(e: &Expr) -> Span {
    e.to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

fn has_let(e: &Expr) -> bool {
    match e {
        Expr::Let(_) => true,
        Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_)) => {
            has_let(&b.left) || has_let(&b.right)
        }
        _ => false,
    }
}

fn is_compound_assign(op: &syn::BinOp) -> bool {
    use syn::BinOp::*;
    matches!(
        op,
        AddAssign(_)
            | SubAssign(_)
            | MulAssign(_)
            | DivAssign(_)
            | RemAssign(_)
            | BitXorAssign(_)
            | BitAndAssign(_)
            | BitOrAssign(_)
            | ShlAssign(_)
            | ShrAssign(_)
    )
}
