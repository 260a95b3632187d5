//! Type-erased values: what travels through channel cores, task responses and snapshots.
//!
//! A channel core is untyped (its identity carries a type fingerprint instead), so a pending
//! request restored from a snapshot can be rebound on any node from its name alone. Values
//! therefore cross the core as [`Value`]:
//!
//! - common scalars (`()`, `bool`, the integer types, `f64`) are stored **inline**: erasing and
//!   taking them back allocates nothing and compiles to a type-id comparison that the optimiser
//!   folds away after monomorphisation;
//! - anything else is boxed once, with a vtable that can encode it for a snapshot;
//! - a value read back from a snapshot stays as its postcard bytes until the consumer, who knows
//!   the type, takes it.
//!
//! Invariant: for every variant, [`Value::encode`] produces exactly the postcard encoding of the
//! original `T`, so `Value::Encoded(bytes).take::<T>()` returns an equal value.

use std::any::Any;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A value whose type is known only to whoever put it in and whoever takes it out.
pub(crate) enum Value {
    /// `()`.
    Unit,
    /// `bool`.
    Bool(bool),
    /// Any unsigned integer type up to 64 bits, tagged with which one.
    Unsigned(u64, Width),
    /// Any signed integer type up to 64 bits, tagged with which one.
    Signed(i64, Width),
    /// `f64`.
    F64(f64),
    /// Anything else, boxed.
    Boxed(Box<dyn ErasedValue>),
    /// Postcard bytes from a snapshot, decoded when taken.
    Encoded(Vec<u8>),
}

/// Which integer type an inline integer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    W8,
    W16,
    W32,
    W64,
    Size,
}

/// A boxed value that can still be encoded without knowing its type.
pub(crate) trait ErasedValue: Send {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error>;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: Serialize + Send + 'static> ErasedValue for T {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        postcard::to_io(self, out).map(|_| ())
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// Why a [`Value`] could not be taken as the requested type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TakeError {
    /// The value holds another type.
    #[error("value is not a `{0}`")]
    WrongType(&'static str),
    /// Snapshot bytes did not decode as the requested type.
    #[error("value bytes do not decode as `{0}`")]
    Decode(&'static str),
}

macro_rules! try_inline_in {
    ($slot:ident; $($t:ty => |$v:ident| $make:expr),* $(,)?) => {
        $(
            if let Some(s) = ($slot as &mut dyn Any).downcast_mut::<Option<$t>>() {
                if let Some($v) = s.take() {
                    return $make;
                }
            }
        )*
    };
}

macro_rules! try_inline_out {
    ($out:ident; $($t:ty => $val:expr),* $(,)?) => {
        $(
            if let Some(o) = (&mut $out as &mut dyn Any).downcast_mut::<Option<$t>>() {
                *o = $val;
                return $out.ok_or(TakeError::WrongType(std::any::type_name::<T>()));
            }
        )*
    };
}

impl Value {
    /// Erases `v`: inline when it is a common scalar, boxed otherwise.
    #[inline]
    pub(crate) fn new<T: Serialize + Send + 'static>(v: T) -> Value {
        let slot = &mut Some(v);
        try_inline_in!(slot;
            () => |_v| Value::Unit,
            bool => |v| Value::Bool(v),
            u8 => |v| Value::Unsigned(u64::from(v), Width::W8),
            u16 => |v| Value::Unsigned(u64::from(v), Width::W16),
            u32 => |v| Value::Unsigned(u64::from(v), Width::W32),
            u64 => |v| Value::Unsigned(v, Width::W64),
            usize => |v| Value::Unsigned(v as u64, Width::Size),
            i8 => |v| Value::Signed(i64::from(v), Width::W8),
            i16 => |v| Value::Signed(i64::from(v), Width::W16),
            i32 => |v| Value::Signed(i64::from(v), Width::W32),
            i64 => |v| Value::Signed(v, Width::W64),
            isize => |v| Value::Signed(v as i64, Width::Size),
            f64 => |v| Value::F64(v),
        );
        match slot.take() {
            Some(v) => Value::Boxed(Box::new(v)),
            // Unreachable: every inline arm above returns when it takes the value.
            None => Value::Unit,
        }
    }

    /// Takes the value back as a `T`.
    ///
    /// # Errors
    /// [`TakeError::WrongType`] when the value holds another type; [`TakeError::Decode`] when
    /// snapshot bytes do not decode as `T` (or leave trailing bytes).
    #[inline]
    pub(crate) fn take<T: DeserializeOwned + 'static>(self) -> Result<T, TakeError> {
        let name = std::any::type_name::<T>();
        let mut out: Option<T> = None;
        match self {
            Value::Unit => {
                try_inline_out!(out; () => Some(()));
            }
            Value::Bool(b) => {
                try_inline_out!(out; bool => Some(b));
            }
            Value::Unsigned(v, w) => {
                try_inline_out!(out;
                    u8 => (w == Width::W8).then_some(v as u8),
                    u16 => (w == Width::W16).then_some(v as u16),
                    u32 => (w == Width::W32).then_some(v as u32),
                    u64 => (w == Width::W64).then_some(v),
                    usize => (w == Width::Size).then_some(v as usize),
                );
            }
            Value::Signed(v, w) => {
                try_inline_out!(out;
                    i8 => (w == Width::W8).then_some(v as i8),
                    i16 => (w == Width::W16).then_some(v as i16),
                    i32 => (w == Width::W32).then_some(v as i32),
                    i64 => (w == Width::W64).then_some(v),
                    isize => (w == Width::Size).then_some(v as isize),
                );
            }
            Value::F64(v) => {
                try_inline_out!(out; f64 => Some(v));
            }
            Value::Boxed(b) => {
                return b
                    .into_any()
                    .downcast::<T>()
                    .map(|b| *b)
                    .map_err(|_| TakeError::WrongType(name));
            }
            Value::Encoded(bytes) => {
                return match postcard::take_from_bytes::<T>(&bytes) {
                    Ok((v, [])) => Ok(v),
                    _ => Err(TakeError::Decode(name)),
                };
            }
        }
        Err(TakeError::WrongType(name))
    }

    /// Appends the postcard encoding of the value to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        fn put<S: Serialize>(v: &S, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
            postcard::to_io(v, out).map(|_| ())
        }
        match self {
            Value::Unit => Ok(()),
            Value::Bool(b) => put(b, out),
            Value::Unsigned(v, Width::W8) => put(&(*v as u8), out),
            Value::Unsigned(v, Width::W16) => put(&(*v as u16), out),
            Value::Unsigned(v, Width::W32) => put(&(*v as u32), out),
            Value::Unsigned(v, Width::W64) => put(v, out),
            Value::Unsigned(v, Width::Size) => put(&(*v as usize), out),
            Value::Signed(v, Width::W8) => put(&(*v as i8), out),
            Value::Signed(v, Width::W16) => put(&(*v as i16), out),
            Value::Signed(v, Width::W32) => put(&(*v as i32), out),
            Value::Signed(v, Width::W64) => put(v, out),
            Value::Signed(v, Width::Size) => put(&(*v as isize), out),
            Value::F64(v) => put(v, out),
            Value::Boxed(b) => b.encode(out),
            Value::Encoded(bytes) => {
                out.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// The value as postcard bytes.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, postcard::Error> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unit => f.write_str("()"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Unsigned(v, _) => write!(f, "{v}"),
            Value::Signed(v, _) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Boxed(_) => f.write_str("<value>"),
            Value::Encoded(b) => write!(f, "<{} encoded bytes>", b.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(v: T)
    where
        T: Serialize + DeserializeOwned + Send + Clone + PartialEq + fmt::Debug + 'static,
    {
        assert_eq!(Value::new(v.clone()).take::<T>().unwrap(), v);
        let bytes = Value::new(v.clone()).to_bytes().unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&v).unwrap(), "encoding of {v:?}");
        assert_eq!(Value::Encoded(bytes).take::<T>().unwrap(), v);
    }

    #[test]
    fn scalars_and_boxed_values_round_trip() {
        round_trip(());
        round_trip(true);
        round_trip(200u8);
        round_trip(60_000u16);
        round_trip(u32::MAX);
        round_trip(u64::MAX);
        round_trip(usize::MAX);
        round_trip(-5i8);
        round_trip(i16::MIN);
        round_trip(-70_000i32);
        round_trip(i64::MIN);
        round_trip(-3isize);
        round_trip(1.5f64);
        round_trip(String::from("hello"));
        round_trip(vec![1u32, 2, 3]);
        round_trip((7u8, String::from("x")));
    }

    #[test]
    fn scalars_are_inline() {
        assert!(matches!(Value::new(5u64), Value::Unsigned(5, Width::W64)));
        assert!(matches!(Value::new(-5i32), Value::Signed(-5, Width::W32)));
        assert!(matches!(Value::new(String::new()), Value::Boxed(_)));
    }

    #[test]
    fn wrong_type_is_refused() {
        assert!(matches!(
            Value::new(5u64).take::<u32>(),
            Err(TakeError::WrongType(_))
        ));
        assert!(matches!(
            Value::new(5u64).take::<i64>(),
            Err(TakeError::WrongType(_))
        ));
        assert!(matches!(
            Value::new("s".to_string()).take::<u64>(),
            Err(TakeError::WrongType(_))
        ));
        assert!(matches!(
            Value::Encoded(vec![1, 2]).take::<u8>(),
            Err(TakeError::Decode(_))
        ));
        assert!(matches!(
            Value::Encoded(vec![]).take::<u8>(),
            Err(TakeError::Decode(_))
        ));
    }
}
