//! `#[tern::remote]`: a trait becomes an interface whose objects are called from any node.
//!
//! On a trait, the macro checks that every item is an `async fn(&self, …)` whose arguments
//! and result can be copied (no borrows, no `impl Trait`, no generics), then emits:
//! - the trait, with `Send + Sync + 'static` supertraits and each method returning a
//!   `tern::remote::BoxFuture` (so `dyn Trait` exists; a default body is boxed);
//! - `{Trait}Proxy`, what `Remote<dyn Trait>` dereferences to: one method per trait method,
//!   taking the same arguments and returning a `tern::remote::Call`;
//! - `impl tern::remote::Interface for dyn Trait` (its name, fingerprint, method table, and
//!   the dispatcher that decodes a call's arguments and encodes the result), and
//!   `impl<S: Trait> tern::remote::Implements<S> for dyn Trait`.
//!
//! On an `impl Trait for Type`, it boxes each `async fn` the same way. Methods are numbered in
//! declaration order: the number is what travels, with the trait's fingerprint to catch skew.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::visit::Visit;
use syn::{FnArg, Pat, ReturnType, Type};

use crate::parse::fingerprint;

const SHARED: &str =
    "remote methods take `&self`: the object is shared by every caller; use interior mutability";

/// Expands `#[tern::remote]` on `item`, or returns why not.
pub(crate) fn remote(attr: TokenStream, item: TokenStream) -> Result<TokenStream, Vec<syn::Error>> {
    if !attr.is_empty() {
        return Err(vec![syn::Error::new_spanned(
            attr,
            "#[tern::remote] takes no arguments",
        )]);
    }
    match syn::parse2::<syn::Item>(item) {
        Ok(syn::Item::Trait(t)) => interface(t),
        Ok(syn::Item::Impl(i)) => implementation(i),
        Ok(other) => Err(vec![syn::Error::new_spanned(
            item_head(&other),
            "#[tern::remote] goes on a trait whose methods are `async fn(&self, …)`, or on an \
             `impl` of such a trait",
        )]),
        Err(e) => Err(vec![e]),
    }
}

/// Where to point at an item that is neither a trait nor an impl: its name, or its signature.
fn item_head(item: &syn::Item) -> TokenStream {
    match item {
        syn::Item::Fn(f) => f.sig.to_token_stream(),
        syn::Item::Struct(s) => s.ident.to_token_stream(),
        syn::Item::Enum(e) => e.ident.to_token_stream(),
        syn::Item::Mod(m) => m.ident.to_token_stream(),
        other => other.to_token_stream(),
    }
}

/// One method parameter, with the name the generated code gives it.
struct Param {
    /// The user's pattern.
    pat: Pat,
    /// The user's name for a plain `x` or `mut x`, else `__tern_argN`: the name in the
    /// trait's declaration and the proxy.
    name: syn::Ident,
    ty: Type,
}

/// A checked `async fn(&self, …)`.
struct Method {
    attrs: Vec<syn::Attribute>,
    sig: syn::Signature,
    params: Vec<Param>,
    /// The declared output, `()` when there is none.
    output: Type,
}

/// Checks a method's signature; the errors go to `errors`.
fn method(
    attrs: &[syn::Attribute],
    sig: &syn::Signature,
    errors: &mut Vec<syn::Error>,
) -> Option<Method> {
    let before = errors.len();
    let mut err = |at: &dyn ToTokens, msg: &str| errors.push(syn::Error::new_spanned(at, msg));
    if sig.asyncness.is_none() {
        err(
            &sig.fn_token,
            "a #[tern::remote] method must be an `async fn`: the call runs on the object's \
             owner and its caller awaits the reply; write `async fn`",
        );
    }
    if let Some(c) = &sig.constness {
        err(c, "a #[tern::remote] method cannot be `const`");
    }
    if let Some(u) = &sig.unsafety {
        err(u, "a #[tern::remote] method cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        err(abi, "a #[tern::remote] method cannot have an ABI");
    }
    if let Some(v) = &sig.variadic {
        err(v, "a #[tern::remote] method cannot be variadic");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        err(
            &sig.generics,
            "a #[tern::remote] method cannot be generic: a call is dispatched by number to one \
             compiled method on the owner; use concrete types",
        );
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(r))
            if matches!(&r.reference, Some((_, None)))
                && r.mutability.is_none()
                && r.colon_token.is_none() => {}
        Some(FnArg::Receiver(r)) => err(r, SHARED),
        _ => err(&sig.ident, SHARED),
    }
    let mut params = Vec::new();
    for (i, input) in sig.inputs.iter().enumerate().skip(1) {
        let FnArg::Typed(pt) = input else {
            err(input, SHARED);
            continue;
        };
        if let Some((at, msg)) = uncopyable(&pt.ty, "arguments are copied to the owner", "take") {
            err(at, &msg);
        }
        let name = match &*pt.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            _ => format_ident!("__tern_arg{}", i - 1),
        };
        params.push(Param {
            pat: (*pt.pat).clone(),
            name,
            ty: (*pt.ty).clone(),
        });
    }
    let output = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => {
            if let Some((at, msg)) = uncopyable(ty, "results are copied to the caller", "return") {
                err(at, &msg);
            }
            (**ty).clone()
        }
    };
    (errors.len() == before).then(|| Method {
        attrs: attrs.to_vec(),
        sig: sig.clone(),
        params,
        output,
    })
}

/// The first part of `ty` that cannot be copied to another node, with what to write instead
/// (`take` or `return` an owned type).
fn uncopyable<'a>(ty: &'a Type, copied: &str, verb: &str) -> Option<(&'a Type, String)> {
    #[derive(Default)]
    struct Find<'a>(Option<&'a Type>);
    impl<'a> Visit<'a> for Find<'a> {
        fn visit_type(&mut self, ty: &'a Type) {
            if self.0.is_none() {
                match ty {
                    Type::Reference(_) | Type::ImplTrait(_) => self.0 = Some(ty),
                    _ => syn::visit::visit_type(self, ty),
                }
            }
        }
    }
    let mut find = Find::default();
    find.visit_type(ty);
    let found = find.0?;
    match found {
        Type::Reference(r) => {
            let owned = match &*r.elem {
                Type::Path(p) if p.path.is_ident("str") => "String".to_owned(),
                Type::Slice(s) => format!("Vec<{}>", text(&s.elem)),
                other => text(other),
            };
            let m = if r.mutability.is_some() { "mut " } else { "" };
            let borrowed = format!("&{m}{}", text(&r.elem));
            Some((
                found,
                format!("{copied}: {verb} `{owned}`, not `{borrowed}`"),
            ))
        }
        _ => Some((
            found,
            format!(
                "{copied} as one concrete type: `impl Trait` cannot be used here; name the \
                 type (or use a `Remote<dyn Trait>` for an object that stays where it is)"
            ),
        )),
    }
}

/// A type as the user would write it (tokens with the spaces of `Vec < u8 >` removed).
fn text(ty: &Type) -> String {
    let s = ty.to_token_stream().to_string();
    s.replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" ,", ",")
        .replace("& ", "&")
}

/// `fn name<'tern>(&'tern self, …) -> BoxFuture<'tern, R>`, with `body` boxed when given.
/// `prefix` goes between the attributes and `fn` (an impl method's visibility).
fn boxed(
    m: &Method,
    prefix: TokenStream,
    self_token: &syn::Token![self],
    body: Option<&syn::Block>,
) -> TokenStream {
    let Method {
        attrs,
        sig,
        params,
        output,
    } = m;
    let name = &sig.ident;
    // A declaration names its parameters (no patterns without a body); a body keeps the
    // user's patterns, and its `async move` block captures what it uses. The parameters are
    // not re-bound inside the block: a `Remote<…>` local held across an `.await` would make
    // the future's `Send` check ask for `Interface` on `dyn Trait + '_`, which only exists
    // for `'static`, while a captured parameter keeps its `'static`.
    let params = params.iter().map(|p| {
        let ty = &p.ty;
        match body {
            Some(_) => {
                let pat = &p.pat;
                quote!(#pat: #ty)
            }
            None => {
                let name = &p.name;
                quote!(#name: #ty)
            }
        }
    });
    let head = quote! {
        #(#attrs)*
        #prefix fn #name<'tern>(&'tern #self_token, #(#params),*)
            -> ::tern::remote::BoxFuture<'tern, #output>
    };
    match body {
        None => quote!(#head;),
        Some(body) => quote! {
            #head {
                ::std::boxed::Box::pin(async move #body)
            }
        },
    }
}

/// `#[tern::remote] trait Trait { … }`.
fn interface(t: syn::ItemTrait) -> Result<TokenStream, Vec<syn::Error>> {
    let mut errors = Vec::new();
    if !t.generics.params.is_empty() || t.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &t.generics,
            "a #[tern::remote] trait cannot be generic: `Remote<dyn Trait>` names one \
             interface that every node agrees on; use concrete types",
        ));
    }
    if let Some(u) = &t.unsafety {
        errors.push(syn::Error::new_spanned(
            u,
            "a #[tern::remote] trait cannot be `unsafe`",
        ));
    }
    if let Some(a) = &t.auto_token {
        errors.push(syn::Error::new_spanned(
            a,
            "a #[tern::remote] trait cannot be `auto`",
        ));
    }
    let mut methods = Vec::new();
    for item in &t.items {
        match item {
            syn::TraitItem::Fn(f) => {
                if let Some(m) = method(&f.attrs, &f.sig, &mut errors) {
                    methods.push((m, f.default.as_ref()));
                }
            }
            syn::TraitItem::Type(ty) => errors.push(syn::Error::new_spanned(
                ty,
                "a #[tern::remote] trait cannot have associated types: `Remote<dyn Trait>` \
                 names one interface that every node agrees on; use concrete types",
            )),
            syn::TraitItem::Const(c) => errors.push(syn::Error::new_spanned(
                c,
                "a #[tern::remote] trait cannot have associated constants: they are not \
                 part of what a caller can reach through `Remote<dyn Trait>`; use a free `const`",
            )),
            other => errors.push(syn::Error::new_spanned(
                other,
                "a #[tern::remote] trait holds only `async fn(&self, …)` methods",
            )),
        }
    }
    if methods.len() > usize::from(u16::MAX) {
        errors.push(syn::Error::new_spanned(
            &t.ident,
            "a #[tern::remote] trait has at most 65535 methods",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let ident = &t.ident;
    let vis = &t.vis;
    let proxy = format_ident!("{}Proxy", ident);
    let self_token = <syn::Token![self]>::default();

    let mut supertraits = t.supertraits.clone();
    supertraits.push(syn::parse_quote!(::core::marker::Send));
    supertraits.push(syn::parse_quote!(::core::marker::Sync));
    supertraits.push(syn::parse_quote!('static));
    let trait_methods = methods.iter().map(|(m, body)| {
        let recv = match m.sig.inputs.first() {
            Some(FnArg::Receiver(r)) => r.self_token,
            _ => self_token,
        };
        boxed(m, TokenStream::new(), &recv, *body)
    });
    let attrs = &t.attrs;
    let (unsafety, trait_token) = (&t.unsafety, &t.trait_token);
    let the_trait = quote! {
        #(#attrs)*
        #vis #unsafety #trait_token #ident: #supertraits {
            #(#trait_methods)*
        }
    };

    // Only what travels is hashed: the names, the argument and result types, the order.
    // Documentation, argument names and default bodies may change without skew.
    let signature = methods.iter().map(|(m, _)| {
        let (name, out) = (&m.sig.ident, &m.output);
        let tys = m.params.iter().map(|p| &p.ty);
        quote!(#name (#(#tys),*) -> #out;)
    });
    let fp = fingerprint(&quote!(trait #ident { #(#signature)* }).to_string());
    let fp = Literal::u64_suffixed(fp);

    let docs = |attrs: &[syn::Attribute]| -> Vec<syn::Attribute> {
        attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect()
    };
    let proxy_methods = methods.iter().enumerate().map(|(i, (m, _))| {
        let index = Literal::u16_unsuffixed(i as u16);
        let docs = docs(&m.attrs);
        let name = &m.sig.ident;
        let names: Vec<_> = m.params.iter().map(|p| &p.name).collect();
        let tys = m.params.iter().map(|p| &p.ty);
        let out = &m.output;
        // Spanned at the method, like the dispatcher's decoding and encoding: an argument or
        // result type that cannot be copied is reported there, with the type's name.
        let call = quote_spanned!(name.span()=> self.raw.call(#index, &(#(#names,)*)));
        quote! {
            #(#docs)*
            #vis fn #name(&self, #(#names: #tys),*) -> ::tern::remote::Call<#out> {
                #call
            }
        }
    });
    let names = methods.iter().map(|(m, _)| m.sig.ident.to_string());
    let arms = methods.iter().enumerate().map(|(i, (m, _))| {
        let index = Literal::u16_unsuffixed(i as u16);
        let name = &m.sig.ident;
        let label = format!("{ident}::{name}");
        let args: Vec<_> = (0..m.params.len())
            .map(|i| format_ident!("__tern_arg{}", i))
            .collect();
        let tys = m.params.iter().map(|p| &p.ty);
        let span = name.span();
        let decode = quote_spanned!(span=> ::tern::remote::__private::decode_args(&args, #label));
        let encode = quote_spanned!(span=> ::tern::remote::__private::encode_result);
        quote! {
            #index => {
                let (#(#args,)*): (#(#tys,)*) = #decode?;
                #encode(&<Self as #ident>::#name(&*this, #(#args),*).await, #label)
            }
        }
    });
    let name_lit = format!("::{ident}");
    let proxy_doc = format!(
        "The proxy [`Remote<dyn {ident}>`](::tern::Remote) dereferences to: [`{ident}`]'s \
         methods, run on the object's owner node. Each returns a \
         [`Call`](::tern::remote::Call) to await, which resolves to the method's output or a \
         [`RemoteError`](::tern::RemoteError)."
    );
    Ok(quote! {
        #the_trait

        #[doc = #proxy_doc]
        #[derive(Clone)]
        #[repr(transparent)]
        #vis struct #proxy {
            raw: ::tern::remote::RawRemote,
        }

        impl #proxy {
            #(#proxy_methods)*
        }

        impl ::tern::remote::Interface for dyn #ident {
            const NAME: &'static str = ::core::concat!(::core::module_path!(), #name_lit);
            const FINGERPRINT: u64 = #fp;
            const METHODS: &'static [&'static str] = &[#(#names),*];
            type Proxy = #proxy;

            fn proxy(raw: ::tern::remote::RawRemote) -> #proxy {
                #proxy { raw }
            }

            fn raw(proxy: &#proxy) -> &::tern::remote::RawRemote {
                &proxy.raw
            }

            fn dispatch(
                this: ::std::sync::Arc<Self>,
                method: u16,
                args: ::std::vec::Vec<u8>,
            ) -> ::tern::remote::Dispatched {
                ::std::boxed::Box::pin(async move {
                    match method {
                        #(#arms)*
                        _ => ::core::result::Result::Err(::tern::remote::__private::unknown_method(
                            <Self as ::tern::remote::Interface>::NAME,
                            method,
                        )),
                    }
                })
            }
        }

        impl<S: #ident> ::tern::remote::Implements<S> for dyn #ident {
            fn wrap(obj: ::std::sync::Arc<S>) -> ::std::sync::Arc<dyn #ident> {
                obj
            }
        }

    })
}

/// `#[tern::remote] impl Trait for Type { … }`.
fn implementation(imp: syn::ItemImpl) -> Result<TokenStream, Vec<syn::Error>> {
    if imp.trait_.is_none() {
        return Err(vec![syn::Error::new_spanned(
            &imp.self_ty,
            "#[tern::remote] goes on an `impl` of a remote trait (`impl Trait for Type`); an \
             inherent `impl` has no interface to expose",
        )]);
    }
    let mut errors = Vec::new();
    let mut items = Vec::new();
    for item in &imp.items {
        match item {
            syn::ImplItem::Fn(f) if f.sig.asyncness.is_some() => {
                let (vis, d) = (&f.vis, &f.defaultness);
                match method(&f.attrs, &f.sig, &mut errors) {
                    Some(m) => {
                        let Some(FnArg::Receiver(r)) = f.sig.inputs.first() else {
                            unreachable!("checked by `method`");
                        };
                        items.push(boxed(&m, quote!(#vis #d), &r.self_token, Some(&f.block)));
                    }
                    None => items.push(stub(f)),
                }
            }
            other => items.push(other.to_token_stream()),
        }
    }
    // The impl is emitted with a stub in place of each rejected method, so that the trait's
    // boxed signatures do not add a mismatch to each error.
    let errors = errors.iter().map(syn::Error::to_compile_error);
    let syn::ItemImpl {
        attrs,
        defaultness,
        unsafety,
        impl_token,
        generics,
        trait_,
        self_ty,
        ..
    } = &imp;
    let (bang, path, for_token) = trait_.as_ref().expect("a trait impl");
    let where_c = &generics.where_clause;
    Ok(quote! {
        #(#attrs)*
        #defaultness #unsafety #impl_token #generics #bang #path #for_token #self_ty #where_c {
            #(#items)*
        }
        #(#errors)*
    })
}

/// A rejected method of an impl, with the boxed signature the trait has and no body.
fn stub(f: &syn::ImplItemFn) -> TokenStream {
    let (attrs, vis, name) = (&f.attrs, &f.vis, &f.sig.ident);
    let tys = f.sig.inputs.iter().filter_map(|input| match input {
        FnArg::Typed(pt) => Some(&pt.ty),
        FnArg::Receiver(_) => None,
    });
    let output = match &f.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    quote! {
        #(#attrs)*
        #vis fn #name<'tern>(&'tern self, #(_: #tys),*) -> ::tern::remote::BoxFuture<'tern, #output> {
            ::core::unreachable!()
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    /// The `FINGERPRINT` the expansion of `item` declares.
    fn fingerprint(item: proc_macro2::TokenStream) -> String {
        let out = super::remote(quote!(), item)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .to_string();
        let at = out
            .find("const FINGERPRINT : u64 =")
            .expect("a fingerprint");
        out[at..].split(';').next().unwrap().to_owned()
    }

    #[test]
    fn the_fingerprint_covers_what_travels_and_only_that() {
        let base = fingerprint(quote! {
            trait Store { async fn get(&self, key: String) -> Option<u64>; }
        });
        // Documentation, argument names and default bodies do not change the interface.
        let same = fingerprint(quote! {
            /// Docs.
            trait Store {
                /// More docs.
                async fn get(&self, k: String) -> Option<u64> { None }
            }
        });
        assert_eq!(base, same);
        for other in [
            quote!(
                trait Store {
                    async fn get(&self, key: String) -> Option<u32>;
                }
            ),
            quote!(
                trait Store {
                    async fn get(&self, key: String, n: u8) -> Option<u64>;
                }
            ),
            quote!(
                trait Store {
                    async fn fetch(&self, key: String) -> Option<u64>;
                }
            ),
            quote!(
                trait Other {
                    async fn get(&self, key: String) -> Option<u64>;
                }
            ),
        ] {
            assert_ne!(base, fingerprint(other));
        }
    }

    #[test]
    fn types_are_named_as_written() {
        let ty: syn::Type = syn::parse_quote!(std::collections::HashMap<String, Vec<u8> >);
        assert_eq!(
            super::text(&ty),
            "std::collections::HashMap<String, Vec<u8>>"
        );
    }
}
