//! Identifiers and opaque values carried on the wire: node ids, channel identities, type keys,
//! parties, operations and payloads.
//!
//! A [`NodeId`] is checked whenever one is made, decoding included, so every `NodeId` in
//! the process is a valid one. Channel names decode as any string (postcard cannot say which
//! field failed); their bounds are checked right after, by
//! [`Message::validate`](super::Message::validate), against [`Limits`](super::Limits).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::error::{NodeIdError, ProtoError};
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

/// The longest node id, in bytes: one DNS label.
pub const MAX_NODE_ID_LEN: usize = 63;

/// A node's id: the name its TLS certificate gives it (as the DNS name `<id>.node.tern`, see
/// [`crate::tls`]), and the name it goes by on the wire.
///
/// Always one lower-case DNS label: 1 to [`MAX_NODE_ID_LEN`] characters from `a`–`z`, `0`–`9`
/// and `-`, not starting or ending with `-`. Lower case only, so that the id ↔ certificate name
/// mapping is one to one (DNS compares names without regard to case). Every constructor
/// checks this, decoding included: a frame carrying anything else does not decode. Cheap to
/// clone.
///
/// # Examples
///
/// ```
/// use tern_net::proto::{NodeId, NodeIdError};
///
/// let id: NodeId = "alpha".parse()?;
/// assert_eq!(id.as_str(), "alpha");
/// assert!(matches!(NodeId::new("Alpha"), Err(NodeIdError::Character { ch: 'A', .. })));
/// assert_eq!(NodeId::new(""), Err(NodeIdError::Empty));
/// # Ok::<(), NodeIdError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// Checks `id` and makes it a node id.
    ///
    /// # Errors
    /// [`NodeIdError`] naming the rule `id` breaks when it is not a lower-case DNS label.
    pub fn new(id: &str) -> Result<NodeId, NodeIdError> {
        check_label(id)?;
        Ok(NodeId(id.into()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks that `id` is one lower-case DNS label.
fn check_label(id: &str) -> Result<(), NodeIdError> {
    if id.is_empty() {
        return Err(NodeIdError::Empty);
    }
    if id.len() > MAX_NODE_ID_LEN {
        return Err(NodeIdError::TooLong { len: id.len() });
    }
    if let Some(ch) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(NodeIdError::Character {
            id: id.to_owned(),
            ch,
        });
    }
    if id.starts_with('-') || id.ends_with('-') {
        return Err(NodeIdError::Hyphen { id: id.to_owned() });
    }
    Ok(())
}

impl FromStr for NodeId {
    type Err = NodeIdError;

    fn from_str(s: &str) -> Result<NodeId, NodeIdError> {
        NodeId::new(s)
    }
}

impl TryFrom<&str> for NodeId {
    type Error = NodeIdError;

    fn try_from(s: &str) -> Result<NodeId, NodeIdError> {
        NodeId::new(s)
    }
}

impl AsRef<str> for NodeId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for NodeId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for NodeId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NodeId {
    /// Reads a string and checks it: a frame carrying a string that is not a node id does not
    /// decode.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<NodeId, D::Error> {
        let id = String::deserialize(deserializer)?;
        NodeId::new(&id).map_err(de::Error::custom)
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
    fn node_ids_are_dns_labels() {
        for good in [
            "a",
            "alpha",
            "node-1",
            "0",
            "n-0-x",
            &"x".repeat(MAX_NODE_ID_LEN),
        ] {
            assert_eq!(NodeId::new(good).expect(good).as_str(), good);
        }
        assert_eq!(NodeId::new(""), Err(NodeIdError::Empty));
        assert_eq!(
            NodeId::new(&"x".repeat(MAX_NODE_ID_LEN + 1)),
            Err(NodeIdError::TooLong { len: 64 })
        );
        for (bad, ch) in [
            ("Alpha", 'A'),
            ("a.b", '.'),
            ("a b", ' '),
            ("é", 'é'),
            ("a\nb", '\n'),
        ] {
            assert_eq!(
                NodeId::new(bad),
                Err(NodeIdError::Character {
                    id: bad.to_owned(),
                    ch
                })
            );
        }
        for bad in ["-a", "a-", "-"] {
            assert_eq!(
                NodeId::new(bad),
                Err(NodeIdError::Hyphen { id: bad.to_owned() })
            );
        }
    }

    #[test]
    fn node_ids_are_checked_when_decoded() {
        let id = NodeId::new("alpha").unwrap();
        let bytes = postcard::to_allocvec(&id).unwrap();
        assert_eq!(postcard::from_bytes::<NodeId>(&bytes).unwrap(), id);
        for bad in ["Alpha", "", "a_b"] {
            let bytes = postcard::to_allocvec(bad).unwrap();
            assert!(postcard::from_bytes::<NodeId>(&bytes).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn wire_strings_are_checked() {
        let l = Limits::default();
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
