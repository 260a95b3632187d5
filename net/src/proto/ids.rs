//! Identifiers and opaque values carried on the wire: node ids, channel identities, type keys,
//! parties, operations and payloads.
//!
//! Decoding accepts any string (postcard cannot say which field failed); the bounds are
//! checked right after, by [`Message::validate`](super::Message::validate), against
//! [`Limits`](super::Limits).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::ProtoError;
use super::Limits;

/// FNV-1a (64 bit) of `bytes`: the hash the runtime uses for type fingerprints and code
/// fingerprints. Stable across builds, platforms and Rust versions.
///
/// # Examples
///
/// ```
/// assert_eq!(tern_net::proto::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(tern_net::proto::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Checks a wire string: not empty, at most `max` bytes, no control characters.
fn check_str(s: &str, max: usize, field: &'static str) -> Result<(), ProtoError> {
    let reason = if s.is_empty() {
        "empty"
    } else if s.len() > max {
        "too long"
    } else if s.chars().any(char::is_control) {
        "contains a control character"
    } else {
        return Ok(());
    };
    Err(ProtoError::Invalid { field, reason })
}

/// A node's id: the name it was built with (`Node::builder("alpha")`), which its TLS
/// certificate names.
///
/// At most [`Limits::max_node_id`] bytes, not empty, no control characters (checked when a
/// message carrying it is encoded or decoded).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(String);

impl NodeId {
    /// Wraps `id`. Use [`NodeId::check`] to test it against the wire limits.
    pub fn new(id: impl Into<String>) -> NodeId {
        NodeId(id.into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks the id against `limits`.
    ///
    /// # Errors
    /// [`ProtoError::Invalid`] if it is empty, too long or contains a control character.
    pub fn check(&self, limits: &Limits) -> Result<(), ProtoError> {
        check_str(&self.0, limits.max_node_id, "node id")
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> NodeId {
        NodeId(s.to_owned())
    }
}

/// A channel's name: "same name = same channel" on every node of a cluster.
///
/// At most [`Limits::max_channel_name`] bytes, not empty, no control characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelName(String);

impl ChannelName {
    /// Wraps `name`.
    pub fn new(name: impl Into<String>) -> ChannelName {
        ChannelName(name.into())
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks the name against `limits`.
    ///
    /// # Errors
    /// [`ProtoError::Invalid`] if it is empty, too long or contains a control character.
    pub fn check(&self, limits: &Limits) -> Result<(), ProtoError> {
        check_str(&self.0, limits.max_channel_name, "channel name")
    }
}

impl fmt::Debug for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl From<&str> for ChannelName {
    fn from(s: &str) -> ChannelName {
        ChannelName(s.to_owned())
    }
}

/// The fingerprint of a channel's element type: FNV-1a of its [`std::any::type_name`], the
/// same key the runtime uses to detect `ChannelError::Mismatch` locally.
///
/// `type_name` is not guaranteed stable across compiler versions, so two nodes built by
/// different compilers may disagree on a type key; they then get a clear `Mismatch`, never a
/// misdecode.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TypeKey(pub u64);

impl TypeKey {
    /// The type key of `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tern_net::proto::{fnv1a, TypeKey};
    /// assert_eq!(TypeKey::of::<u64>(), TypeKey(fnv1a(b"u64")));
    /// assert_ne!(TypeKey::of::<u64>(), TypeKey::of::<i64>());
    /// ```
    pub fn of<T: ?Sized>() -> TypeKey {
        TypeKey(fnv1a(std::any::type_name::<T>().as_bytes()))
    }
}

impl fmt::Debug for TypeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypeKey({:016x})", self.0)
    }
}

/// What makes two channels the same: name, element type and capacity. Carried by every
/// channel message, so the home checks each one against the channel it names.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChannelId {
    /// The name.
    pub name: ChannelName,
    /// The element type's key.
    pub ty: TypeKey,
    /// The capacity: 0 for a rendezvous channel.
    pub cap: u64,
}

impl ChannelId {
    /// A channel identity.
    pub fn new(name: impl Into<String>, ty: TypeKey, cap: u64) -> ChannelId {
        ChannelId {
            name: ChannelName::new(name),
            ty,
            cap,
        }
    }

    /// The identity of the channel `name` carrying `T` with capacity `cap`.
    pub fn of<T: ?Sized>(name: impl Into<String>, cap: u64) -> ChannelId {
        ChannelId::new(name, TypeKey::of::<T>(), cap)
    }

    /// Whether `other` names the same channel with the same type and capacity.
    pub fn matches(&self, other: &ChannelId) -> bool {
        self == other
    }
}

impl fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}(type {:016x}, capacity {})",
            self.name.0, self.ty.0, self.cap
        )
    }
}

/// A random number a node draws each time it starts: tells a peer that reconnected after a
/// network blip (same incarnation) from one that restarted and lost its state (a new one).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Incarnation(pub u64);

impl fmt::Debug for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Incarnation({:016x})", self.0)
    }
}

/// A party to channel operations: a task (named by its task id, which survives migration) or
/// a future awaited outside tasks (named by its node and a counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartyId {
    /// A hash of the id of the node that created the party.
    pub origin: u64,
    /// A number unique on that node.
    pub seq: u64,
}

/// One channel operation of a party: the key of FIFO order and of deduplication.
///
/// Ordered by `(epoch, seq)` within a party; a party has at most one operation in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OpId {
    /// Who.
    pub party: PartyId,
    /// The party's epoch when it started the operation (a task's grows with every move).
    pub epoch: u64,
    /// The operation's number within the party's epoch.
    pub seq: u64,
}

impl OpId {
    /// `(epoch, seq)`: later operations of a party compare greater.
    pub fn order(&self) -> (u64, u64) {
        (self.epoch, self.seq)
    }
}

/// A channel value as bytes: postcard of the element type, opaque to the wire.
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Payload(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Payload {
        Payload(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn type_keys_are_the_runtimes() {
        // The runtime's `type_fingerprint::<T>()` is FNV-1a of `type_name::<T>()`.
        assert_eq!(TypeKey::of::<u64>().0, fnv1a(b"u64"));
        assert_eq!(
            TypeKey::of::<String>().0,
            fnv1a(std::any::type_name::<String>().as_bytes())
        );
        assert_ne!(TypeKey::of::<u32>(), TypeKey::of::<u64>());
        assert_ne!(ChannelId::of::<u32>("a", 0), ChannelId::of::<u64>("a", 0));
        assert_ne!(ChannelId::of::<u32>("a", 0), ChannelId::of::<u32>("a", 1));
        assert!(ChannelId::of::<u32>("a", 2).matches(&ChannelId::of::<u32>("a", 2)));
    }

    #[test]
    fn wire_strings_are_checked() {
        let l = Limits::default();
        assert!(NodeId::from("alpha").check(&l).is_ok());
        assert!(NodeId::from("").check(&l).is_err());
        assert!(NodeId::from("a\nb").check(&l).is_err());
        assert!(NodeId::new("x".repeat(l.max_node_id)).check(&l).is_ok());
        assert!(NodeId::new("x".repeat(l.max_node_id + 1))
            .check(&l)
            .is_err());
        assert!(ChannelName::from("jobs").check(&l).is_ok());
        assert!(ChannelName::new("é".repeat(l.max_channel_name / 2))
            .check(&l)
            .is_ok());
        assert!(ChannelName::new("x".repeat(l.max_channel_name + 1))
            .check(&l)
            .is_err());
        assert!(ChannelName::from("\u{7f}").check(&l).is_err());
    }

    #[test]
    fn debug_does_not_dump_payloads() {
        assert_eq!(
            format!("{:?}", Payload(vec![0; 1000])),
            "Payload(1000 bytes)"
        );
    }
}
