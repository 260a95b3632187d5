//! The protocol core's error types.

/// Why bytes could not be turned into a message, or a message into a frame.
///
/// Only [`Oversize`](ProtoError::Oversize) and [`Poisoned`](ProtoError::Poisoned) are fatal
/// for a stream ([`ProtoError::is_fatal`]); after the others the decoder has skipped the bad
/// frame and continues with the next one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// A frame's length prefix is above the limit; nothing was allocated for it.
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes")]
    Oversize {
        /// The announced (or, when encoding, the actual) body length.
        len: u64,
        /// The limit in force.
        limit: u32,
    },
    /// A frame's body does not decode as a message.
    #[error("malformed frame")]
    Malformed(#[source] postcard::Error),
    /// A frame's body holds a message followed by more bytes.
    #[error("{0} trailing bytes after the message in a frame")]
    TrailingBytes(usize),
    /// A decoded field breaks a limit (an empty or overlong channel name, a control
    /// character).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({have} of {need} bytes)")]
    Truncated {
        /// Bytes of the frame (prefix included) that arrived.
        have: usize,
        /// Bytes the frame needed.
        need: usize,
    },
    /// The decoder refused an earlier frame fatally and decodes nothing more.
    #[error("decoder stopped after a fatal error")]
    Poisoned,
    /// A message did not encode (a serializer error).
    #[error("message does not encode")]
    Encode(#[source] postcard::Error),
}

impl ProtoError {
    /// Whether the stream this came from can no longer be decoded (its framing is lost).
    pub fn is_fatal(&self) -> bool {
        matches!(self, ProtoError::Oversize { .. } | ProtoError::Poisoned)
    }
}

/// Why a string is not a [`NodeId`](super::NodeId): the rule of a lower-case DNS label it
/// breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeIdError {
    /// The string is empty.
    #[error("invalid node id: empty")]
    Empty,
    /// The string is longer than [`MAX_NODE_ID_LEN`](super::MAX_NODE_ID_LEN) bytes.
    #[error("invalid node id: {len} bytes, longer than 63")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The string holds a character other than `a`–`z`, `0`–`9` and `-`.
    #[error("invalid node id {id:?}: {ch:?} is not one of a-z, 0-9 and '-'")]
    Character {
        /// The refused string.
        id: String,
        /// The first character out of the set.
        ch: char,
    },
    /// The string starts or ends with `-`.
    #[error("invalid node id {id:?}: starts or ends with '-'")]
    Hyphen {
        /// The refused string.
        id: String,
    },
}
