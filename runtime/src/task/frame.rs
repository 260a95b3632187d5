//! Frames: a task is a stack of type-erased machines, and the registry that restores them.

use std::fmt::Write as _;

use super::{Cx, Machine, Request, Step};
use crate::value::Value;

/// One frame of a task's stack: a [`Machine`] with its type erased.
pub(crate) trait Frame: Send {
    /// Runs the frame to its next suspension point.
    fn resume(&mut self, cx: &mut Cx<'_>) -> FrameStep;
    /// The machine's [`Machine::TYPE_KEY`].
    fn type_key(&self) -> &'static str;
    /// The machine's [`Machine::FINGERPRINT`].
    fn fingerprint(&self) -> u64;
    /// Appends the postcard encoding of the machine's state.
    fn encode_state(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error>;
    /// The machine's state as `Debug` text, for [`TaskReport`](super::TaskReport)s.
    fn debug_state(&self) -> String;
}

/// What resuming a frame ended with.
pub(crate) enum FrameStep {
    Done(Value),
    Suspend(Request),
}

impl<M: Machine> Frame for M {
    #[inline]
    fn resume(&mut self, cx: &mut Cx<'_>) -> FrameStep {
        match Machine::resume(self, cx) {
            Step::Done(out) => FrameStep::Done(Value::new(out)),
            Step::Suspend(req) => FrameStep::Suspend(req),
        }
    }
    fn type_key(&self) -> &'static str {
        M::TYPE_KEY
    }
    fn fingerprint(&self) -> u64 {
        M::FINGERPRINT
    }
    fn encode_state(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        postcard::to_io(self, out).map(|_| ())
    }
    fn debug_state(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        write!(s, "{self:#?}").ok();
        s
    }
}

/// Rebuilds a frame from its state's bytes.
pub(crate) type DecodeFrame = fn(&[u8]) -> Result<Box<dyn Frame>, postcard::Error>;

/// A registry entry: how to rebuild a frame of one machine type from snapshot bytes.
///
/// Entries are collected at link time with [`register_machine!`](crate::register_machine)
/// (which `#[migratable]` emits for every generated machine).
#[derive(Debug)]
pub struct MachineType {
    pub(crate) key: &'static str,
    pub(crate) fingerprint: u64,
    pub(crate) decode: DecodeFrame,
    output_type: fn() -> u64,
}

impl MachineType {
    /// The registry entry for `M`.
    pub const fn of<M: Machine>() -> MachineType {
        MachineType {
            key: M::TYPE_KEY,
            fingerprint: M::FINGERPRINT,
            decode: __decode_frame::<M>,
            output_type: crate::snapshot::output_fingerprint::<M::Output>,
        }
    }

    /// The fingerprint of the machine's output type.
    pub(crate) fn output_type(&self) -> u64 {
        (self.output_type)()
    }

    /// Looks up a machine type by key.
    pub(crate) fn find(key: &str) -> Option<&'static MachineType> {
        inventory::iter::<MachineType>
            .into_iter()
            .find(|t| t.key == key)
    }
}

inventory::collect!(MachineType);

/// Decodes one frame of type `M`; the whole input must be consumed.
#[doc(hidden)]
#[allow(private_interfaces)]
pub fn __decode_frame<M: Machine>(bytes: &[u8]) -> Result<Box<dyn Frame>, postcard::Error> {
    match postcard::take_from_bytes::<M>(bytes)? {
        (m, []) => Ok(Box::new(m)),
        _ => Err(postcard::Error::DeserializeBadEncoding),
    }
}
