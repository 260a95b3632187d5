//! Procedural macros for tern: `#[migratable]` turns an `async fn` into a serializable state
//! machine (a `tern::Machine`). Use it through `tern::migratable`; the documentation with
//! examples lives there.
//!
//! The pipeline is parse → ir → analyze → expand:
//! - `parse`: attribute arguments and the function signature, with spanned errors;
//! - `ir` and `lower`: the body lowered to a structured IR where every `.await` is a
//!   statement (`syntax` holds the scanning helpers);
//! - `analyze`: liveness — which locals each suspension point stores — and the checks that
//!   they can be stored;
//! - `expand`: the state enum, its `Machine` impl and the constructor.
//!
//! On any error the original item is emitted unchanged beside the `compile_error!`s, so the
//! user sees the macro's message and not a cascade of "cannot find function" errors.
#![forbid(unsafe_code)]

mod analyze;
mod expand;
mod ir;
mod lower;
mod parse;
mod rewrite;
mod syntax;

use proc_macro::TokenStream;

/// Turns an `async fn` into a migratable task: a serializable state machine that can be
/// frozen at any `.await`, moved to another node, and resumed there.
///
/// See `tern::migratable` for the full documentation.
#[proc_macro_attribute]
pub fn migratable(attr: TokenStream, item: TokenStream) -> TokenStream {
    let original: proc_macro2::TokenStream = item.clone().into();
    match parse::migratable(attr.into(), original.clone()) {
        Ok(out) => out.into(),
        Err(errors) => {
            let mut out = original;
            for e in errors {
                out.extend(e.to_compile_error());
            }
            out.into()
        }
    }
}
