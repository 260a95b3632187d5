//! The channels a snapshot's frames hold, so a pending request can name one by its index.
//!
//! While [`encode`](super::encode) serializes the frames' states, an [`EncodeScope`] is
//! installed on the thread: every [`Channel`](crate::Channel) handle that serializes notes its
//! core here ([`note_encoded`]), one entry per handle in serialization order. A pending receive
//! or send on one of those cores is then written as the index of the first handle on it.
//! While [`decode`](super::decode) deserializes the same states, a [`DecodeScope`] collects
//! the core each deserialized handle bound to ([`note_decoded`]), again one entry per handle,
//! so index `i` names the core the `i`-th handle bound to on the restoring node.
//!
//! # Invariants
//!
//! - Entries are per handle, not per core: the decoding node may bind two handles that were on
//!   different cores (two nodes' channels of one name) to one core, and the indices still line
//!   up. This needs only that a state deserializes the handles it serialized, in the same
//!   order, which every derived and every symmetric hand-written serde impl does.
//! - The scopes nest: entering one sets the previous context aside and dropping it puts that
//!   back, so a snapshot encoded or decoded from inside another's serde (a re-entrant use) has
//!   its own list and leaves the outer one intact. The scopes are `!Send`: they live and die on
//!   the thread whose context they hold.
//! - Outside a scope, noting does nothing: a handle serializes and deserializes as it always
//!   does.
//! - On the encoding side only addresses are kept, and only compared: every core the frames
//!   refer to stays alive while they are encoded, so an address cannot be reused for another
//!   core the request could be on.

use std::cell::RefCell;
use std::marker::PhantomData;

use crate::channel::ChanCore;
use crate::sync::Arc;

thread_local! {
    static ENCODING: RefCell<Option<Vec<*const ChanCore>>> = const { RefCell::new(None) };
    static DECODING: RefCell<Option<Vec<Arc<ChanCore>>>> = const { RefCell::new(None) };
}

/// Notes that a handle on `core` is being serialized (a no-op outside an [`EncodeScope`]).
pub(crate) fn note_encoded(core: &Arc<ChanCore>) {
    let ptr: *const ChanCore = &**core;
    ENCODING.with(|c| {
        if let Some(list) = c.borrow_mut().as_mut() {
            list.push(ptr);
        }
    });
}

/// Notes that a deserialized handle bound to `core` (a no-op outside a [`DecodeScope`]).
pub(crate) fn note_decoded(core: &Arc<ChanCore>) {
    DECODING.with(|c| {
        if let Some(list) = c.borrow_mut().as_mut() {
            list.push(Arc::clone(core));
        }
    });
}

/// The encoding context of this thread while it lives (see the module docs).
pub(super) struct EncodeScope {
    outer: Option<Vec<*const ChanCore>>,
    _not_send: PhantomData<*const ()>,
}

impl EncodeScope {
    /// Installs an empty encoding context, setting aside the one in place.
    pub(super) fn enter() -> EncodeScope {
        EncodeScope {
            outer: ENCODING.with(|c| c.replace(Some(Vec::new()))),
            _not_send: PhantomData,
        }
    }

    /// Removes the context, putting the outer one back; returns the handles noted, in order.
    pub(super) fn finish(self) -> HeldChannels {
        // Dropping `self` then puts the outer context back.
        HeldChannels(ENCODING.with(|c| c.borrow_mut().take()).unwrap_or_default())
    }
}

impl Drop for EncodeScope {
    fn drop(&mut self) {
        // Also on an early return or a panic inside a `Serialize` impl.
        let outer = self.outer.take();
        ENCODING.with(|c| c.replace(outer));
    }
}

/// The cores of the channel handles a snapshot's frames serialized, one per handle, in order.
pub(super) struct HeldChannels(Vec<*const ChanCore>);

impl HeldChannels {
    /// The index of the first handle on `core`, if the frames hold one.
    pub(super) fn index_of(&self, core: &Arc<ChanCore>) -> Option<u32> {
        let ptr: *const ChanCore = &**core;
        let at = self.0.iter().position(|&p| std::ptr::eq(p, ptr))?;
        u32::try_from(at).ok()
    }

    /// How many handles the frames serialized.
    #[cfg(all(test, not(tern_loom)))]
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

/// The decoding context of this thread while it lives (see the module docs).
pub(super) struct DecodeScope {
    outer: Option<Vec<Arc<ChanCore>>>,
    _not_send: PhantomData<*const ()>,
}

impl DecodeScope {
    /// Installs an empty decoding context, setting aside the one in place.
    pub(super) fn enter() -> DecodeScope {
        DecodeScope {
            outer: DECODING.with(|c| c.replace(Some(Vec::new()))),
            _not_send: PhantomData,
        }
    }

    /// Removes the context, putting the outer one back; returns the cores the deserialized
    /// handles bound to, one per handle, in order.
    pub(super) fn finish(self) -> Vec<Arc<ChanCore>> {
        // Dropping `self` then puts the outer context back.
        DECODING.with(|c| c.borrow_mut().take()).unwrap_or_default()
    }
}

impl Drop for DecodeScope {
    fn drop(&mut self) {
        let outer = self.outer.take();
        DECODING.with(|c| c.replace(outer));
    }
}

#[cfg(all(test, not(tern_loom)))]
mod tests {
    use super::*;
    use crate::channel::ChannelId;

    fn core(name: &str) -> Arc<ChanCore> {
        ChanCore::new(
            ChannelId {
                name: name.into(),
                ty: 1,
                cap: 0,
            },
            None,
        )
    }

    #[test]
    fn outside_a_scope_nothing_is_noted() {
        let a = core("a");
        note_encoded(&a);
        note_decoded(&a);
        assert_eq!(EncodeScope::enter().finish().len(), 0);
        assert!(DecodeScope::enter().finish().is_empty());
        assert_eq!(Arc::strong_count(&a), 1, "no core kept alive by a note");
    }

    #[test]
    fn entries_are_per_handle_and_index_the_first_one() {
        let (a, b, c) = (core("a"), core("b"), core("c"));
        let scope = EncodeScope::enter();
        for h in [&a, &b, &a, &b] {
            note_encoded(h);
        }
        let held = scope.finish();
        assert_eq!(held.len(), 4);
        assert_eq!(held.index_of(&a), Some(0));
        assert_eq!(held.index_of(&b), Some(1));
        assert_eq!(held.index_of(&c), None);
    }

    #[test]
    fn encode_scopes_nest_and_restore_the_outer_context() {
        let (a, b, c) = (core("a"), core("b"), core("c"));
        let outer = EncodeScope::enter();
        note_encoded(&a);
        let inner = EncodeScope::enter();
        note_encoded(&b);
        let inner_held = inner.finish();
        assert_eq!(inner_held.len(), 1);
        assert_eq!(inner_held.index_of(&b), Some(0));
        // Dropped without `finish` (an error inside a `Serialize` impl): also restores.
        drop(EncodeScope::enter());
        note_encoded(&c);
        let held = outer.finish();
        assert_eq!(held.len(), 2);
        assert_eq!((held.index_of(&a), held.index_of(&c)), (Some(0), Some(1)));
        assert_eq!(held.index_of(&b), None);
        note_encoded(&a);
        assert_eq!(
            EncodeScope::enter().finish().len(),
            0,
            "no context left behind"
        );
    }

    #[test]
    fn decode_scopes_nest_and_restore_the_outer_context() {
        let (a, b) = (core("a"), core("b"));
        let outer = DecodeScope::enter();
        note_decoded(&a);
        let inner = DecodeScope::enter();
        note_decoded(&b);
        let inner_held = inner.finish();
        drop(DecodeScope::enter());
        note_decoded(&a);
        let held = outer.finish();
        assert!(inner_held.len() == 1 && Arc::ptr_eq(&inner_held[0], &b));
        assert_eq!(held.len(), 2);
        assert!(held.iter().all(|h| Arc::ptr_eq(h, &a)));
        drop((held, inner_held));
        assert_eq!(Arc::strong_count(&a), 1);
    }
}
