//! Rewrites `return` and `?` in user code for the generated `resume`, which returns
//! `Step<Output>` instead of the function's output.
//!
//! - `return e` becomes `return Step::Done(e)`;
//! - `e?` becomes a match on `__private::Branch::branch(e)` whose break arm returns
//!   `Step::Done(__private::FromResidual::from_residual(r))` — `?` on `Result` and `Option`
//!   with the usual `From` conversion of errors.
//!
//! Closures, async blocks and nested items keep their own `return` and `?`. Inside a macro
//! call the arguments are rewritten when they parse as comma-separated expressions (`println!`,
//! `assert_eq!`, `vec!`, `format!` …); a `?` or `return` in a macro whose arguments do not
//! parse that way is reported.

use proc_macro2::{TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Expr, Token};

/// Rewrites user code; errors go to the shared list.
pub(crate) struct Rewriter<'a> {
    pub(crate) krate: &'a syn::Path,
    pub(crate) errors: std::cell::RefCell<Vec<syn::Error>>,
}

impl<'a> Rewriter<'a> {
    pub(crate) fn new(krate: &'a syn::Path) -> Self {
        Rewriter {
            krate,
            errors: Default::default(),
        }
    }

    pub(crate) fn expr(&self, e: &mut Expr) {
        Visitor { r: self }.visit_expr_mut(e);
    }

    pub(crate) fn stmt(&self, s: &mut syn::Stmt) {
        Visitor { r: self }.visit_stmt_mut(s);
    }

    fn done(&self, value: TokenStream) -> TokenStream {
        let krate = self.krate;
        quote!(#krate::Step::Done(#value))
    }
}

struct Visitor<'r, 'a> {
    r: &'r Rewriter<'a>,
}

impl VisitMut for Visitor<'_, '_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Return(ret) => {
                if let Some(v) = &mut ret.expr {
                    self.visit_expr_mut(v);
                }
                let span = ret.span();
                let value = match &ret.expr {
                    Some(v) => v.to_token_stream(),
                    None => quote!(()),
                };
                let done = self.r.done(value);
                *e = syn::parse_quote_spanned!(span=> return #done);
            }
            Expr::Try(t) => {
                self.visit_expr_mut(&mut t.expr);
                let span = t.question_token.span;
                let inner = &t.expr;
                let krate = self.r.krate;
                let done = self.r.done(quote_spanned!(span=>
                    #krate::__private::FromResidual::from_residual(__tern_residual)
                ));
                *e = syn::parse_quote_spanned!(span=>
                    match #krate::__private::Branch::branch(#inner) {
                        ::core::ops::ControlFlow::Continue(__tern_value) => __tern_value,
                        ::core::ops::ControlFlow::Break(__tern_residual) => return #done,
                    }
                );
            }
            Expr::Closure(_) | Expr::Async(_) => {}
            _ => syn::visit_mut::visit_expr_mut(self, e),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}

    fn visit_macro_mut(&mut self, m: &mut syn::Macro) {
        if !needs_rewrite(&m.tokens) {
            return;
        }
        let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
        match parser.parse2(m.tokens.clone()) {
            Ok(mut args) => {
                for a in args.iter_mut() {
                    self.visit_expr_mut(a);
                }
                m.tokens = args.into_token_stream();
            }
            Err(_) => self.r.errors.borrow_mut().push(syn::Error::new(
                m.span(),
                "`?` or `return` inside this macro call cannot be rewritten for a #[migratable] \
                 function; compute the value with `let` before the macro",
            )),
        }
    }
}

/// Whether macro tokens contain a `?` or a `return` (outside closures we cannot see anyway).
fn needs_rewrite(ts: &TokenStream) -> bool {
    ts.clone().into_iter().any(|tt| match tt {
        TokenTree::Punct(p) => p.as_char() == '?',
        TokenTree::Ident(i) => i == "return",
        TokenTree::Group(g) => needs_rewrite(&g.stream()),
        TokenTree::Literal(_) => false,
    })
}
