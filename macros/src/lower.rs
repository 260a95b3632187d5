//! Lowering a function body into the IR of `ir` (see its module docs for the rules).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, Ident, Pat, Type};

use crate::ir::{Arm, Block, Lowered, Point, Stmt, StmtKind, Uses, Var, VarId, VarKind};
use crate::rewrite::Rewriter;
use crate::syntax::{
    break_with_value, check_closures, collect_bindings, ends_diverging, first_await_span,
    has_await, has_break_for, is_construct, is_lazy, single_ident, strip_parens, tokens_have_await,
    vec_elem, Collected, Collector,
};

/// Where the value of a lowered expression goes.
#[derive(Clone, Copy)]
enum Dest {
    /// Statement position: the value is discarded.
    Discard,
    /// Assigned to a variable declared before.
    Var(VarId),
    /// The function's result.
    Return,
}

pub(crate) struct Lower<'a> {
    vars: Vec<Var>,
    scopes: Vec<Vec<(String, VarId)>>,
    points: Vec<Point>,
    items: Vec<syn::Item>,
    errors: &'a mut Vec<syn::Error>,
    rewriter: Rewriter<'a>,
    unit_output: bool,
    next_temp: usize,
}

impl<'a> Lower<'a> {
    pub(crate) fn new(
        errors: &'a mut Vec<syn::Error>,
        rewriter: Rewriter<'a>,
        unit_output: bool,
    ) -> Self {
        Lower {
            vars: Vec::new(),
            scopes: vec![Vec::new()],
            points: Vec::new(),
            items: Vec::new(),
            errors,
            rewriter,
            unit_output,
            next_temp: 0,
        }
    }

    /// Declares a parameter (in the function's outermost scope).
    pub(crate) fn param(&mut self, name: Ident, ty: Type, mutable: bool) -> VarId {
        let span = name.span();
        self.declare(Var {
            name,
            ty: Some(ty),
            mutable,
            kind: VarKind::Param,
            span,
        })
    }

    /// Lowers the function body; `params` are its entry variables.
    pub(crate) fn finish(mut self, body: syn::Block, params: Vec<VarId>) -> Lowered {
        check_closures(&body, self.errors);
        let mut block = self.block(body, Dest::Return);
        block.entry = params;
        self.errors.extend(self.rewriter.errors.take());
        Lowered {
            vars: self.vars,
            body: block,
            points: self.points,
            items: self.items,
        }
    }

    fn err(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, msg));
    }

    fn declare(&mut self, var: Var) -> VarId {
        let id = self.vars.len();
        let name = var.name.to_string();
        self.vars.push(var);
        self.scopes.last_mut().expect("a scope").push((name, id));
        id
    }

    fn lookup(&self, name: &str) -> Option<VarId> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }

    fn temp(&mut self, prefix: &str, span: Span) -> VarId {
        let name = format_ident!("__tern_{}{}", prefix, self.next_temp);
        self.next_temp += 1;
        self.declare(Var {
            name,
            ty: None,
            mutable: false,
            kind: VarKind::Temp,
            span,
        })
    }

    fn var_ident(&self, id: VarId) -> Ident {
        self.vars[id].name.clone()
    }

    /// Resolves what a piece of code reads and writes. `kill` is the variable a top-level
    /// `x = …` statement overwrites.
    fn uses_of(&self, collected: Collected) -> Uses {
        let mut uses = Uses::default();
        for (name, write) in collected.names {
            if let Some(id) = self.lookup(&name) {
                if write {
                    uses.writes.insert(id);
                } else {
                    uses.reads.insert(id);
                }
            }
        }
        if let Some(k) = collected.kill.and_then(|k| self.lookup(&k)) {
            if !uses.reads.contains(&k) {
                uses.kills.insert(k);
            }
        }
        uses.jumps = collected.jumps;
        uses
    }

    fn uses_expr(&self, e: &Expr) -> Uses {
        let mut c = Collector::default();
        c.visit_expr(e);
        self.uses_of(c.finish())
    }

    /// Plain code: rewritten, with its uses resolved before its declarations take effect.
    fn plain(&mut self, mut stmt: syn::Stmt, out: &mut Vec<Stmt>) {
        let mut c = Collector::default();
        c.visit_stmt(&stmt);
        if let syn::Stmt::Expr(Expr::Assign(a), _) = &stmt {
            c.kill = single_ident(&a.left);
        }
        let uses = self.uses_of(c.finish());
        let decls = match &stmt {
            syn::Stmt::Local(l) => self.declare_pattern(&l.pat, None),
            _ => Vec::new(),
        };
        self.rewriter.stmt(&mut stmt);
        out.push(Stmt {
            kind: StmtKind::Plain {
                code: stmt.into_token_stream(),
                uses,
            },
            decls,
        });
    }

    fn plain_tokens(&mut self, code: TokenStream, uses: Uses, out: &mut Vec<Stmt>) {
        out.push(Stmt {
            kind: StmtKind::Plain { code, uses },
            decls: Vec::new(),
        });
    }

    /// Declares the bindings of a `let` pattern (or a `match` arm's when `kind` is given).
    fn declare_pattern(&mut self, pat: &Pat, kind: Option<VarKind>) -> Vec<VarId> {
        let (pat, ty) = match pat {
            Pat::Type(pt) => (&*pt.pat, Some((*pt.ty).clone())),
            p => (p, None),
        };
        let mut binds = Vec::new();
        collect_bindings(pat, &mut binds);
        let single = matches!(pat, Pat::Ident(p) if p.subpat.is_none());
        binds
            .into_iter()
            .map(|(name, mutable, by_ref)| {
                let kind = kind.unwrap_or(if single {
                    VarKind::Let
                } else {
                    VarKind::Destructured
                });
                let ty = if single && !by_ref { ty.clone() } else { None };
                let span = name.span();
                self.declare(Var {
                    name,
                    ty,
                    mutable,
                    kind,
                    span,
                })
            })
            .collect()
    }

    // ----- blocks and statements -----

    fn block(&mut self, b: syn::Block, dest: Dest) -> Block {
        self.scopes.push(Vec::new());
        let mut stmts = Vec::new();
        let n = b.stmts.len();
        let mut has_tail = false;
        for (i, s) in b.stmts.into_iter().enumerate() {
            let is_tail = i + 1 == n && matches!(s, syn::Stmt::Expr(_, None));
            has_tail |= is_tail;
            self.stmt(s, is_tail, dest, &mut stmts);
        }
        if !has_tail && !ends_diverging(&stmts) {
            match dest {
                Dest::Discard => {}
                Dest::Var(v) => {
                    let id = self.var_ident(v);
                    let mut uses = Uses::default();
                    uses.kills.insert(v);
                    uses.writes.insert(v);
                    self.plain_tokens(quote!(#id = ();), uses, &mut stmts);
                }
                Dest::Return => {
                    if self.unit_output {
                        stmts.push(Stmt {
                            kind: StmtKind::Return {
                                value: quote!(()),
                                uses: Uses::default(),
                            },
                            decls: Vec::new(),
                        });
                    }
                }
            }
        }
        self.scopes.pop();
        Block {
            entry: Vec::new(),
            stmts,
        }
    }

    fn stmt(&mut self, s: syn::Stmt, is_tail: bool, dest: Dest, out: &mut Vec<Stmt>) {
        match s {
            syn::Stmt::Item(item) => self.items.push(item),
            syn::Stmt::Local(local) => self.local(local, out),
            syn::Stmt::Macro(m) => {
                if tokens_have_await(&m.mac.tokens) {
                    self.err(
                        m.mac.span(),
                        "`.await` inside a macro call cannot be a suspension point; \
                         bind the awaited value with `let` before the macro",
                    );
                }
                self.plain(syn::Stmt::Macro(m), out);
            }
            syn::Stmt::Expr(e, semi) => {
                if is_tail && !matches!(dest, Dest::Discard) {
                    return self.value(e, dest, out);
                }
                if !has_await(&e) {
                    let semi = semi.or_else(|| Some(Default::default()));
                    return self.plain(syn::Stmt::Expr(e, semi), out);
                }
                match e {
                    Expr::If(_)
                    | Expr::Match(_)
                    | Expr::Loop(_)
                    | Expr::While(_)
                    | Expr::ForLoop(_)
                    | Expr::Block(_) => self.construct(e, Dest::Discard, out),
                    Expr::Return(r) => {
                        let value = match r.expr {
                            Some(v) => self.expr(*v, out),
                            None => syn::parse_quote!(()),
                        };
                        self.ret(value, out);
                    }
                    Expr::Assign(a) if single_ident(&a.left).is_some() => {
                        let right = self.expr(*a.right, out);
                        let left = a.left;
                        let stmt: syn::Stmt = syn::parse_quote!(#left = #right;);
                        self.plain(stmt, out);
                    }
                    e => {
                        let r = self.expr(e, out);
                        self.plain(syn::Stmt::Expr(r, Some(Default::default())), out);
                    }
                }
            }
        }
    }

    fn local(&mut self, local: syn::Local, out: &mut Vec<Stmt>) {
        let Some(init) = &local.init else {
            return self.plain(syn::Stmt::Local(local), out);
        };
        if let Some((_, diverge)) = &init.diverge {
            if has_await(diverge) {
                self.err(
                    diverge.span(),
                    "`.await` in the `else` of a `let … else` is not supported; \
                     use `match` with an arm that awaits",
                );
            }
        }
        if !has_await(&init.expr) {
            return self.plain(syn::Stmt::Local(local), out);
        }
        let syn::Local {
            attrs,
            let_token,
            pat,
            init,
            semi_token,
        } = local;
        let syn::LocalInit {
            eq_token,
            expr,
            diverge,
        } = init.expect("checked above");
        // `let x = if c { a.await } else { b };`: the branches assign a fresh local (which
        // no pattern of the user's can shadow), then `let x = that;`.
        if diverge.is_none() && is_construct(&expr) {
            let span = expr.span();
            let t = self.temp("v", span);
            let id = self.var_ident(t);
            let ty = match &pat {
                Pat::Type(pt) => Some((*pt.ty).clone()),
                _ => None,
            };
            let written = ty.as_ref().map(|t| quote!(: #t));
            self.vars[t].ty = ty;
            let from = out.len();
            self.construct(*expr, Dest::Var(t), out);
            declare_before_construct(out, from, quote!(let #id #written;), t);
            let stmt: syn::Stmt = syn::parse_quote!(#(#attrs)* #let_token #pat = #id;);
            return self.plain(stmt, out);
        }
        let value = self.expr(*expr, out);
        let init = syn::LocalInit {
            eq_token,
            expr: Box::new(value),
            diverge,
        };
        let local = syn::Local {
            attrs,
            let_token,
            pat,
            init: Some(init),
            semi_token,
        };
        self.plain(syn::Stmt::Local(local), out);
    }

    fn ret(&mut self, value: Expr, out: &mut Vec<Stmt>) {
        let uses = self.uses_expr(&value);
        let mut value = value;
        self.rewriter.expr(&mut value);
        out.push(Stmt {
            kind: StmtKind::Return {
                value: value.into_token_stream(),
                uses,
            },
            decls: Vec::new(),
        });
    }

    /// An expression whose value goes to `dest`.
    fn value(&mut self, e: Expr, dest: Dest, out: &mut Vec<Stmt>) {
        if has_await(&e) && is_construct(&e) {
            return self.construct(e, dest, out);
        }
        let r = self.expr(e, out);
        match dest {
            Dest::Discard => self.plain(syn::Stmt::Expr(r, Some(Default::default())), out),
            Dest::Return => self.ret(r, out),
            Dest::Var(v) => {
                let id = self.var_ident(v);
                let stmt: syn::Stmt = syn::parse_quote!(#id = #r;);
                self.plain(stmt, out);
            }
        }
    }

    fn unit_to(&mut self, dest: Dest, out: &mut Vec<Stmt>) {
        match dest {
            Dest::Discard => {}
            d => self.value(syn::parse_quote!(()), d, out),
        }
    }

    /// A control-flow construct that contains an `.await`.
    fn construct(&mut self, e: Expr, dest: Dest, out: &mut Vec<Stmt>) {
        match e {
            Expr::If(i) => self.if_(i, dest, out),
            Expr::Match(m) => {
                let scrutinee = self.expr(*m.expr, out);
                let arms = m
                    .arms
                    .into_iter()
                    .map(|arm| {
                        let guard = arm.guard.map(|(_, g)| {
                            if has_await(&g) {
                                self.err(
                                    first_await_span(&g).unwrap_or_else(|| g.span()),
                                    "`.await` in a match guard is not supported; \
                                     await before the `match` and bind the result with `let`",
                                );
                            }
                            *g
                        });
                        self.arm(arm.pat, guard, *arm.body, dest)
                    })
                    .collect();
                self.match_(scrutinee, arms, out);
            }
            Expr::Loop(l) => {
                if let Some(span) = break_with_value(&l.body) {
                    self.err(
                        span,
                        "`break` with a value out of a loop that awaits is not supported; \
                         assign the value to a variable declared before the loop and `break;`",
                    );
                }
                let label = l.label.map(|l| l.name);
                let breaks = has_break_for(&l.body, label.as_ref());
                self.scopes.push(Vec::new());
                let body = self.block(l.body, Dest::Discard);
                self.scopes.pop();
                out.push(Stmt {
                    kind: StmtKind::Loop { label, body },
                    decls: Vec::new(),
                });
                if breaks {
                    self.unit_to(dest, out);
                }
            }
            Expr::While(w) => {
                let label = w.label.map(|l| l.name);
                let mut body = Vec::new();
                self.scopes.push(Vec::new());
                match *w.cond {
                    Expr::Let(l) => {
                        let scrutinee = self.expr(*l.expr, &mut body);
                        let then = syn::Expr::Block(syn::ExprBlock {
                            attrs: Vec::new(),
                            label: None,
                            block: w.body,
                        });
                        let arms = vec![
                            self.arm(*l.pat, None, then, Dest::Discard),
                            self.arm(
                                syn::parse_quote!(_),
                                None,
                                syn::parse_quote!(break),
                                Dest::Discard,
                            ),
                        ];
                        self.match_(scrutinee, arms, &mut body);
                    }
                    cond => {
                        let cond = self.expr(cond, &mut body);
                        let check: syn::Stmt = syn::parse_quote!(if !(#cond) { break; });
                        self.plain(check, &mut body);
                        let inner = self.block(w.body, Dest::Discard);
                        body.push(Stmt {
                            kind: StmtKind::Block {
                                label: None,
                                body: inner,
                            },
                            decls: Vec::new(),
                        });
                    }
                }
                self.scopes.pop();
                out.push(Stmt {
                    kind: StmtKind::Loop {
                        label,
                        body: Block {
                            entry: Vec::new(),
                            stmts: body,
                        },
                    },
                    decls: Vec::new(),
                });
                self.unit_to(dest, out);
            }
            Expr::ForLoop(f) => self.for_(f, dest, out),
            Expr::Block(b) => {
                if b.block.stmts.is_empty() {
                    return self.unit_to(dest, out);
                }
                let body = self.block(b.block, dest);
                out.push(Stmt {
                    kind: StmtKind::Block {
                        label: b.label.map(|l| l.name),
                        body,
                    },
                    decls: Vec::new(),
                });
            }
            other => {
                let r = self.expr(other, out);
                self.value(r, dest, out);
            }
        }
    }

    fn if_(&mut self, i: syn::ExprIf, dest: Dest, out: &mut Vec<Stmt>) {
        let else_expr: Option<Expr> = i.else_branch.map(|(_, e)| *e);
        let then = Expr::Block(syn::ExprBlock {
            attrs: Vec::new(),
            label: None,
            block: i.then_branch,
        });
        match *i.cond {
            Expr::Let(l) => {
                let scrutinee = self.expr(*l.expr, out);
                let els = else_expr.unwrap_or_else(|| syn::parse_quote!({}));
                let arms = vec![
                    self.arm(*l.pat, None, then, dest),
                    self.arm(syn::parse_quote!(_), None, els, dest),
                ];
                self.match_(scrutinee, arms, out);
            }
            cond => {
                let cond = self.expr(cond, out);
                let uses = self.uses_expr(&cond);
                let mut cond = cond;
                self.rewriter.expr(&mut cond);
                let then = self.branch(then, dest);
                let els = self.branch(else_expr.unwrap_or_else(|| syn::parse_quote!({})), dest);
                out.push(Stmt {
                    kind: StmtKind::If {
                        cond: cond.into_token_stream(),
                        uses,
                        then,
                        els,
                    },
                    decls: Vec::new(),
                });
            }
        }
    }

    /// A branch body (a block or any expression) lowered as a scope whose value goes to `dest`.
    fn branch(&mut self, e: Expr, dest: Dest) -> Block {
        match e {
            Expr::Block(b) if b.label.is_none() => self.block(b.block, dest),
            e => {
                let block = syn::Block {
                    brace_token: Default::default(),
                    stmts: vec![syn::Stmt::Expr(e, None)],
                };
                self.block(block, dest)
            }
        }
    }

    fn arm(&mut self, pat: Pat, guard: Option<Expr>, body: Expr, dest: Dest) -> Arm {
        self.scopes.push(Vec::new());
        let mut c = Collector::default();
        c.visit_pat(&pat);
        if let Some(g) = &guard {
            c.visit_expr(g);
        }
        // Names in the pattern that resolve to outer variables are constants or reads.
        let mut uses = self.uses_of(c.finish());
        let entry = self.declare_pattern(&pat, Some(VarKind::Binding));
        uses.reads.retain(|id| !entry.contains(id));
        let guard = guard.map(|mut g| {
            self.rewriter.expr(&mut g);
            g.into_token_stream()
        });
        let mut body = self.branch(body, dest);
        body.entry = entry;
        self.scopes.pop();
        Arm {
            pat: pat.into_token_stream(),
            guard,
            uses,
            body,
        }
    }

    fn match_(&mut self, scrutinee: Expr, arms: Vec<Arm>, out: &mut Vec<Stmt>) {
        let uses = self.uses_expr(&scrutinee);
        let mut scrutinee = scrutinee;
        self.rewriter.expr(&mut scrutinee);
        out.push(Stmt {
            kind: StmtKind::Match {
                scrutinee: scrutinee.into_token_stream(),
                uses,
                arms,
            },
            decls: Vec::new(),
        });
    }

    fn for_(&mut self, f: syn::ExprForLoop, dest: Dest, out: &mut Vec<Stmt>) {
        let span = f.expr.span();
        let iter_expr = self.expr(*f.expr, out);
        let Some((ty, init, elem)) = self.stored_iter(&iter_expr) else {
            self.err(
                span,
                "the iterator of a `for` loop whose body awaits is stored in the task, so its type \
                 must be known: iterate over a range whose bounds have a known type (`0..n` with \
                 `n: u64`, or `0u64..10`), a local with a written `Vec<T>` type, or a local whose \
                 written type is a serializable iterator (`let it: MyIter = …; for x in it`)",
            );
            return;
        };
        let iter = self.temp("iter", span);
        self.vars[iter].kind = VarKind::Iter;
        self.vars[iter].ty = Some(ty.clone());
        self.vars[iter].mutable = true;
        let iter_id = self.var_ident(iter);
        let uses = self.uses_expr(&iter_expr);
        out.push(Stmt {
            kind: StmtKind::Plain {
                code: quote!(let mut #iter_id: #ty = #init;),
                uses,
            },
            decls: vec![iter],
        });
        let label = f.label.map(|l| l.name);
        self.scopes.push(Vec::new());
        let mut body = Vec::new();
        let scrutinee: Expr = syn::parse_quote!(::core::iter::Iterator::next(&mut #iter_id));
        let pat = *f.pat;
        let some: Pat = syn::parse_quote!(::core::option::Option::Some(#pat));
        let block = Expr::Block(syn::ExprBlock {
            attrs: Vec::new(),
            label: None,
            block: f.body,
        });
        let mut arm = self.arm(some, None, block, Dest::Discard);
        // `for x in 0..n`: `x` has the range's element type.
        if let (Pat::Ident(p), Some(elem)) = (&pat, elem) {
            if p.subpat.is_none() && p.by_ref.is_none() {
                if let Some(&id) = arm.body.entry.first() {
                    self.vars[id].ty = Some(elem);
                    self.vars[id].kind = VarKind::ForBinding;
                }
            }
        }
        arm.pat = quote!(::core::option::Option::Some(#pat));
        let none = self.arm(
            syn::parse_quote!(::core::option::Option::None),
            None,
            syn::parse_quote!(break),
            Dest::Discard,
        );
        self.match_(scrutinee, vec![arm, none], &mut body);
        self.scopes.pop();
        out.push(Stmt {
            kind: StmtKind::Loop {
                label,
                body: Block {
                    entry: Vec::new(),
                    stmts: body,
                },
            },
            decls: Vec::new(),
        });
        self.unit_to(dest, out);
    }

    /// The stored type, initializer and element type of a `for` loop's iterator.
    fn stored_iter(&self, e: &Expr) -> Option<(Type, TokenStream, Option<Type>)> {
        let krate = self.rewriter.krate;
        match strip_parens(e) {
            Expr::Range(r) => {
                let (Some(from), Some(to)) = (&r.start, &r.end) else {
                    return None;
                };
                let t = self.type_of(from).or_else(|| self.type_of(to))?;
                match r.limits {
                    syn::RangeLimits::HalfOpen(_) => Some((
                        syn::parse_quote!(::core::ops::Range<#t>),
                        quote!(#from..#to),
                        Some(t),
                    )),
                    syn::RangeLimits::Closed(_) => Some((
                        syn::parse_quote!(#krate::__private::InclusiveIter<#t>),
                        quote!(#krate::__private::InclusiveIter::new(#from..=#to)),
                        Some(t),
                    )),
                }
            }
            Expr::Path(_) => {
                let name = single_ident(e)?;
                let id = self.lookup(&name)?;
                let ty = self.vars[id].ty.clone()?;
                if let Some(elem) = vec_elem(&ty) {
                    Some((
                        syn::parse_quote!(#krate::__private::VecIter<#elem>),
                        quote!(#krate::__private::VecIter::new(#e)),
                        Some(elem),
                    ))
                } else {
                    Some((ty, quote!(::core::iter::IntoIterator::into_iter(#e)), None))
                }
            }
            _ => None,
        }
    }

    /// The type of a range bound, when the macro can see it.
    fn type_of(&self, e: &Expr) -> Option<Type> {
        match strip_parens(e) {
            Expr::Lit(l) => match &l.lit {
                syn::Lit::Int(i) if !i.suffix().is_empty() => {
                    let s = format_ident!("{}", i.suffix());
                    Some(syn::parse_quote!(#s))
                }
                _ => None,
            },
            Expr::Cast(c) => Some((*c.ty).clone()),
            Expr::Path(_) => {
                let id = self.lookup(&single_ident(e)?)?;
                self.vars[id]
                    .ty
                    .clone()
                    .filter(|t| !matches!(t, Type::Reference(_)))
            }
            Expr::Binary(b) => self.type_of(&b.left).or_else(|| self.type_of(&b.right)),
            Expr::MethodCall(m) if m.method == "len" => Some(syn::parse_quote!(usize)),
            _ => None,
        }
    }

    // ----- expressions -----

    /// Hoists every `.await` out of `e` into statements pushed to `out`; returns what is left.
    fn expr(&mut self, e: Expr, out: &mut Vec<Stmt>) -> Expr {
        if !has_await(&e) {
            return e;
        }
        match e {
            Expr::Await(a) => {
                let span = a
                    .await_token
                    .span
                    .join(a.base.span())
                    .unwrap_or(a.await_token.span);
                let span = a.base.span().join(span).unwrap_or(span);
                let effect = self.expr(*a.base, out);
                let uses = self.uses_expr(&effect);
                let text = effect.to_token_stream().to_string();
                let mut effect = effect;
                self.rewriter.expr(&mut effect);
                let point = self.points.len();
                self.points.push(Point { span, text });
                let temp = self.temp("aw", span);
                let id = self.var_ident(temp);
                out.push(Stmt {
                    kind: StmtKind::Await {
                        point,
                        effect: effect.into_token_stream(),
                        uses,
                        span,
                        temp,
                    },
                    decls: vec![temp],
                });
                syn::parse_quote_spanned!(span=> #id)
            }
            Expr::Try(mut t) => {
                *t.expr = self.expr(*t.expr, out);
                Expr::Try(t)
            }
            Expr::Paren(mut p) => {
                *p.expr = self.expr(*p.expr, out);
                Expr::Paren(p)
            }
            Expr::Group(mut g) => {
                *g.expr = self.expr(*g.expr, out);
                Expr::Group(g)
            }
            Expr::Field(mut f) => {
                *f.base = self.expr(*f.base, out);
                Expr::Field(f)
            }
            Expr::Unary(mut u) => {
                *u.expr = self.expr(*u.expr, out);
                Expr::Unary(u)
            }
            Expr::Reference(mut r) => {
                *r.expr = self.expr(*r.expr, out);
                Expr::Reference(r)
            }
            Expr::Cast(mut c) => {
                *c.expr = self.expr(*c.expr, out);
                Expr::Cast(c)
            }
            Expr::Index(mut i) => {
                *i.expr = self.expr(*i.expr, out);
                *i.index = self.expr(*i.index, out);
                Expr::Index(i)
            }
            Expr::Call(mut c) => {
                *c.func = self.expr(*c.func, out);
                c.args = c.args.into_iter().map(|a| self.expr(a, out)).collect();
                Expr::Call(c)
            }
            Expr::MethodCall(mut m) => {
                *m.receiver = self.expr(*m.receiver, out);
                m.args = m.args.into_iter().map(|a| self.expr(a, out)).collect();
                Expr::MethodCall(m)
            }
            Expr::Tuple(mut t) => {
                t.elems = t.elems.into_iter().map(|a| self.expr(a, out)).collect();
                Expr::Tuple(t)
            }
            Expr::Array(mut a) => {
                a.elems = a.elems.into_iter().map(|x| self.expr(x, out)).collect();
                Expr::Array(a)
            }
            Expr::Struct(mut s) => {
                s.fields = s
                    .fields
                    .into_iter()
                    .map(|mut f| {
                        f.expr = self.expr(f.expr, out);
                        f
                    })
                    .collect();
                if let Some(rest) = s.rest.take() {
                    s.rest = Some(Box::new(self.expr(*rest, out)));
                }
                Expr::Struct(s)
            }
            Expr::Range(mut r) => {
                r.start = r.start.map(|x| Box::new(self.expr(*x, out)));
                r.end = r.end.map(|x| Box::new(self.expr(*x, out)));
                Expr::Range(r)
            }
            Expr::Binary(b) if is_lazy(&b.op) && has_await(&b.right) => {
                // `a && b.await`: `let t; if a { t = b } else { t = false }`.
                let span = b.span();
                let left = self.expr(*b.left, out);
                let t = self.temp("v", span);
                let id = self.var_ident(t);
                self.plain_tokens(quote!(let #id: bool;), Uses::default(), out);
                out.last_mut().expect("just pushed").decls.push(t);
                let short = matches!(b.op, syn::BinOp::Or(_));
                let right = *b.right;
                let (then, els): (Expr, Expr) = if short {
                    (syn::parse_quote!({ true }), syn::parse_quote!({ #right }))
                } else {
                    (syn::parse_quote!({ #right }), syn::parse_quote!({ false }))
                };
                let i: syn::ExprIf = syn::parse_quote!(if #left #then else #els);
                self.vars[t].ty = Some(syn::parse_quote!(bool));
                self.if_(i, Dest::Var(t), out);
                syn::parse_quote!(#id)
            }
            Expr::Binary(mut b) => {
                *b.left = self.expr(*b.left, out);
                *b.right = self.expr(*b.right, out);
                Expr::Binary(b)
            }
            Expr::Assign(mut a) => {
                *a.right = self.expr(*a.right, out);
                Expr::Assign(a)
            }
            e if is_construct(&e) => {
                let span = e.span();
                let t = self.temp("v", span);
                let id = self.var_ident(t);
                let from = out.len();
                self.construct(e, Dest::Var(t), out);
                declare_before_construct(out, from, quote!(let #id;), t);
                syn::parse_quote!(#id)
            }
            Expr::Macro(m) => {
                self.err(
                    m.span(),
                    "`.await` inside a macro call cannot be a suspension point; \
                     bind the awaited value with `let` before the macro",
                );
                Expr::Macro(m)
            }
            e => {
                self.err(
                    e.span(),
                    "`.await` is not supported inside this kind of expression in a \
                     #[migratable] function; bind the awaited value with `let` first",
                );
                e
            }
        }
    }
}

/// Inserts the declaration of a construct's value local right before the construct (after
/// the statements that evaluate its condition or scrutinee, which may suspend: a local
/// declared before a suspension and never assigned there would have no type to infer).
fn declare_before_construct(out: &mut Vec<Stmt>, from: usize, decl: TokenStream, var: VarId) {
    let at = (from..out.len())
        .rev()
        .find(|&i| {
            !matches!(
                out[i].kind,
                StmtKind::Plain { .. } | StmtKind::Await { .. } | StmtKind::Return { .. }
            )
        })
        .unwrap_or(out.len());
    out.insert(
        at,
        Stmt {
            kind: StmtKind::Plain {
                code: decl,
                uses: Uses::default(),
            },
            decls: vec![var],
        },
    );
}
