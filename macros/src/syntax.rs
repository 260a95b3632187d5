//! Syntax scanning for the lowering: which names code mentions and writes, where it jumps,
//! whether it awaits, and small shape tests on `syn` trees.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, Ident, Lifetime, Pat, Type};

use crate::ir::{Jump, Stmt, StmtKind};

pub(crate) fn is_construct(e: &Expr) -> bool {
    matches!(
        e,
        Expr::If(_) | Expr::Match(_) | Expr::Loop(_) | Expr::While(_) | Expr::ForLoop(_)
    ) || matches!(e, Expr::Block(_))
}

pub(crate) fn is_lazy(op: &syn::BinOp) -> bool {
    matches!(op, syn::BinOp::And(_) | syn::BinOp::Or(_))
}

pub(crate) fn strip_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip_parens(&p.expr),
        Expr::Group(g) => strip_parens(&g.expr),
        e => e,
    }
}

/// `x` for an expression that is just the variable `x`.
pub(crate) fn single_ident(e: &Expr) -> Option<String> {
    match strip_parens(e) {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(|i| i.to_string()),
        _ => None,
    }
}

/// `T` for a written `Vec<T>` (any path ending in `Vec`).
pub(crate) fn vec_elem(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Vec" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(t) if args.args.len() == 1 => Some(t.clone()),
        _ => None,
    }
}

/// Whether the statements end in a statement that never completes.
pub(crate) fn ends_diverging(stmts: &[Stmt]) -> bool {
    match stmts.last().map(|s| &s.kind) {
        Some(StmtKind::Return { .. }) | Some(StmtKind::Await { .. }) => true,
        Some(StmtKind::Plain { code, .. }) => {
            let mut it = code.clone().into_iter();
            match it.next() {
                Some(TokenTree::Ident(i)) => {
                    let s = i.to_string();
                    matches!(s.as_str(), "return" | "break" | "continue")
                        || (matches!(
                            s.as_str(),
                            "panic" | "unreachable" | "todo" | "unimplemented"
                        ) && matches!(it.next(), Some(TokenTree::Punct(p)) if p.as_char() == '!'))
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// The bindings a pattern introduces: (name, `mut`, by reference).
pub(crate) fn collect_bindings(pat: &Pat, out: &mut Vec<(Ident, bool, bool)>) {
    match pat {
        Pat::Ident(p) => {
            let name = p.ident.to_string();
            // An unqualified capitalized name without `mut`/`ref` is a constant or a variant.
            let constant = p.mutability.is_none()
                && p.by_ref.is_none()
                && p.subpat.is_none()
                && name.chars().next().is_some_and(char::is_uppercase);
            if !constant {
                out.push((p.ident.clone(), p.mutability.is_some(), p.by_ref.is_some()));
            }
            if let Some((_, sub)) = &p.subpat {
                collect_bindings(sub, out);
            }
        }
        Pat::Tuple(t) => t.elems.iter().for_each(|p| collect_bindings(p, out)),
        Pat::TupleStruct(t) => t.elems.iter().for_each(|p| collect_bindings(p, out)),
        Pat::Struct(s) => s.fields.iter().for_each(|f| collect_bindings(&f.pat, out)),
        Pat::Slice(s) => s.elems.iter().for_each(|p| collect_bindings(p, out)),
        Pat::Reference(r) => collect_bindings(&r.pat, out),
        Pat::Paren(p) => collect_bindings(&p.pat, out),
        Pat::Type(t) => collect_bindings(&t.pat, out),
        Pat::Or(o) => {
            if let Some(first) = o.cases.first() {
                collect_bindings(first, out);
            }
        }
        _ => {}
    }
}

/// Whether tokens (of a macro call) contain `. await`.
pub(crate) fn tokens_have_await(ts: &TokenStream) -> bool {
    let mut prev_dot = false;
    for tt in ts.clone() {
        match tt {
            TokenTree::Punct(p) => prev_dot = p.as_char() == '.',
            TokenTree::Ident(i) => {
                if prev_dot && i == "await" {
                    return true;
                }
                prev_dot = false;
            }
            TokenTree::Group(g) => {
                if tokens_have_await(&g.stream()) {
                    return true;
                }
                prev_dot = false;
            }
            TokenTree::Literal(_) => prev_dot = false,
        }
    }
    false
}

/// Whether `e` has an `.await` that suspends the task (not inside a closure or async block,
/// which are reported separately; macros count, so that they are reported).
pub(crate) fn has_await<T: AwaitScan + ?Sized>(node: &T) -> bool {
    let mut f = AwaitFinder(false);
    node.scan(&mut f);
    f.0
}

pub(crate) trait AwaitScan {
    fn scan(&self, f: &mut AwaitFinder);
}

impl AwaitScan for Expr {
    fn scan(&self, f: &mut AwaitFinder) {
        f.visit_expr(self);
    }
}

impl<T: AwaitScan + ?Sized> AwaitScan for Box<T> {
    fn scan(&self, f: &mut AwaitFinder) {
        (**self).scan(f);
    }
}

impl AwaitScan for syn::Block {
    fn scan(&self, f: &mut AwaitFinder) {
        f.visit_block(self);
    }
}

pub(crate) struct AwaitFinder(bool);

impl<'ast> Visit<'ast> for AwaitFinder {
    fn visit_expr_await(&mut self, _: &'ast syn::ExprAwait) {
        self.0 = true;
    }
    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
    fn visit_item(&mut self, _: &'ast syn::Item) {}
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        if tokens_have_await(&m.tokens) {
            self.0 = true;
        }
    }
}

/// The span of the first `.await` keyword in `e` (outside closures and async blocks).
pub(crate) fn first_await_span(e: &Expr) -> Option<Span> {
    struct Find(Option<Span>);
    impl<'ast> Visit<'ast> for Find {
        fn visit_expr_await(&mut self, a: &'ast syn::ExprAwait) {
            self.visit_expr(&a.base);
            self.0.get_or_insert(a.await_token.span);
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut f = Find(None);
    f.visit_expr(e);
    f.0
}

/// Reports `.await` inside closures and async blocks: they cannot suspend the task.
pub(crate) fn check_closures(body: &syn::Block, errors: &mut Vec<syn::Error>) {
    struct Check<'e>(&'e mut Vec<syn::Error>);
    impl<'ast> Visit<'ast> for Check<'_> {
        fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
            if has_await(&*c.body) || c.asyncness.is_some() {
                self.0.push(syn::Error::new(
                    c.span(),
                    "an async closure or a closure with `.await` cannot suspend a migratable \
                     task; move the `.await` out of the closure (closures may not live across \
                     a suspension point)",
                ));
            }
        }
        fn visit_expr_async(&mut self, a: &'ast syn::ExprAsync) {
            self.0.push(syn::Error::new(
                a.span(),
                "an `async` block inside a #[migratable] function is a future the task cannot \
                 store; write the code inline, or call another #[migratable] function",
            ));
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    Check(errors).visit_block(body);
}

/// The span of a `break <value>` that leaves the loop `body` belongs to.
pub(crate) fn break_with_value(body: &syn::Block) -> Option<Span> {
    struct Find(Option<Span>, usize);
    impl<'ast> Visit<'ast> for Find {
        fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
            if self.1 == 0 && b.expr.is_some() && b.label.is_none() {
                self.0.get_or_insert(b.span());
            }
            syn::visit::visit_expr_break(self, b);
        }
        fn visit_expr_loop(&mut self, l: &'ast syn::ExprLoop) {
            self.1 += 1;
            syn::visit::visit_expr_loop(self, l);
            self.1 -= 1;
        }
        fn visit_expr_while(&mut self, l: &'ast syn::ExprWhile) {
            self.1 += 1;
            syn::visit::visit_expr_while(self, l);
            self.1 -= 1;
        }
        fn visit_expr_for_loop(&mut self, l: &'ast syn::ExprForLoop) {
            self.1 += 1;
            syn::visit::visit_expr_for_loop(self, l);
            self.1 -= 1;
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut f = Find(None, 0);
    f.visit_block(body);
    f.0
}

/// Whether `body` (of a `loop` labeled `label`) has a `break` that leaves it.
pub(crate) fn has_break_for(body: &syn::Block, label: Option<&Lifetime>) -> bool {
    let mut c = Collector::default();
    c.visit_block(body);
    c.jumps.iter().any(|j| match j {
        Jump::Break(None) => true,
        Jump::Break(Some(l)) => label.is_some_and(|x| x.ident == l),
        Jump::Continue(_) => false,
    })
}

/// Collects the names code mentions (to resolve to variables) and its outgoing jumps.
#[derive(Default)]
pub(crate) struct Collector {
    /// (name, written) pairs.
    pub(crate) names: Vec<(String, bool)>,
    pub(crate) jumps: Vec<Jump>,
    /// Loops (`true`) and labeled blocks (`false`) inside the code being scanned, with labels.
    inner: Vec<(Option<String>, bool)>,
    pub(crate) kill: Option<String>,
}

pub(crate) struct Collected {
    pub(crate) names: Vec<(String, bool)>,
    pub(crate) jumps: Vec<Jump>,
    pub(crate) kill: Option<String>,
}

impl Collector {
    pub(crate) fn finish(self) -> Collected {
        Collected {
            names: self.names,
            jumps: self.jumps,
            kill: self.kill,
        }
    }

    fn scan_tokens(&mut self, ts: &TokenStream) {
        for tt in ts.clone() {
            match tt {
                TokenTree::Ident(i) => self.names.push((i.to_string(), false)),
                TokenTree::Group(g) => self.scan_tokens(&g.stream()),
                TokenTree::Literal(l) => {
                    // Format strings capture names: "{total}", "{x:?}".
                    let s = l.to_string();
                    if s.starts_with('"') || s.starts_with('r') {
                        for name in format_captures(&s) {
                            self.names.push((name, false));
                        }
                    }
                }
                TokenTree::Punct(_) => {}
            }
        }
    }

    fn label_inside(&self, label: &str) -> bool {
        self.inner.iter().any(|(l, _)| l.as_deref() == Some(label))
    }

    fn loop_inside(&self) -> bool {
        self.inner.iter().any(|(_, is_loop)| *is_loop)
    }
}

pub(crate) fn format_captures(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'{' {
            if b.get(i + 1) == Some(&b'{') {
                i += 2;
                continue;
            }
            let start = i + 1;
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > start && !b[start].is_ascii_digit() && matches!(b.get(j), Some(b'}' | b':')) {
                out.push(s[start..j].to_string());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        // Only a one-segment path can name a local (`x::y` never does).
        if let (None, Some(i)) = (&p.qself, p.path.get_ident()) {
            self.names.push((i.to_string(), false));
        }
        syn::visit::visit_expr_path(self, p);
    }

    fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
        match single_ident(&a.left) {
            Some(name) => self.names.push((name, true)),
            None => self.visit_expr(&a.left),
        }
        self.visit_expr(&a.right);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.scan_tokens(&m.tokens);
    }

    fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
        match &b.label {
            Some(l) if !self.label_inside(&l.ident.to_string()) => {
                self.jumps.push(Jump::Break(Some(l.ident.to_string())))
            }
            None if !self.loop_inside() => self.jumps.push(Jump::Break(None)),
            _ => {}
        }
        syn::visit::visit_expr_break(self, b);
    }

    fn visit_expr_continue(&mut self, c: &'ast syn::ExprContinue) {
        match &c.label {
            Some(l) if !self.label_inside(&l.ident.to_string()) => {
                self.jumps.push(Jump::Continue(Some(l.ident.to_string())))
            }
            None if !self.loop_inside() => self.jumps.push(Jump::Continue(None)),
            _ => {}
        }
    }

    fn visit_expr_loop(&mut self, l: &'ast syn::ExprLoop) {
        self.inner
            .push((l.label.as_ref().map(|l| l.name.ident.to_string()), true));
        syn::visit::visit_expr_loop(self, l);
        self.inner.pop();
    }

    fn visit_expr_while(&mut self, l: &'ast syn::ExprWhile) {
        self.visit_expr(&l.cond);
        self.inner
            .push((l.label.as_ref().map(|l| l.name.ident.to_string()), true));
        self.visit_block(&l.body);
        self.inner.pop();
    }

    fn visit_expr_for_loop(&mut self, l: &'ast syn::ExprForLoop) {
        self.visit_expr(&l.expr);
        self.inner
            .push((l.label.as_ref().map(|l| l.name.ident.to_string()), true));
        self.visit_pat(&l.pat);
        self.visit_block(&l.body);
        self.inner.pop();
    }

    fn visit_expr_block(&mut self, b: &'ast syn::ExprBlock) {
        match &b.label {
            // A labeled block only catches `break 'label`; unlabeled breaks pass through.
            Some(l) => {
                self.inner.push((Some(l.name.ident.to_string()), false));
                self.visit_block(&b.block);
                self.inner.pop();
            }
            None => self.visit_block(&b.block),
        }
    }

    fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
        // Names used in a closure are reads; its jumps stay inside it.
        let jumps = std::mem::take(&mut self.jumps);
        let saved = std::mem::replace(&mut self.inner, vec![(None, true)]);
        self.visit_expr(&c.body);
        self.inner = saved;
        self.jumps = jumps;
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// What keeps a type from being stored in a task, if anything: a borrow (`&T`, or a lifetime
/// other than `'static`) or `impl Trait`.
pub(crate) fn unstorable(ty: &Type) -> Option<&'static str> {
    struct Find(Option<&'static str>);
    impl<'ast> Visit<'ast> for Find {
        fn visit_type_reference(&mut self, _: &'ast syn::TypeReference) {
            self.0.get_or_insert("a borrow");
        }
        fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
            if l.ident != "static" {
                self.0.get_or_insert("a borrow");
            }
        }
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0.get_or_insert("`impl Trait`");
        }
    }
    let mut f = Find(None);
    f.visit_type(ty);
    f.0
}
