//! The structured IR a `#[migratable]` body is lowered into (the lowering is in `lower`).
//!
//! Lowering keeps the user's control flow but moves every `.await` to statement level:
//! `let v = f(x.recv().await?);` becomes `Await { point: 0, effect: x.recv(), temp: __tern_aw0 }`
//! followed by the plain statement `let v = f(__tern_aw0?);`. Constructs that contain an
//! `.await` (`if`, `match`, `loop`, `while`, `for`, blocks) become IR nodes whose bodies are
//! lowered in turn; everything else stays as plain code, emitted as written (after `return` and
//! `?` are rewritten for the generated `resume`).
//!
//! - `while c { b }` becomes `loop { if !(c) { break; } { b } }`; `while let p = e { b }` becomes
//!   `loop { match e { p => { b } _ => break } }`; `if let p = e { a } else { b }` becomes
//!   `match e { p => { a } _ => { b } }`.
//! - `for p in it { b }` whose body awaits stores its iterator in a hidden local
//!   (`__tern_iterN`) with a type the macro can name: `Range<T>` for `a..b`, `InclusiveIter<T>`
//!   for `a..=b` (when `T` is known from a literal suffix, a cast or a typed local), `VecIter<T>`
//!   for a local of type `Vec<T>`, or a local's own written type when it is an iterator.
//! - A construct with an `.await` inside in *value* position (`let v = if c { a.await } else
//!   { 0 };`) assigns its branches' values to a local declared before it.
//! - `.await` inside an operand is evaluated before the operands around it that have none
//!   (`a() + b.await` runs `b` first); `&&` and `||` keep their short-circuit.
//!
//! Every name is resolved to a [`VarId`] while lowering (a scope stack mirrors Rust's), so the
//! liveness analysis works on variables, not on spellings.

use std::collections::BTreeSet;

use proc_macro2::{Span, TokenStream};
use syn::{Ident, Lifetime, Type};

/// Index of a variable in [`Lowered::vars`].
pub(crate) type VarId = usize;

/// What declared a variable (decides what to tell the user when it needs a type).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum VarKind {
    /// A function parameter (always typed).
    Param,
    /// A `let` binding.
    Let,
    /// A `let` binding introduced by destructuring (`let (a, b) = …`).
    Destructured,
    /// The value of an `.await` or of a construct in value position.
    Temp,
    /// A binding of a `match` arm, `if let` or `while let` pattern.
    Binding,
    /// The binding of a `for` pattern.
    ForBinding,
    /// A `for` loop's stored iterator.
    Iter,
}

/// A variable of the function body.
pub(crate) struct Var {
    pub(crate) name: Ident,
    pub(crate) ty: Option<Type>,
    pub(crate) mutable: bool,
    pub(crate) kind: VarKind,
    /// Where it was declared (or the expression a temp holds).
    pub(crate) span: Span,
}

/// How a statement reads and writes variables.
#[derive(Default, Clone)]
pub(crate) struct Uses {
    /// Variables whose value may be read.
    pub(crate) reads: BTreeSet<VarId>,
    /// Variables certainly overwritten (a top-level `x = …;`).
    pub(crate) kills: BTreeSet<VarId>,
    /// Variables that may be assigned.
    pub(crate) writes: BTreeSet<VarId>,
    /// `break`/`continue` that leave this code for an enclosing lowered construct.
    pub(crate) jumps: Vec<Jump>,
}

/// A jump out of plain code to an enclosing lowered loop or labeled block.
#[derive(Clone, Debug)]
pub(crate) enum Jump {
    Break(Option<String>),
    Continue(Option<String>),
}

/// A lowered block: a scope.
pub(crate) struct Block {
    /// Variables bound on entry (parameters, an arm's pattern bindings).
    pub(crate) entry: Vec<VarId>,
    pub(crate) stmts: Vec<Stmt>,
}

/// A lowered statement and the variables it declares in its block.
pub(crate) struct Stmt {
    pub(crate) kind: StmtKind,
    pub(crate) decls: Vec<VarId>,
}

pub(crate) enum StmtKind {
    /// Code with no suspension point, emitted as is.
    Plain { code: TokenStream, uses: Uses },
    /// A suspension point: evaluate `effect`, suspend, and on resume bind the result to `temp`.
    Await {
        point: usize,
        effect: TokenStream,
        uses: Uses,
        span: Span,
        temp: VarId,
    },
    /// Finish the task with `value`.
    Return { value: TokenStream, uses: Uses },
    If {
        cond: TokenStream,
        uses: Uses,
        then: Block,
        els: Block,
    },
    Match {
        scrutinee: TokenStream,
        uses: Uses,
        arms: Vec<Arm>,
    },
    Loop {
        label: Option<Lifetime>,
        body: Block,
    },
    Block {
        label: Option<Lifetime>,
        body: Block,
    },
}

/// One arm of a lowered `match`. Its pattern's bindings are its body's entry variables.
pub(crate) struct Arm {
    pub(crate) pat: TokenStream,
    pub(crate) guard: Option<TokenStream>,
    pub(crate) uses: Uses,
    pub(crate) body: Block,
}

/// A suspension point.
pub(crate) struct Point {
    /// The `.await` expression.
    pub(crate) span: Span,
    /// The awaited expression's text, for `Debug` output.
    pub(crate) text: String,
}

/// The result of lowering a function body.
pub(crate) struct Lowered {
    pub(crate) vars: Vec<Var>,
    pub(crate) body: Block,
    pub(crate) points: Vec<Point>,
    /// Items declared in the body (`use`, `fn`, …), hoisted to the top of `resume`.
    pub(crate) items: Vec<syn::Item>,
}
