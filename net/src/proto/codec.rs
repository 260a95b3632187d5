//! The frame codec: `length (u32 LE) | postcard(Message)`, with limits checked before
//! allocation and an incremental decoder for streams that deliver frames in pieces.

use super::error::ProtoError;
use super::message::Message;

/// Bytes of the length prefix in front of every frame body.
pub const FRAME_HEADER_LEN: usize = 4;

/// Caps on what one frame may hold. Every buffer the decoder fills from the network is
/// bounded by them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame body accepted (and sent), in bytes. Default: 16 MiB, the runtime's
    /// default snapshot limit.
    pub max_frame: u32,
    /// The longest channel name, in bytes. Default: 1024.
    pub max_channel_name: usize,
}

impl Limits {
    /// The smallest `max_frame` a peer may announce: room for every control message with the
    /// largest ids and names.
    pub const MIN_MAX_FRAME: u32 = 4096;

    /// The default `max_frame`: 16 MiB.
    pub const DEFAULT_MAX_FRAME: u32 = 16 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: Self::DEFAULT_MAX_FRAME,
            max_channel_name: 1024,
        }
    }
}

/// Appends `msg` as one frame to `out`.
///
/// `limits` should be the peer's (its `max_frame` from the handshake): a node never sends a
/// frame its peer would refuse.
///
/// # Errors
/// [`ProtoError::Invalid`] if a field is out of bounds, [`ProtoError::Oversize`] if the body
/// is longer than `limits.max_frame`, [`ProtoError::Encode`] if serialization fails. On error
/// `out` is left as it was.
///
/// # Examples
///
/// ```
/// use tern_net::proto::{encode, Decoder, Limits, Message};
/// let mut wire = Vec::new();
/// encode(&Message::Ping(7), &Limits::default(), &mut wire)?;
/// let mut decoder = Decoder::new(Limits::default());
/// let mut input = &wire[..];
/// assert_eq!(decoder.decode(&mut input)?, Some(Message::Ping(7)));
/// assert!(input.is_empty());
/// # Ok::<(), tern_net::proto::ProtoError>(())
/// ```
pub fn encode(msg: &Message, limits: &Limits, out: &mut Vec<u8>) -> Result<(), ProtoError> {
    msg.validate(limits)?;
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    if let Err(e) = postcard::to_io(msg, &mut *out) {
        out.truncate(start);
        return Err(ProtoError::Encode(e));
    }
    let len = out.len() - start - FRAME_HEADER_LEN;
    match u32::try_from(len) {
        Ok(l) if l <= limits.max_frame => {
            out[start..start + FRAME_HEADER_LEN].copy_from_slice(&l.to_le_bytes());
            Ok(())
        }
        _ => {
            out.truncate(start);
            Err(ProtoError::Oversize {
                len: len as u64,
                limit: limits.max_frame,
            })
        }
    }
}

/// Decodes one frame body: exactly one valid message, nothing after it.
fn decode_body(body: &[u8], limits: &Limits) -> Result<Message, ProtoError> {
    let (msg, rest) = postcard::take_from_bytes::<Message>(body).map_err(ProtoError::Malformed)?;
    if !rest.is_empty() {
        return Err(ProtoError::TrailingBytes(rest.len()));
    }
    msg.validate(limits)?;
    Ok(msg)
}

/// A buffer of this capacity or less is kept between frames; a larger one is freed.
const KEEP_CAPACITY: usize = 64 << 10;

#[derive(Debug)]
enum State {
    /// Reading the length prefix; `have` bytes of it are in `header`.
    Header {
        header: [u8; FRAME_HEADER_LEN],
        have: usize,
    },
    /// Reading a body of `len` bytes into `body`.
    Body { len: usize },
    /// A fatal error happened.
    Poisoned,
}

/// An incremental frame decoder for one stream: feed it bytes in chunks of any size, get
/// messages out.
///
/// Memory: at most one frame body (≤ `max_frame`) is buffered, and only as its bytes arrive.
/// A whole frame inside the input is decoded in place, without copying.
///
/// # Examples
///
/// ```
/// use tern_net::proto::{encode, Decoder, Limits, Message};
/// let limits = Limits::default();
/// let mut wire = Vec::new();
/// encode(&Message::Ping(1), &limits, &mut wire)?;
/// encode(&Message::Pong(1), &limits, &mut wire)?;
///
/// let mut decoder = Decoder::new(limits);
/// let mut got = Vec::new();
/// for chunk in wire.chunks(3) {
///     let mut input = chunk;
///     while let Some(msg) = decoder.decode(&mut input)? {
///         got.push(msg);
///     }
/// }
/// assert_eq!(got, [Message::Ping(1), Message::Pong(1)]);
/// decoder.finish()?; // the stream ended on a frame boundary
/// # Ok::<(), tern_net::proto::ProtoError>(())
/// ```
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    state: State,
    body: Vec<u8>,
}

impl Decoder {
    /// A decoder enforcing `limits` (ours: what we accept).
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            state: State::Header {
                header: [0; FRAME_HEADER_LEN],
                have: 0,
            },
            body: Vec::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Consumes bytes from the front of `input` until one frame is complete, and returns its
    /// message; returns `Ok(None)` once `input` is empty with no frame complete (the partial
    /// frame is kept for the next call). Call it again while it returns `Some`.
    ///
    /// # Errors
    /// A [`ProtoError`] for a bad frame. If it [`is_fatal`](ProtoError::is_fatal), every
    /// later call fails with [`ProtoError::Poisoned`]; otherwise the bad frame has been
    /// consumed and decoding continues with the next one.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Message>, ProtoError> {
        loop {
            match &mut self.state {
                State::Poisoned => return Err(ProtoError::Poisoned),
                State::Header { header, have } => {
                    let n = (FRAME_HEADER_LEN - *have).min(input.len());
                    header[*have..*have + n].copy_from_slice(&input[..n]);
                    *have += n;
                    *input = &input[n..];
                    if *have < FRAME_HEADER_LEN {
                        return Ok(None);
                    }
                    let len = u32::from_le_bytes(*header);
                    if len > self.limits.max_frame {
                        self.state = State::Poisoned;
                        self.body = Vec::new();
                        return Err(ProtoError::Oversize {
                            len: u64::from(len),
                            limit: self.limits.max_frame,
                        });
                    }
                    // `len <= max_frame: u32`, which fits a usize on every supported target.
                    let len = len as usize;
                    if input.len() >= len {
                        // The whole body is here: decode it in place.
                        let (body, rest) = input.split_at(len);
                        *input = rest;
                        self.state = Self::header_state();
                        return decode_body(body, &self.limits).map(Some);
                    }
                    self.state = State::Body { len };
                }
                State::Body { len } => {
                    let len = *len;
                    let n = (len - self.body.len()).min(input.len());
                    self.body.extend_from_slice(&input[..n]);
                    *input = &input[n..];
                    if self.body.len() < len {
                        return Ok(None);
                    }
                    self.state = Self::header_state();
                    let result = decode_body(&self.body, &self.limits);
                    self.body.clear();
                    if self.body.capacity() > KEEP_CAPACITY {
                        self.body = Vec::new();
                    }
                    return result.map(Some);
                }
            }
        }
    }

    /// Checks that the stream ended on a frame boundary.
    ///
    /// # Errors
    /// [`ProtoError::Truncated`] if a frame was cut off, [`ProtoError::Poisoned`] after a fatal
    /// error.
    pub fn finish(&self) -> Result<(), ProtoError> {
        match &self.state {
            State::Header { have: 0, .. } => Ok(()),
            State::Header { have, .. } => Err(ProtoError::Truncated {
                have: *have,
                need: FRAME_HEADER_LEN,
            }),
            State::Body { len } => Err(ProtoError::Truncated {
                have: FRAME_HEADER_LEN + self.body.len(),
                need: FRAME_HEADER_LEN + len,
            }),
            State::Poisoned => Err(ProtoError::Poisoned),
        }
    }

    /// Bytes of a partial frame held, length prefix included.
    pub fn buffered(&self) -> usize {
        match &self.state {
            State::Header { have, .. } => *have,
            State::Body { .. } => FRAME_HEADER_LEN + self.body.len(),
            State::Poisoned => 0,
        }
    }

    fn header_state() -> State {
        State::Header {
            header: [0; FRAME_HEADER_LEN],
            have: 0,
        }
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
