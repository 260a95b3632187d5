//! Liveness: which variables each suspension point must store, and whether they can be stored.
//!
//! A backward data-flow over the structured IR. `live_in(s) = reads(s) ∪ (live_out(s) −
//! kills(s) − decls(s))`, branches join by union, loops iterate to a fixed point, and a
//! `break`/`continue` inside plain code adds the live set of its target. At a suspension
//! point its state variant holds the variables live *after* it (minus the awaited value
//! itself), plus those live at the head of each loop around it: the resumed code re-enters
//! those loops through a flag rustc cannot see through (see `Analyzer::stmt`).
//!
//! Every stored local must have a type the macro can write into the state enum: a parameter,
//! a `let` with a written type, a `for` binding over a range, or a hidden iterator. Anything
//! else gets a spanned error that names the variable and says what to write.

use std::collections::{BTreeMap, BTreeSet};

use crate::ir::{Block, Jump, Lowered, Stmt, StmtKind, Uses, VarId, VarKind};
use crate::syntax::unstorable;

type Set = BTreeSet<VarId>;

/// The variables stored at each suspension point.
pub(crate) struct Liveness {
    pub(crate) at: BTreeMap<usize, Set>,
}

struct Target {
    label: Option<String>,
    is_loop: bool,
    on_break: Set,
    on_continue: Set,
}

struct Analyzer {
    at: BTreeMap<usize, Set>,
    targets: Vec<Target>,
}

pub(crate) fn analyze(ir: &Lowered, errors: &mut Vec<syn::Error>) -> Liveness {
    let mut a = Analyzer {
        at: BTreeMap::new(),
        targets: Vec::new(),
    };
    a.block(&ir.body, Set::new());
    check(ir, &a.at, errors);
    Liveness { at: a.at }
}

impl Analyzer {
    fn block(&mut self, b: &Block, out: Set) -> Set {
        let mut live = out;
        for s in b.stmts.iter().rev() {
            live = self.stmt(s, live);
        }
        for v in &b.entry {
            live.remove(v);
        }
        live
    }

    fn jumps(&self, uses: &Uses, live: &mut Set) {
        for j in &uses.jumps {
            let (label, brk) = match j {
                Jump::Break(l) => (l, true),
                Jump::Continue(l) => (l, false),
            };
            let target = self.targets.iter().rev().find(|t| match label {
                Some(l) => t.label.as_deref() == Some(l.as_str()),
                None => t.is_loop,
            });
            if let Some(t) = target {
                live.extend(
                    if brk { &t.on_break } else { &t.on_continue }
                        .iter()
                        .copied(),
                );
            }
        }
    }

    fn plain(&self, uses: &Uses, decls: &[VarId], out: Set) -> Set {
        let mut live = out;
        for v in uses.kills.iter().chain(decls) {
            live.remove(v);
        }
        live.extend(uses.reads.iter().copied());
        self.jumps(uses, &mut live);
        live
    }

    fn stmt(&mut self, s: &Stmt, out: Set) -> Set {
        match &s.kind {
            StmtKind::Plain { uses, .. } => self.plain(uses, &s.decls, out),
            StmtKind::Return { uses, .. } => self.plain(uses, &[], Set::new()),
            StmtKind::Await {
                point, uses, temp, ..
            } => {
                let mut after = out;
                after.remove(temp);
                let entry = self.at.entry(*point).or_default();
                entry.extend(after.iter().copied());
                // The code that resumes here re-enters every enclosing loop as `if first {
                // <rest of this iteration> } else { <whole body> }` (see `expand`). rustc's
                // initialization check cannot see that `first` is true on entry, so to it the
                // whole body, and the code after the loop by way of its exits, can run
                // straight after the resume, before the rest of this iteration assigns
                // anything. A local live at the head of an enclosing loop must therefore be
                // stored here even when every path from here overwrites it before reading it
                // (`last = total;` in the loop, `last` read after it): otherwise the resumed
                // code declares it uninitialized and the task does not compile (E0381).
                // While the fixed points iterate, `on_continue` of a loop is its head's live
                // set so far; the last pass over each loop runs with the final one.
                for t in self.targets.iter().filter(|t| t.is_loop) {
                    entry.extend(t.on_continue.iter().copied());
                }
                self.plain(uses, &[], after)
            }
            StmtKind::If {
                uses, then, els, ..
            } => {
                let mut live = self.block(then, out.clone());
                live.extend(self.block(els, out));
                live.extend(uses.reads.iter().copied());
                self.jumps(uses, &mut live);
                live
            }
            StmtKind::Match { uses, arms, .. } => {
                let mut live = Set::new();
                for arm in arms {
                    live.extend(self.block(&arm.body, out.clone()));
                    live.extend(arm.uses.reads.iter().copied());
                }
                live.extend(uses.reads.iter().copied());
                self.jumps(uses, &mut live);
                live
            }
            StmtKind::Block { label, body } => {
                self.targets.push(Target {
                    label: label.as_ref().map(|l| l.ident.to_string()),
                    is_loop: false,
                    on_break: out.clone(),
                    on_continue: Set::new(),
                });
                let live = self.block(body, out);
                self.targets.pop();
                live
            }
            StmtKind::Loop { label, body } => {
                // The live set at the loop head is a fixed point of the body's transfer.
                let mut head = Set::new();
                loop {
                    self.targets.push(Target {
                        label: label.as_ref().map(|l| l.ident.to_string()),
                        is_loop: true,
                        on_break: out.clone(),
                        on_continue: head.clone(),
                    });
                    let next = self.block(body, head.clone());
                    self.targets.pop();
                    if next.is_subset(&head) {
                        break head;
                    }
                    head.extend(next);
                }
            }
        }
    }
}

/// Reports stored locals the macro cannot store.
fn check(ir: &Lowered, at: &BTreeMap<usize, Set>, errors: &mut Vec<syn::Error>) {
    let mut in_scope = BTreeMap::new();
    scopes(&ir.body, &mut Vec::new(), &mut in_scope);
    let mut hidden = BTreeSet::new();
    let mut untyped = BTreeSet::new();
    for (&point, live) in at {
        let await_span = ir.points[point].span;
        for &v in live {
            let var = &ir.vars[v];
            let name = var.name.to_string();
            // The suspending code stores locals by name, so the name must mean this local
            // there: a newer local of the same name in scope hides it.
            let visible = in_scope
                .get(&point)
                .and_then(|s: &Vec<VarId>| s.iter().rev().find(|&&w| ir.vars[w].name == var.name));
            if let Some(&inner) = visible.filter(|&&w| w != v) {
                if hidden.insert(inner) {
                    let both = live.contains(&inner);
                    let mut e = syn::Error::new(
                        ir.vars[inner].span,
                        if both {
                            format!(
                                "`{name}` shadows another `{name}` and both are still needed \
                                 after an `.await`; rename one of them"
                            )
                        } else {
                            format!(
                                "this `{name}` hides another `{name}` that is still needed after \
                                 an `.await` in its scope; rename one of them"
                            )
                        },
                    );
                    e.combine(syn::Error::new(
                        var.span,
                        if both {
                            "the other one".to_string()
                        } else {
                            format!("the `{name}` the task must keep")
                        },
                    ));
                    e.combine(syn::Error::new(
                        await_span,
                        if both {
                            format!("both `{name}`s are still needed after this `.await`")
                        } else {
                            format!("the `.await` the outer `{name}` lives across")
                        },
                    ));
                    errors.push(e);
                }
            }
            let problem = match (&var.ty, var.kind) {
                (Some(syn::Type::Reference(_)), _) => Some(format!(
                    "`{name}` is a borrow that lives across an `.await`; a suspended task is \
                     plain data and cannot hold borrows. Store an owned value (clone it, or keep \
                     the owner and borrow again after the `.await`)"
                )),
                (Some(ty), _) if unstorable(ty).is_some() => Some(format!(
                    "`{name}` holds a borrow (its type has a lifetime) across an `.await`; a \
                     suspended task cannot hold borrows. Store an owned value instead"
                )),
                (Some(_), _) => None,
                (None, VarKind::Let) => Some(format!(
                    "`{name}` lives across an `.await`, so it is stored in the task and needs a \
                     written type: `let {name}: Type = …;`"
                )),
                (None, VarKind::Destructured) => Some(format!(
                    "`{name}` lives across an `.await` but is bound by destructuring; bind it \
                     with its own typed `let`: `let {name}: Type = …;`"
                )),
                (None, VarKind::Binding) => Some(format!(
                    "the pattern binding `{name}` lives across an `.await`; rebind it with a \
                     written type inside the arm before the `.await`: `let {name}: Type = {name};`"
                )),
                (None, VarKind::ForBinding) => Some(format!(
                    "the `for` binding `{name}` lives across an `.await`; rebind it with a written \
                     type at the start of the body: `let {name}: Type = {name};`"
                )),
                (None, VarKind::Temp) => Some(
                    "the value of this expression is held across a later `.await` in the same \
                     expression; bind it first with a typed `let` (`let v: Type = …;`)"
                        .to_string(),
                ),
                (None, VarKind::Param | VarKind::Iter) => None,
            };
            if let Some(msg) = problem {
                if untyped.insert(v) {
                    let mut e = syn::Error::new(var.span, msg);
                    let needed = if var.kind == VarKind::Temp {
                        "that value is still needed after this `.await`".to_string()
                    } else {
                        format!("`{name}` is still needed after this `.await`")
                    };
                    e.combine(syn::Error::new(await_span, needed));
                    errors.push(e);
                }
            }
        }
    }
}

/// The variables in scope at each suspension point, oldest first.
fn scopes(b: &Block, outer: &mut Vec<VarId>, out: &mut BTreeMap<usize, Vec<VarId>>) {
    let mark = outer.len();
    outer.extend(b.entry.iter().copied());
    for s in &b.stmts {
        match &s.kind {
            StmtKind::Await { point, .. } => {
                out.insert(*point, outer.clone());
            }
            StmtKind::If { then, els, .. } => {
                scopes(then, outer, out);
                scopes(els, outer, out);
            }
            StmtKind::Match { arms, .. } => {
                for a in arms {
                    scopes(&a.body, outer, out);
                }
            }
            StmtKind::Loop { body, .. } | StmtKind::Block { body, .. } => {
                scopes(body, outer, out);
            }
            StmtKind::Plain { .. } | StmtKind::Return { .. } => {}
        }
        outer.extend(s.decls.iter().copied());
    }
    outer.truncate(mark);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::Lower;
    use crate::rewrite::Rewriter;

    /// The names stored at each suspension point of `f`, in point order, each sorted.
    fn stored(f: &str) -> Vec<Vec<String>> {
        let item: syn::ItemFn = syn::parse_str(f).expect("an fn");
        let krate: syn::Path = syn::parse_quote!(tern);
        let mut errors = Vec::new();
        let mut lower = Lower::new(&mut errors, Rewriter::new(&krate), false);
        let params = item
            .sig
            .inputs
            .iter()
            .map(|a| match a {
                syn::FnArg::Typed(pt) => match &*pt.pat {
                    syn::Pat::Ident(p) => {
                        lower.param(p.ident.clone(), (*pt.ty).clone(), p.mutability.is_some())
                    }
                    _ => panic!("a plain parameter"),
                },
                syn::FnArg::Receiver(_) => panic!("no receiver"),
            })
            .collect();
        let ir = lower.finish(*item.block, params);
        assert!(errors.is_empty(), "lowering failed");
        let live = analyze(&ir, &mut errors);
        assert!(errors.is_empty(), "analysis failed");
        (0..ir.points.len())
            .map(|p| {
                let mut names: Vec<String> = live
                    .at
                    .get(&p)
                    .into_iter()
                    .flatten()
                    .map(|&v| ir.vars[v].name.to_string())
                    .collect();
                names.sort();
                names
            })
            .collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn a_local_overwritten_in_a_while_let_and_read_after_it_is_stored_at_every_point() {
        let s = stored(
            "async fn keeper(input: Channel<u64>, out: Channel<u64>) -> u64 {
                let mut last: u64 = 0;
                while let Ok(v) = input.recv().await {
                    let v: u64 = v;
                    let total: u64 = v * 2;
                    out.send(total).await.ok();
                    last = total;
                }
                last
            }",
        );
        assert_eq!(s[0], names(&["input", "out", "last"]));
        // Every path from the `send` overwrites `last` before reading it, but the resumed
        // code re-enters the loop's whole body as far as rustc can tell.
        assert_eq!(s[1], names(&["input", "out", "last", "total"]));
    }

    #[test]
    fn loop_with_break_for_and_nested_loops_store_the_heads_of_all_enclosing_loops() {
        let s = stored(
            "async fn f(c: Channel<u64>) -> u64 {
                let mut last: u64 = 0;
                loop {
                    let v: u64 = c.recv().await.unwrap();
                    last = v;
                    if v == 0 { break; }
                }
                last
            }",
        );
        // Every path from the head overwrites `last` before leaving: not stored.
        assert_eq!(s[0], names(&["c"]));
        let s = stored(
            "async fn f(c: Channel<u64>) -> u64 {
                let mut last: u64 = 0;
                loop {
                    let v: u64 = c.recv().await.unwrap();
                    if v == 0 { break; }
                    c.send(v).await.ok();
                    last = v;
                }
                last
            }",
        );
        assert_eq!(s[0], names(&["c", "last"]));
        assert_eq!(s[1], names(&["c", "last", "v"]));
        let s = stored(
            "async fn f(c: Channel<u64>, n: u64) -> u64 {
                let mut last: u64 = 0;
                for i in 0..n {
                    let mut inner: u64 = 0;
                    loop {
                        let v: u64 = c.recv().await.unwrap();
                        inner = v;
                        if v < 10 { break; }
                    }
                    last = inner + i;
                }
                last
            }",
        );
        // `last` is overwritten before any read on every path from the `recv`, but it is live
        // at the head of the outer loop; `inner` is dead at the inner loop's head.
        assert_eq!(s[0], names(&["c", "i", "last", "__tern_iter0"]));
    }

    #[test]
    fn a_local_overwritten_in_one_arm_only_is_stored() {
        let s = stored(
            "async fn f(c: Channel<u64>) -> u64 {
                let mut last: u64 = 0;
                loop {
                    let v: u64 = c.recv().await.unwrap();
                    if v == 0 { break; }
                    if v % 2 == 0 {
                        c.send(v).await.ok();
                        last = v;
                    } else {
                        c.send(v + 1).await.ok();
                    }
                }
                last
            }",
        );
        assert_eq!(s[0], names(&["c", "last"]));
        assert_eq!(s[1], names(&["c", "last", "v"]));
        assert_eq!(s[2], names(&["c", "last"]));
    }

    #[test]
    fn an_overwrite_outside_any_loop_still_kills() {
        let s = stored(
            "async fn f(c: Channel<u64>) -> u64 {
                let mut last: u64 = 1;
                let v: u64 = c.recv().await.unwrap();
                last = v;
                last
            }",
        );
        assert_eq!(s[0], Vec::<String>::new());
        let s = stored(
            "async fn f(c: Channel<u64>) -> u64 {
                let mut x: u64 = 1;
                loop {
                    let v: u64 = c.recv().await.unwrap();
                    if v == 0 { break; }
                }
                let y: u64 = c.recv().await.unwrap();
                x = y;
                x
            }",
        );
        // `x` is dead from the loop's head on: overwritten after the loop before any read.
        assert_eq!(s[0], names(&["c"]));
    }
}
