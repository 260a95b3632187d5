//! Procedural macros for tern: `#[migratable]` turns an `async fn` into a serializable state
//! machine (a `tern::Machine`); `#[remote]` makes a trait an interface whose objects are
//! called from any node (`remote`). Use them through `tern::migratable` and `tern::remote`; the
//! documentation with examples lives there.
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
mod remote;
mod rewrite;
mod syntax;

use proc_macro::TokenStream;

/// Emits `out`, or on errors the original item unchanged beside the `compile_error!`s.
fn or_original(
    original: proc_macro2::TokenStream,
    out: Result<proc_macro2::TokenStream, Vec<syn::Error>>,
) -> TokenStream {
    match out {
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

/// Turns an `async fn` into a migratable task: a serializable state machine that can be
/// frozen at any `.await`, moved to another node, and resumed there.
///
/// See `tern::migratable` for the full documentation.
#[proc_macro_attribute]
pub fn migratable(attr: TokenStream, item: TokenStream) -> TokenStream {
    let original: proc_macro2::TokenStream = item.into();
    or_original(original.clone(), parse::migratable(attr.into(), original))
}

/// Makes a trait an interface whose objects are called from any node, or boxes the
/// `async fn`s of an `impl` of such a trait.
///
/// See `tern::remote` for the full documentation.
#[proc_macro_attribute]
pub fn remote(attr: TokenStream, item: TokenStream) -> TokenStream {
    let original: proc_macro2::TokenStream = item.into();
    or_original(original.clone(), remote::remote(attr.into(), original))
}
