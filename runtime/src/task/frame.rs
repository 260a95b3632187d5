//! Frames: a task is a stack of type-erased machines, and the registry that restores them.

use std::fmt::Write as _;
use std::panic::Location;

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
    /// [`Machine::suspension_point`].
    fn suspension_point(&self) -> Option<&'static Location<'static>>;
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
    fn suspension_point(&self) -> Option<&'static Location<'static>> {
        Machine::suspension_point(self)
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

/// A task's frames, outermost first. The root frame is held inline and the nested ones in a
/// vector allocated on the first nested call, so an idle task that never called one spends
/// 24 bytes here.
#[derive(Default)]
pub(crate) struct FrameStack {
    root: Option<Box<dyn Frame>>,
    #[expect(
        clippy::box_collection,
        reason = "8 bytes per task instead of 24: rarely used"
    )]
    nested: Option<Box<Vec<Box<dyn Frame>>>>,
}

impl FrameStack {
    /// A stack holding only `root`.
    pub(crate) fn new(root: Box<dyn Frame>) -> Self {
        FrameStack {
            root: Some(root),
            nested: None,
        }
    }

    /// A stack of `frames`, outermost first.
    pub(crate) fn from_vec(frames: Vec<Box<dyn Frame>>) -> Self {
        let mut frames = frames.into_iter();
        let root = frames.next();
        let nested: Vec<_> = frames.collect();
        FrameStack {
            root,
            nested: (!nested.is_empty()).then(|| Box::new(nested)),
        }
    }

    /// The outermost frame.
    pub(crate) fn first(&self) -> Option<&dyn Frame> {
        self.root.as_deref()
    }

    /// The innermost frame: the one to resume.
    #[inline]
    pub(crate) fn last_mut(&mut self) -> Option<&mut Box<dyn Frame>> {
        match self.nested.as_deref_mut().and_then(|n| n.last_mut()) {
            Some(frame) => Some(frame),
            None => self.root.as_mut(),
        }
    }

    /// Pushes a nested frame.
    pub(crate) fn push(&mut self, frame: Box<dyn Frame>) {
        if self.root.is_none() {
            self.root = Some(frame);
        } else {
            self.nested.get_or_insert_with(Box::default).push(frame);
        }
    }

    /// Pops the innermost frame.
    pub(crate) fn pop(&mut self) -> Option<Box<dyn Frame>> {
        self.nested
            .as_deref_mut()
            .and_then(Vec::pop)
            .or_else(|| self.root.take())
    }

    /// Whether no frame is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// The frames, outermost first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &dyn Frame> {
        self.root
            .iter()
            .chain(self.nested.iter().flat_map(|n| n.iter()))
            .map(|f| &**f)
    }
}
