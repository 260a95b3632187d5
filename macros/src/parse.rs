//! Attribute arguments and signature checks, and the assembly of the generated items.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Pat, ReturnType, Type};

use crate::analyze::analyze;
use crate::expand::{respan, Expander};
use crate::lower::Lower;
use crate::rewrite::Rewriter;
use crate::syntax::unstorable;

/// `#[migratable(name = "…", crate = "…")]`.
struct Args {
    name: Option<syn::LitStr>,
    krate: syn::Path,
}

fn parse_args(attr: TokenStream) -> syn::Result<Args> {
    let mut args = Args {
        name: None,
        krate: syn::parse_quote!(::tern),
    };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            let lit: syn::LitStr = meta.value()?.parse()?;
            if lit.value().is_empty() {
                return Err(syn::Error::new(
                    lit.span(),
                    "the task type name cannot be empty",
                ));
            }
            args.name = Some(lit);
            Ok(())
        } else if meta.path.is_ident("crate") {
            let lit: syn::LitStr = meta.value()?.parse()?;
            args.krate = lit.parse()?;
            Ok(())
        } else {
            Err(meta.error(
                "unknown #[migratable] argument; expected `name = \"stable::task::name\"` or \
                 `crate = \"path::to::tern\"`",
            ))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(args)
}

/// FNV-1a: a hash that is the same on every build and platform.
pub(crate) fn fingerprint(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

struct Param {
    name: syn::Ident,
    ty: Type,
    mutable: bool,
}

pub(crate) fn migratable(
    attr: TokenStream,
    item: TokenStream,
) -> Result<TokenStream, Vec<syn::Error>> {
    let args = parse_args(attr).map_err(|e| vec![e])?;
    if let Ok(imp) = syn::parse2::<syn::ItemImpl>(item.clone()) {
        return methods(&args, imp);
    }
    let func: syn::ItemFn = syn::parse2(item).map_err(|e| {
        vec![syn::Error::new(
            e.span(),
            "#[migratable] goes on an `async fn`, or on an inherent `impl` block whose \
             `async fn`s take `self` by value",
        )]
    })?;
    let (f, support) = one(&args, &func.attrs, &func.vis, &func.sig, &func.block, None)?;
    Ok(quote!(#f #support))
}

/// `#[migratable] impl Type { async fn run(self, …) }`: each `async fn` becomes a method
/// returning the task; the state machines follow the `impl` block.
fn methods(args: &Args, imp: syn::ItemImpl) -> Result<TokenStream, Vec<syn::Error>> {
    if let Some((_, path, _)) = &imp.trait_ {
        return Err(vec![syn::Error::new(
            path.span(),
            "#[migratable] goes on an inherent `impl` block, not a trait impl",
        )]);
    }
    if let Some(name) = &args.name {
        return Err(vec![syn::Error::new(
            name.span(),
            "`name = …` names one function; on an `impl` block each method is named \
             `module::Type::method`",
        )]);
    }
    let mut errors = Vec::new();
    let mut items = Vec::new();
    let mut support = TokenStream::new();
    for item in &imp.items {
        match item {
            syn::ImplItem::Fn(f) if f.sig.asyncness.is_some() => {
                match one(args, &f.attrs, &f.vis, &f.sig, &f.block, Some(&imp)) {
                    Ok((m, s)) => {
                        items.push(m);
                        support.extend(s);
                    }
                    Err(e) => errors.extend(e),
                }
            }
            other => items.push(other.to_token_stream()),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let syn::ItemImpl {
        attrs,
        defaultness,
        unsafety,
        impl_token,
        generics,
        self_ty,
        ..
    } = &imp;
    let where_c = &generics.where_clause;
    Ok(quote! {
        #(#attrs)* #defaultness #unsafety #impl_token #generics #self_ty #where_c {
            #(#items)*
        }
        #support
    })
}

/// Replaces the user's `self` and `Self` in a method body: inside the generated `resume`,
/// `self` is the machine.
fn replace_self(ts: TokenStream, self_ty: &Type) -> TokenStream {
    use proc_macro2::{Group, TokenTree};
    ts.into_iter()
        .flat_map(|tt| -> Vec<TokenTree> {
            match tt {
                TokenTree::Ident(i) if i == "self" => {
                    vec![TokenTree::Ident(syn::Ident::new("__tern_self", i.span()))]
                }
                TokenTree::Ident(i) if i == "Self" => {
                    self_ty.to_token_stream().into_iter().collect()
                }
                TokenTree::Group(g) => {
                    let mut n = Group::new(g.delimiter(), replace_self(g.stream(), self_ty));
                    n.set_span(g.span());
                    vec![TokenTree::Group(n)]
                }
                other => vec![other],
            }
        })
        .collect()
}

/// Expands one function (or method, when `imp` is given): the constructor, and the state
/// machine with its impls.
fn one(
    args: &Args,
    attrs: &[syn::Attribute],
    vis: &syn::Visibility,
    sig: &syn::Signature,
    block: &syn::Block,
    imp: Option<&syn::ItemImpl>,
) -> Result<(TokenStream, TokenStream), Vec<syn::Error>> {
    let mut errors = Vec::new();
    let self_ty = imp.map(|i| (*i.self_ty).clone());
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span,
            "#[migratable] needs an `async fn`: every `.await` in it becomes a point where the \
             task can be frozen and moved; write `async fn`",
        ));
    }
    if let Some(c) = &sig.constness {
        errors.push(syn::Error::new(
            c.span,
            "a #[migratable] function cannot be `const`",
        ));
    }
    if let Some(u) = &sig.unsafety {
        errors.push(syn::Error::new(
            u.span,
            "a #[migratable] function cannot be `unsafe`",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new(
            abi.span(),
            "a #[migratable] function cannot have an ABI",
        ));
    }
    if let Some(v) = &sig.variadic {
        errors.push(syn::Error::new(
            v.span(),
            "a #[migratable] function cannot be variadic",
        ));
    }
    for p in &sig.generics.params {
        if let syn::GenericParam::Lifetime(l) = p {
            errors.push(syn::Error::new(
                l.span(),
                "a #[migratable] function cannot have lifetime parameters: a task is plain data \
                 that outlives its caller; take owned values",
            ));
        }
    }
    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => match (&self_ty, &r.reference) {
                (Some(ty), None) => params.push(Param {
                    name: format_ident!("__tern_self"),
                    ty: ty.clone(),
                    mutable: r.mutability.is_some(),
                }),
                (Some(_), Some(_)) => errors.push(syn::Error::new(
                    r.span(),
                    "a #[migratable] method takes `self` by value: the task owns the value and \
                     may carry it to another node; write `self` (or `mut self`)",
                )),
                (None, _) => errors.push(syn::Error::new(
                    r.span(),
                    "a method needs #[migratable] on its `impl` block: \
                     `#[migratable] impl Type { async fn run(self, …) … }`",
                )),
            },
            FnArg::Typed(pt) => {
                let name = match &*pt.pat {
                    Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                        Some((p.ident.clone(), p.mutability.is_some()))
                    }
                    other => {
                        errors.push(syn::Error::new(
                            other.span(),
                            "a #[migratable] parameter must be a plain name (`x: T`); \
                             destructure it in the body",
                        ));
                        None
                    }
                };
                if let Some(what) = unstorable(&pt.ty) {
                    errors.push(syn::Error::new(
                        pt.ty.span(),
                        format!(
                            "a #[migratable] parameter cannot be {what}: the task stores its \
                             parameters and may move to another node; take an owned, named type"
                        ),
                    ));
                }
                if let Some((name, mutable)) = name {
                    params.push(Param {
                        name,
                        ty: (*pt.ty).clone(),
                        mutable,
                    });
                }
            }
        }
    }
    let output: Type = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => {
            if let Some(what) = unstorable(ty) {
                errors.push(syn::Error::new(
                    ty.span(),
                    format!(
                        "a #[migratable] function cannot return {what}: its output is sent to \
                         whoever joins the task; return an owned, named type"
                    ),
                ));
            }
            (**ty).clone()
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }

    let krate = &args.krate;
    let unit_output = matches!(&output, Type::Tuple(t) if t.elems.is_empty());
    let rewriter = Rewriter::new(krate);
    let mut lower = Lower::new(&mut errors, rewriter, unit_output);
    let param_ids: Vec<_> = params
        .iter()
        .map(|p| lower.param(p.name.clone(), p.ty.clone(), p.mutable))
        .collect();
    let body = match &self_ty {
        Some(ty) => match syn::parse2::<syn::Block>(replace_self(block.to_token_stream(), ty)) {
            Ok(b) => b,
            Err(e) => return Err(vec![e]),
        },
        None => block.clone(),
    };
    let ir = lower.finish(body, param_ids);
    if !errors.is_empty() {
        return Err(errors);
    }
    let live = analyze(&ir, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut ex = Expander::new(&ir, &live, krate);
    let arms = ex.arms();

    // ----- assemble -----
    let fn_name = &sig.ident;
    let type_name = self_ty.as_ref().and_then(|t| match t {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.clone()),
        _ => None,
    });
    let machine = match &type_name {
        Some(t) => format_ident!("__tern_machine_{}_{}", t, fn_name),
        None => format_ident!("__tern_machine_{}", fn_name),
    };
    // A method's machine is generic over the impl's parameters and the method's.
    let mut all = sig.generics.clone();
    if let Some(imp) = imp {
        let mut merged: syn::Generics = imp.generics.clone();
        merged.params.extend(all.params.iter().cloned());
        if let Some(w) = &all.where_clause {
            merged
                .make_where_clause()
                .predicates
                .extend(w.predicates.iter().cloned());
        }
        all = merged;
    }
    let generics = &all;
    let (impl_g, ty_g, where_c) = generics.split_for_impl();
    // The enum is declared without the user's bounds, and serde's impls get exactly the user's
    // bounds instead of inferred ones: an inferred `T: Deserialize<'de>` beside the user's
    // `T: DeserializeOwned` would be ambiguous, and too weak for fields like `Channel<T>`.
    let mut predicates: Vec<String> = generics
        .type_params()
        .filter(|t| !t.bounds.is_empty())
        .map(|t| {
            let (id, b) = (&t.ident, &t.bounds);
            quote!(#id: #b).to_string()
        })
        .collect();
    if let Some(w) = &generics.where_clause {
        predicates.extend(w.predicates.iter().map(|p| p.to_token_stream().to_string()));
    }
    let serde_bound = syn::LitStr::new(&predicates.join(", "), proc_macro2::Span::call_site());
    let mut decl = generics.clone();
    decl.where_clause = None;
    for p in decl.params.iter_mut() {
        if let syn::GenericParam::Type(t) = p {
            t.bounds.clear();
            t.colon_token = None;
        }
    }
    let type_params: Vec<_> = generics.type_params().map(|t| &t.ident).collect();
    let serde_path = format!("{}::__private::serde", krate.to_token_stream());
    let serde_path = syn::LitStr::new(&serde_path, proc_macro2::Span::call_site());

    let param_names: Vec<_> = params.iter().map(|p| &p.name).collect();
    let param_tys: Vec<_> = params.iter().map(|p| &p.ty).collect();
    let reached: Vec<usize> = arms.iter().filter_map(|a| a.point).collect();

    let variants = reached.iter().map(|&p| {
        let v = Expander::variant(p);
        let fields = ex.variant_fields(p);
        let fields = fields.iter().map(|(f, ty)| quote!(#f: #ty));
        quote!(#v { #(#fields),* })
    });
    let fn_str = match &type_name {
        Some(t) => format!("{t}::{fn_name}"),
        None => fn_name.to_string(),
    };
    let debug_arms = reached.iter().map(|&p| {
        let v = Expander::variant(p);
        let fields = ex.variant_fields(p);
        let names: Vec<_> = fields.iter().map(|(f, _)| f.clone()).collect();
        let title = format!("{fn_str} at `{}.await`", ir.points[p].text);
        let shown = names.iter().map(|f| {
            let s = f.to_string();
            quote!(.field(#s, &#krate::__private::DebugWith(|f: &mut ::core::fmt::Formatter<'_>| (&#krate::__private::Dbg(#f)).fmt_local(f))))
        });
        quote!(Self::#v { #(#names),* } => f.debug_struct(#title) #(#shown)* .finish(),)
    });
    // Each point's location, from the `.await`'s span: the span its suspend call has too.
    let point_arms = reached.iter().map(|&p| {
        let v = Expander::variant(p);
        let span = ir.points[p].span;
        let here = respan(quote!(#krate::__private::here()), span);
        quote!(Self::#v { .. } => ::core::option::Option::Some(#here),)
    });
    let start_title = format!("{fn_str} (not started)");
    let start_shown = param_names.iter().map(|n| {
        let s = n.to_string().replace("__tern_self", "self");
        quote!(.field(#s, &#krate::__private::DebugWith(|f: &mut ::core::fmt::Formatter<'_>| (&#krate::__private::Dbg(#n)).fmt_local(f))))
    });
    let running = format!("{fn_str} (running)");

    let key = match &args.name {
        Some(lit) => quote!(#lit),
        None => quote!(::core::concat!(::core::module_path!(), "::", #fn_str)),
    };
    let fp = fingerprint(&quote!(#sig #(#attrs)* ).to_string())
        ^ fingerprint(&block.to_token_stream().to_string()).rotate_left(1);

    let witnesses = (0..ir.points.len())
        .filter(|p| reached.contains(p))
        .map(Expander::witness);
    let match_arms = arms.iter().map(|a| {
        let code = &a.code;
        match a.point {
            None => {
                let binds = params.iter().map(|p| {
                    let n = &p.name;
                    let m = p.mutable.then(|| quote!(mut));
                    quote!(#m #n)
                });
                quote!(Self::Start { #(#binds),* } => { #code })
            }
            Some(p) => {
                let pat = ex.arm_pattern(p);
                quote!(#pat => { #code })
            }
        }
    });
    let items = &ir.items;
    let register = if type_params.is_empty() {
        quote! {
            #krate::__private::inventory::submit! {
                #krate::MachineType::of::<#machine>()
            }
        }
    } else {
        TokenStream::new()
    };
    let ctor_params = params.iter().map(|p| {
        let (n, t) = (&p.name, &p.ty);
        if *n == "__tern_self" {
            quote!(self)
        } else {
            quote!(#n: #t)
        }
    });
    let ctor_values = params.iter().map(|p| {
        let n = &p.name;
        if *n == "__tern_self" {
            quote!(__tern_self: self)
        } else {
            quote!(#n)
        }
    });
    let (fn_generics, fn_where) = (&sig.generics, &sig.generics.where_clause);

    let ctor = quote! {
        #(#attrs)*
        #vis fn #fn_name #fn_generics (#(#ctor_params),*) -> impl #krate::Machine<Output = #output> #fn_where {
            #machine::Start { #(#ctor_values),* }
        }
    };
    let support = quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types, clippy::all)]
        #[derive(#krate::__private::serde::Serialize, #krate::__private::serde::Deserialize)]
        #[serde(crate = #serde_path, bound = #serde_bound)]
        enum #machine #decl {
            Start { #(#param_names: #param_tys),* },
            #(#variants,)*
            #[serde(skip)]
            Running(::core::marker::PhantomData<fn() -> (#(#type_params,)*)>),
        }

        #[allow(clippy::all)]
        impl #impl_g ::core::fmt::Debug for #machine #ty_g #where_c {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                #[allow(unused_imports)]
                use #krate::__private::{ViaDebug as _, ViaTypeName as _};
                match self {
                    Self::Start { #(#param_names),* } => f.debug_struct(#start_title) #(#start_shown)* .finish(),
                    #(#debug_arms)*
                    Self::Running(_) => f.write_str(#running),
                }
            }
        }

        impl #impl_g #krate::Machine for #machine #ty_g #where_c {
            type Output = #output;
            const TYPE_KEY: &'static str = #key;
            const FINGERPRINT: u64 = #fp;

            #[allow(
                unused_variables, unused_mut, unused_assignments, unused_braces, unused_parens,
                unreachable_code, unused_labels, clippy::all, clippy::pedantic, clippy::nursery
            )]
            fn resume(&mut self, __cx: &mut #krate::Cx<'_>) -> #krate::Step<#output> {
                #(#items)*
                #(let #witnesses = ::core::option::Option::None;)*
                match ::core::mem::replace(self, Self::Running(::core::marker::PhantomData)) {
                    #(#match_arms)*
                    Self::Running(_) => ::core::panic!(
                        "`{}` resumed after it finished or panicked",
                        <Self as #krate::Machine>::TYPE_KEY
                    ),
                }
            }

            #[allow(unreachable_patterns, clippy::all)]
            fn suspension_point(&self) -> ::core::option::Option<&'static ::core::panic::Location<'static>> {
                match self {
                    #(#point_arms)*
                    _ => ::core::option::Option::None,
                }
            }
        }

        #register
    };
    Ok((ctor, support))
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn the_fingerprint_is_fnv1a_and_the_same_on_every_build() {
        // Published FNV-1a 64 test vectors: the hash must never depend on the build.
        assert_eq!(fingerprint(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fingerprint("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fingerprint("foobar"), 0x8594_4171_f739_67e8);
    }
}
