//! Code generation: the state enum, its `Machine` impl and the constructor function.
//!
//! # The shape of the generated code
//!
//! ```text
//! enum __tern_machine_f<G> { Start { params }, S0 { stored locals }, …, Running(PhantomData) }
//!
//! fn resume(&mut self, __cx) -> Step<O> {
//!     let __tern_w0 = None; …                       // one type witness per suspension point
//!     match mem::replace(self, Self::Running(..)) {
//!         Self::Start { params } => { <body from the start> }
//!         Self::S0 { stored } => { <restore stored locals>; <the rest of the body after S0> }
//!         …
//!     }
//! }
//! ```
//!
//! Suspending at point `k` writes `Self::Sk { stored locals }` over the `Running` placeholder
//! with `__private::overwrite`, which skips the placeholder's drop: it holds nothing, but the
//! compiler cannot see which variant `*self` holds, and `*self = …` left a call to the whole
//! enum's drop glue on every suspension (about 20 instructions per resume in the thread-ring
//! bench). Only `resume` writes `*self`, and it writes the placeholder first, so nothing that
//! needs dropping is ever forgotten.
//!
//! The `Machine` impl also answers `suspension_point`: one arm per variant `Sk`, calling the
//! `#[track_caller]` `__private::here()` with the span of point `k`'s `.await` — the span its
//! suspend call carries — so it names the location the runtime recorded when the task
//! suspended there, and snapshots need not carry it.
//!
//! Reaching an `.await` always returns from `resume` (the runtime performs the request and
//! resumes later), so the code after a suspension point is only ever entered by resuming
//! there. Each arm is therefore ordinary structured Rust: the statements after the point in
//! its block, then the rest of every enclosing block. An enclosing loop is re-entered with a
//! first-iteration flag (`if first { <rest of this iteration> } else { <whole body> }`), so
//! `break`/`continue` and labels keep their meaning. Locals that do not cross a suspension
//! point stay ordinary Rust locals with inferred types; only stored locals need types.
//!
//! Arms are emitted in breadth-first order from `Start`, so a suspension point's witness is
//! pinned (by the code that suspends there) before the code that resumes there reads it —
//! rustc infers types in textual order. Points that no emitted code can reach get no arm.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use crate::analyze::Liveness;
use crate::ir::{Block, Lowered, Stmt, StmtKind, VarId};

pub(crate) struct Expander<'a> {
    pub(crate) ir: &'a Lowered,
    pub(crate) live: &'a Liveness,
    pub(crate) krate: &'a syn::Path,
    /// Field names of each stored variable, per point.
    pub(crate) fields: BTreeMap<usize, Vec<(VarId, syn::Ident)>>,
    /// Points whose suspension code the arm being emitted contains.
    suspends: BTreeSet<usize>,
    next_flag: usize,
}

/// One arm of the `resume` match.
pub(crate) struct ArmCode {
    pub(crate) point: Option<usize>,
    pub(crate) code: TokenStream,
}

impl<'a> Expander<'a> {
    pub(crate) fn new(ir: &'a Lowered, live: &'a Liveness, krate: &'a syn::Path) -> Self {
        let mut fields = BTreeMap::new();
        for (&point, set) in &live.at {
            let mut used: BTreeMap<String, usize> = BTreeMap::new();
            let list = set
                .iter()
                .map(|&v| {
                    let base = ir.vars[v].name.to_string();
                    let base = match base.trim_start_matches("__tern_") {
                        "self" => "this".to_string(), // a method's `self`
                        b => b.to_string(),
                    };
                    let n = used.entry(base.clone()).or_insert(0);
                    let name = if *n == 0 {
                        format_ident!("{}", base)
                    } else {
                        format_ident!("{}_{}", base, *n)
                    };
                    *n += 1;
                    (v, name)
                })
                .collect();
            fields.insert(point, list);
        }
        Expander {
            ir,
            live,
            krate,
            fields,
            suspends: BTreeSet::new(),
            next_flag: 0,
        }
    }

    pub(crate) fn variant(point: usize) -> syn::Ident {
        format_ident!("S{}", point)
    }

    pub(crate) fn witness(point: usize) -> syn::Ident {
        format_ident!("__tern_w{}", point)
    }

    fn binding(v: VarId) -> syn::Ident {
        format_ident!("__tern_f{}", v)
    }

    /// All arms, in breadth-first order from `Start`.
    pub(crate) fn arms(&mut self) -> Vec<ArmCode> {
        let mut out = Vec::new();
        let start = self.start_block(&self.ir.body);
        let suspends = std::mem::take(&mut self.suspends);
        let mut queue: VecDeque<usize> = suspends.iter().copied().collect();
        let mut seen: BTreeSet<usize> = suspends;
        out.push(ArmCode {
            point: None,
            code: start,
        });
        while let Some(p) = queue.pop_front() {
            let code = self.resume_block(&self.ir.body, p);
            let suspends = std::mem::take(&mut self.suspends);
            for &s in &suspends {
                if seen.insert(s) {
                    queue.push_back(s);
                }
            }
            out.push(ArmCode {
                point: Some(p),
                code,
            });
        }
        out
    }

    fn start_block(&mut self, b: &Block) -> TokenStream {
        let mut ts = TokenStream::new();
        for s in &b.stmts {
            ts.extend(self.start_stmt(s));
            if matches!(s.kind, StmtKind::Await { .. }) {
                break; // what follows runs only when the task resumes here
            }
        }
        ts
    }

    fn start_stmt(&mut self, s: &Stmt) -> TokenStream {
        let krate = self.krate;
        match &s.kind {
            StmtKind::Plain { code, .. } => code.clone(),
            StmtKind::Await {
                point,
                effect,
                span,
                ..
            } => {
                self.suspends.insert(*point);
                let w = Self::witness(*point);
                let variant = Self::variant(*point);
                let fields = self.fields.get(point).cloned().unwrap_or_default();
                let fields = fields.iter().map(|(v, f)| {
                    let name = &self.ir.vars[*v].name;
                    quote!(#f: #name)
                });
                // The suspend call carries the user's span: its `#[track_caller]` location is
                // the task's suspension point in reports.
                let suspend = quote_spanned!(*span=> __cx.suspend(__tern_effect));
                // So is the pin: "cannot be awaited" errors point at the user's `.await`.
                let (pin_krate, pin_w) = (respan(quote!(#krate), *span), respan(quote!(#w), *span));
                let pin =
                    quote_spanned!(*span=> #pin_krate::__private::pin(&#pin_w, &__tern_effect));
                quote! {{
                    let __tern_effect = #effect;
                    #pin;
                    let __tern_step = #suspend;
                    #krate::__private::overwrite(self, Self::#variant { #(#fields),* });
                    return __tern_step;
                }}
            }
            StmtKind::Return { value, .. } => quote!(return #krate::Step::Done(#value);),
            StmtKind::If {
                cond, then, els, ..
            } => {
                let then = self.start_block(then);
                let els = self.start_block(els);
                quote!(if #cond { #then } else { #els })
            }
            StmtKind::Match {
                scrutinee, arms, ..
            } => {
                let arms = arms.iter().map(|a| {
                    let pat = &a.pat;
                    let guard = a.guard.as_ref().map(|g| quote!(if #g));
                    let body = self.start_block(&a.body);
                    quote!(#pat #guard => { #body })
                });
                let arms: Vec<_> = arms.collect();
                quote!(match #scrutinee { #(#arms)* })
            }
            StmtKind::Loop { label, body } => {
                let body = self.start_block(body);
                let label = label.as_ref().map(|l| quote!(#l:));
                quote!(#label loop { #body })
            }
            StmtKind::Block { label, body } => {
                let body = self.start_block(body);
                let label = label.as_ref().map(|l| quote!(#l:));
                quote!(#label { #body })
            }
        }
    }

    /// The code of block `b` when the task resumes at `point`, somewhere inside it.
    fn resume_block(&mut self, b: &Block, point: usize) -> TokenStream {
        let i = b
            .stmts
            .iter()
            .position(|s| contains(s, point))
            .expect("the resumed block contains the point");
        let live = &self.live.at[&point];
        let mut writes = BTreeSet::new();
        for s in &b.stmts[i..] {
            collect_writes(s, &mut writes);
        }
        let mut ts = TokenStream::new();
        let declared = b
            .entry
            .iter()
            .chain(b.stmts[..i].iter().flat_map(|s| s.decls.iter()));
        for &v in declared {
            let var = &self.ir.vars[v];
            let name = &var.name;
            let mutability = var.mutable.then(|| quote!(mut));
            let ty = var.ty.as_ref().map(|t| quote!(: #t));
            if live.contains(&v) {
                let field = Self::binding(v);
                ts.extend(quote!(let #mutability #name #ty = #field;));
            } else if writes.contains(&v) {
                ts.extend(quote!(let #mutability #name #ty;));
            }
        }
        ts.extend(self.resume_stmt(&b.stmts[i], point));
        for s in &b.stmts[i + 1..] {
            ts.extend(self.start_stmt(s));
            if matches!(s.kind, StmtKind::Await { .. }) {
                break;
            }
        }
        ts
    }

    fn resume_stmt(&mut self, s: &Stmt, point: usize) -> TokenStream {
        let krate = self.krate;
        match &s.kind {
            StmtKind::Await { temp, span, .. } => {
                let w = Self::witness(point);
                let name = &self.ir.vars[*temp].name;
                // Spanned like the suspending code, so rustc reports a non-effect once.
                let (krate, w) = (respan(quote!(#krate), *span), respan(quote!(#w), *span));
                let resumed = quote_spanned!(*span=> #krate::__private::resumed(&#w, __cx));
                quote!(let #name = #resumed;)
            }
            StmtKind::If { then, els, .. } => {
                let b = if contains_block(then, point) {
                    then
                } else {
                    els
                };
                let code = self.resume_block(b, point);
                quote!({ #code })
            }
            StmtKind::Match { arms, .. } => {
                let arm = arms
                    .iter()
                    .find(|a| contains_block(&a.body, point))
                    .expect("an arm contains the point");
                let code = self.resume_block(&arm.body, point);
                quote!({ #code })
            }
            StmtKind::Loop { label, body } => {
                let flag = format_ident!("__tern_first{}", self.next_flag);
                self.next_flag += 1;
                let rest = self.resume_block(body, point);
                let whole = self.start_block(body);
                let label = label.as_ref().map(|l| quote!(#l:));
                quote! {
                    let mut #flag = true;
                    #label loop {
                        if #flag {
                            #flag = false;
                            #rest
                        } else {
                            #whole
                        }
                    }
                }
            }
            StmtKind::Block { label, body } => {
                let code = self.resume_block(body, point);
                let label = label.as_ref().map(|l| quote!(#l:));
                quote!(#label { #code })
            }
            StmtKind::Plain { .. } | StmtKind::Return { .. } => {
                unreachable!("plain code has no suspension point")
            }
        }
    }

    /// The pattern that binds a point's stored fields to `__tern_fN`.
    pub(crate) fn arm_pattern(&self, point: usize) -> TokenStream {
        let variant = Self::variant(point);
        let fields = self.fields.get(&point).cloned().unwrap_or_default();
        let fields = fields.iter().map(|(v, f)| {
            let b = Self::binding(*v);
            quote!(#f: #b)
        });
        quote!(Self::#variant { #(#fields),* })
    }

    /// The state variant's fields: `name: Type`.
    pub(crate) fn variant_fields(&self, point: usize) -> Vec<(syn::Ident, syn::Type)> {
        self.fields
            .get(&point)
            .map(|list| {
                list.iter()
                    .map(|(v, f)| {
                        let ty = self.ir.vars[*v].ty.clone();
                        (f.clone(), ty.unwrap_or_else(|| syn::parse_quote!(())))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `ts` with every token's span set to `span` (so an error about the whole expression points
/// at the user's code rather than at the attribute).
pub(crate) fn respan(ts: TokenStream, span: Span) -> TokenStream {
    ts.into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut ng = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                ng.set_span(span);
                tt = proc_macro2::TokenTree::Group(ng);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

fn contains(s: &Stmt, point: usize) -> bool {
    match &s.kind {
        StmtKind::Await { point: p, .. } => *p == point,
        StmtKind::Plain { .. } | StmtKind::Return { .. } => false,
        StmtKind::If { then, els, .. } => contains_block(then, point) || contains_block(els, point),
        StmtKind::Match { arms, .. } => arms.iter().any(|a| contains_block(&a.body, point)),
        StmtKind::Loop { body, .. } | StmtKind::Block { body, .. } => contains_block(body, point),
    }
}

fn contains_block(b: &Block, point: usize) -> bool {
    b.stmts.iter().any(|s| contains(s, point))
}

fn collect_writes(s: &Stmt, out: &mut BTreeSet<VarId>) {
    let block = |b: &Block, out: &mut BTreeSet<VarId>| {
        for s in &b.stmts {
            collect_writes(s, out);
        }
    };
    match &s.kind {
        StmtKind::Plain { uses, .. } => {
            out.extend(uses.writes.iter().copied());
            out.extend(uses.kills.iter().copied());
        }
        StmtKind::Await { .. } | StmtKind::Return { .. } => {}
        StmtKind::If { then, els, .. } => {
            block(then, out);
            block(els, out);
        }
        StmtKind::Match { arms, .. } => arms.iter().for_each(|a| block(&a.body, out)),
        StmtKind::Loop { body, .. } | StmtKind::Block { body, .. } => block(body, out),
    }
}
