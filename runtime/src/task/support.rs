//! Support for the code `#[migratable]` generates. Reached through `tern::__private`; not part
//! of the public API and free to change with the macro.
//!
//! - **Result typing.** The code after a suspension point must learn the awaited effect's
//!   type without the macro knowing types. Every suspension point `k` gets a local
//!   `let __tern_wk = None;` of type `Option<PhantomData<E>>`. The suspending code calls
//!   [`pin`] with the effect, which fixes `E`; the resuming code calls [`resumed`] with the same
//!   local, which decodes the response as `E::Output`. Both uses are in one function body, so
//!   inference connects them; nothing is stored and nothing runs.
//! - **`?` and `return`.** A generated `resume` returns [`Step`], so the macro rewrites `?`
//!   into a match on [`Branch::branch`] that returns `Step::Done(FromResidual::from_residual(r))`.
//!   The two traits mirror the unstable `std::ops::Try` for `Result` and `Option`.
//! - **Stored iterators.** A `for` loop whose body awaits keeps its iterator in the task's
//!   state: ranges as `Range<T>` (serde-ready as is) or [`InclusiveIter`], vectors as
//!   [`VecIter`].
//! - **Suspension points.** [`here`] gives the generated `Machine::suspension_point` the
//!   location of each `.await`, and [`overwrite`] writes a suspension's state.
//! - **Debug of any local.** [`Dbg`] prints a stored local with its `Debug` impl when it has one
//!   and its type name otherwise (autoref selection), so a task's report never needs a bound.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{ControlFlow, RangeInclusive};
use std::panic::Location;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Cx, Effect};

/// Fixes the effect type of a suspension point's witness (see the module docs).
#[inline(always)]
pub fn pin<E: Effect>(_witness: &Option<PhantomData<E>>, _effect: &E) {}

/// Reads the response to the request a suspension point suspended with.
///
/// # Panics
/// If no response is pending (the machine was resumed without having suspended).
#[inline(always)]
pub fn resumed<E: Effect>(_witness: &Option<PhantomData<E>>, cx: &mut Cx<'_>) -> E::Output {
    match cx.response.take() {
        Some(r) => E::decode(r),
        None => panic!("migratable task resumed with no response pending"),
    }
}

/// Writes a suspension point's state over the `Running` placeholder without dropping the
/// placeholder (it holds nothing, but the compiler cannot see that through `&mut self`).
#[inline(always)]
pub fn overwrite<M>(state: &mut M, next: M) {
    std::mem::forget(std::mem::replace(state, next));
}

/// The location of the call: a generated `Machine::suspension_point` calls this with the
/// span of the suspension point's `.await`, the span its suspend call has, so both name the
/// same file, line and column.
#[track_caller]
#[inline(always)]
pub fn here() -> &'static Location<'static> {
    Location::caller()
}

/// The first half of `?`: continue with the value or break with the residual.
#[diagnostic::on_unimplemented(
    message = "`?` cannot be applied to `{Self}` in a #[migratable] function",
    label = "`?` works on `Result` and `Option` here"
)]
pub trait Branch {
    /// The value `?` evaluates to.
    type Output;
    /// What an early return carries.
    type Residual;
    /// Splits `self` into a value or an early return.
    fn branch(self) -> ControlFlow<Self::Residual, Self::Output>;
}

impl<T, E> Branch for Result<T, E> {
    type Output = T;
    type Residual = Result<std::convert::Infallible, E>;
    #[inline]
    fn branch(self) -> ControlFlow<Self::Residual, T> {
        match self {
            Ok(v) => ControlFlow::Continue(v),
            Err(e) => ControlFlow::Break(Err(e)),
        }
    }
}

impl<T> Branch for Option<T> {
    type Output = T;
    type Residual = Option<std::convert::Infallible>;
    #[inline]
    fn branch(self) -> ControlFlow<Self::Residual, T> {
        match self {
            Some(v) => ControlFlow::Continue(v),
            None => ControlFlow::Break(None),
        }
    }
}

/// The second half of `?`: the function's output built from a residual.
#[diagnostic::on_unimplemented(
    message = "`?` cannot return early from this #[migratable] function: its output `{Self}` cannot hold `{R}`",
    label = "`?` needs the function to return a `Result` (with a `From` error) or an `Option`"
)]
pub trait FromResidual<R> {
    /// Builds the early return value.
    fn from_residual(residual: R) -> Self;
}

impl<T, E, F: From<E>> FromResidual<Result<std::convert::Infallible, E>> for Result<T, F> {
    #[inline]
    fn from_residual(residual: Result<std::convert::Infallible, E>) -> Self {
        match residual {
            Err(e) => Err(F::from(e)),
            Ok(never) => match never {},
        }
    }
}

impl<T> FromResidual<Option<std::convert::Infallible>> for Option<T> {
    #[inline]
    fn from_residual(_: Option<std::convert::Infallible>) -> Self {
        None
    }
}

/// A vector's remaining items, stored by a `for` loop that awaits (items kept reversed so
/// that `next` is a `pop`).
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub struct VecIter<T> {
    rev: Vec<T>,
}

impl<T> VecIter<T> {
    /// Starts iterating over `items` by value.
    pub fn new(mut items: Vec<T>) -> Self {
        items.reverse();
        VecIter { rev: items }
    }
}

impl<T> Iterator for VecIter<T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        self.rev.pop()
    }
}

impl<T: fmt::Debug> fmt::Debug for VecIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rev.iter().rev()).finish()
    }
}

/// An inclusive range being iterated, stored by a `for` loop that awaits.
///
/// `RangeInclusive`'s own serde form drops its "exhausted" flag, so a range frozen after
/// yielding its last item would yield it again; this wrapper keeps the flag.
pub struct InclusiveIter<T> {
    range: RangeInclusive<T>,
}

impl<T> InclusiveIter<T> {
    /// Starts iterating over `range`.
    pub fn new(range: RangeInclusive<T>) -> Self {
        InclusiveIter { range }
    }
}

impl<T> Iterator for InclusiveIter<T>
where
    RangeInclusive<T>: Iterator<Item = T>,
{
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        self.range.next()
    }
}

impl<T: Serialize + PartialOrd> Serialize for InclusiveIter<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.range.start(), self.range.end(), self.range.is_empty()).serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for InclusiveIter<T>
where
    T: Deserialize<'de> + PartialOrd,
    RangeInclusive<T>: Iterator<Item = T>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (start, end, empty) = <(T, T, bool)>::deserialize(d)?;
        let mut range = start..=end;
        // An exhausted range has start == end; one step marks it exhausted again.
        while empty && !range.is_empty() {
            range.next();
        }
        Ok(InclusiveIter { range })
    }
}

impl<T: fmt::Debug> fmt::Debug for InclusiveIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.range, f)
    }
}

/// Formats a stored local: with `Debug` when its type has it, as its type name otherwise.
/// Call as `(&Dbg(&x)).fmt_local(f)` with [`ViaDebug`] and [`ViaTypeName`] in scope.
pub struct Dbg<'a, T: ?Sized>(pub &'a T);

/// Chosen for `Dbg<T>` when `T: Debug`.
pub trait ViaDebug {
    /// Formats the local.
    fn fmt_local(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<T: fmt::Debug + ?Sized> ViaDebug for Dbg<'_, T> {
    fn fmt_local(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

/// The fallback for types without `Debug`.
pub trait ViaTypeName {
    /// Formats the local as `<type name>`.
    fn fmt_local(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<T: ?Sized> ViaTypeName for &Dbg<'_, T> {
    fn fmt_local(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", std::any::type_name::<T>())
    }
}

/// Wraps a formatting closure as a `Debug` value (for `debug_struct().field(..)`).
pub struct DebugWith<F>(pub F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Debug for DebugWith<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusive_iter_keeps_exhaustion_across_serde() {
        let mut it = InclusiveIter::new(1u32..=3);
        assert_eq!(it.by_ref().collect::<Vec<_>>(), vec![1, 2, 3]);
        let bytes = postcard::to_allocvec(&it).unwrap();
        let mut back: InclusiveIter<u32> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.next(), None);

        let mut it = InclusiveIter::new(1u32..=3);
        it.next();
        let bytes = postcard::to_allocvec(&it).unwrap();
        let back: InclusiveIter<u32> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn vec_iter_resumes_where_it_stopped() {
        let mut it = VecIter::new(vec!["a", "b", "c"]);
        assert_eq!(it.next(), Some("a"));
        let bytes = postcard::to_allocvec(&it).unwrap();
        let back: VecIter<String> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.collect::<Vec<_>>(), vec!["b", "c"]);
    }

    #[test]
    #[allow(clippy::needless_borrow)] // the borrow selects the impl
    fn dbg_uses_debug_when_present_and_type_name_otherwise() {
        struct Opaque;
        let shown = format!(
            "{:?}",
            DebugWith(|f: &mut fmt::Formatter<'_>| (&Dbg(&5u8)).fmt_local(f))
        );
        assert_eq!(shown, "5");
        let shown = format!(
            "{:?}",
            DebugWith(|f: &mut fmt::Formatter<'_>| (&Dbg(&Opaque)).fmt_local(f))
        );
        assert!(shown.contains("Opaque"), "{shown}");
    }
}
