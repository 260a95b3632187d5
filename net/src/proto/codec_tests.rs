//! Unit tests of the frame codec: limits, trailing bytes, recovery, nesting.

use super::*;
use crate::proto::{ChannelId, Hello, Incarnation, NodeId, OpId, PartyId, Payload, ToHome};

fn frame(msg: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    encode(msg, &Limits::default(), &mut out).unwrap();
    out
}

/// A frame whose body is `body`, verbatim.
fn raw_frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn decode_all(d: &mut Decoder, mut input: &[u8]) -> Vec<Result<Message, ProtoError>> {
    let mut out = Vec::new();
    loop {
        match d.decode(&mut input) {
            Ok(Some(m)) => out.push(Ok(m)),
            Ok(None) => return out,
            Err(e) => {
                let fatal = e.is_fatal();
                out.push(Err(e));
                if fatal {
                    return out;
                }
            }
        }
    }
}

fn send_msg(value: Vec<u8>) -> Message {
    Message::ToHome(ToHome::Send {
        chan: ChannelId::of::<u64>("numbers", 0),
        op: OpId {
            party: PartyId { origin: 1, seq: 2 },
            epoch: 0,
            seq: 1,
        },
        value: Payload(value),
    })
}

#[test]
fn a_frame_is_a_le_length_and_a_postcard_body() {
    let f = frame(&Message::Ping(5));
    // Variant index 3 (Ping), then the varint 5.
    assert_eq!(f, [2, 0, 0, 0, 3, 5]);
}

#[test]
fn length_prefix_of_cap_plus_one_is_refused_before_the_body() {
    let limits = Limits {
        max_frame: 1000,
        ..Limits::default()
    };
    let mut d = Decoder::new(limits);
    // Only the prefix: the refusal does not wait for (or store) a body.
    let mut input = &1001u32.to_le_bytes()[..];
    assert_eq!(
        d.decode(&mut input),
        Err(ProtoError::Oversize {
            len: 1001,
            limit: 1000
        })
    );
    assert_eq!(d.buffered(), 0);
    // Fatal: the stream's framing is gone.
    assert_eq!(
        d.decode(&mut &frame(&Message::Ping(1))[..]),
        Err(ProtoError::Poisoned)
    );
    assert_eq!(d.finish(), Err(ProtoError::Poisoned));
    // Exactly the cap is fine.
    let mut d = Decoder::new(limits);
    let mut input = &1000u32.to_le_bytes()[..];
    assert_eq!(d.decode(&mut input), Ok(None));
}

#[test]
fn length_prefix_of_u32_max_is_refused() {
    let mut d = Decoder::new(Limits::default());
    let mut bytes = u32::MAX.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0; 64]);
    let r = decode_all(&mut d, &bytes);
    assert_eq!(
        r,
        [Err(ProtoError::Oversize {
            len: u64::from(u32::MAX),
            limit: Limits::default().max_frame
        })]
    );
    // Also when the prefix arrives one byte at a time.
    let mut d = Decoder::new(Limits::default());
    for (i, b) in u32::MAX.to_le_bytes().iter().enumerate() {
        let r = d.decode(&mut &[*b][..]);
        assert_eq!(r.is_err(), i == 3, "byte {i}: {r:?}");
    }
}

#[test]
fn a_large_announced_frame_buffers_only_what_arrived() {
    let mut d = Decoder::new(Limits::default());
    let mut bytes = Limits::default().max_frame.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[7; 10]);
    assert_eq!(d.decode(&mut &bytes[..]), Ok(None));
    assert_eq!(d.buffered(), 14);
    assert!(
        matches!(d.finish(), Err(ProtoError::Truncated { have: 14, need }) if need == 4 + (16 << 20))
    );
}

#[test]
fn trailing_bytes_are_refused_and_the_next_frame_still_decodes() {
    let mut body = frame(&Message::Ping(9))[4..].to_vec();
    body.extend_from_slice(&[0, 0, 0]);
    let mut bytes = raw_frame(&body);
    bytes.extend(frame(&Message::Pong(9)));
    let mut d = Decoder::new(Limits::default());
    assert_eq!(
        decode_all(&mut d, &bytes),
        [Err(ProtoError::TrailingBytes(3)), Ok(Message::Pong(9))]
    );
    d.finish().unwrap();
}

#[test]
fn malformed_and_empty_bodies_are_skipped() {
    let mut bytes = raw_frame(&[]);
    bytes.extend(raw_frame(&[200, 200, 200, 200, 200, 200])); // no such variant
    bytes.extend(raw_frame(&[0, 1, 0])); // a Hello cut short
    bytes.extend(frame(&Message::Ping(1)));
    let mut d = Decoder::new(Limits::default());
    let r = decode_all(&mut d, &bytes);
    assert_eq!(r.len(), 4);
    assert!(r[..3]
        .iter()
        .all(|x| matches!(x, Err(ProtoError::Malformed(_)))));
    assert_eq!(r[3], Ok(Message::Ping(1)));
}

#[test]
fn a_body_of_another_message_type_does_not_pass_as_a_prefix() {
    // A Send frame with its value cut off decodes as nothing, not as a shorter message.
    let f = frame(&send_msg(vec![1, 2, 3, 4]));
    let body = &f[4..f.len() - 2];
    let mut d = Decoder::new(Limits::default());
    assert!(matches!(
        decode_all(&mut d, &raw_frame(body))[..],
        [Err(ProtoError::Malformed(_))]
    ));
}

#[test]
fn invalid_fields_are_refused_on_decode_and_encode() {
    let long = Message::ToHome(ToHome::Close {
        chan: ChannelId::of::<u8>("c".repeat(2000), 0),
    });
    let mut out = vec![9];
    assert_eq!(
        encode(&long, &Limits::default(), &mut out),
        Err(ProtoError::Invalid {
            field: "channel name",
            reason: "too long"
        })
    );
    assert_eq!(out, [9], "a failed encode leaves the buffer as it was");
    // A peer with laxer limits sent it anyway.
    let lax = Limits {
        max_channel_name: 4000,
        ..Limits::default()
    };
    encode(&long, &lax, &mut out).unwrap();
    let mut d = Decoder::new(Limits::default());
    assert_eq!(
        decode_all(&mut d, &out[1..]),
        [Err(ProtoError::Invalid {
            field: "channel name",
            reason: "too long"
        })]
    );
    let ctl = Message::ToHome(ToHome::Close {
        chan: ChannelId::of::<u8>("a\u{0}b", 0),
    });
    assert!(matches!(
        encode(&ctl, &Limits::default(), &mut Vec::new()),
        Err(ProtoError::Invalid {
            field: "channel name",
            ..
        })
    ));
}

#[test]
fn a_frame_carrying_an_invalid_node_id_does_not_decode() {
    let hello = Message::Hello(Hello {
        version: crate::proto::WIRE_VERSION,
        node: NodeId::new("alpha").unwrap(),
        incarnation: Incarnation(1),
        max_frame: 1 << 20,
    });
    let mut wire = Vec::new();
    encode(&hello, &Limits::default(), &mut wire).unwrap();
    let at = wire.windows(5).position(|w| w == b"alpha").unwrap();
    let mut d = Decoder::new(Limits::default());
    for bad in [b"Alpha", b"al.ha", b"alph-"] {
        let mut frame = wire.clone();
        frame[at..at + 5].copy_from_slice(bad);
        assert!(matches!(
            decode_all(&mut d, &frame)[..],
            [Err(ProtoError::Malformed(_))]
        ));
    }
    // The decoder skipped the bad frames and decodes the next good one.
    assert_eq!(decode_all(&mut d, &wire), [Ok(hello)]);
}

#[test]
fn encode_refuses_a_frame_over_the_peers_cap() {
    let peer = Limits {
        max_frame: 4096,
        ..Limits::default()
    };
    let mut out = Vec::new();
    let r = encode(&send_msg(vec![0; 5000]), &peer, &mut out);
    assert!(matches!(r, Err(ProtoError::Oversize { limit: 4096, len }) if len > 5000));
    assert!(out.is_empty());
    encode(&send_msg(vec![0; 4000]), &peer, &mut out).unwrap();
}

#[test]
fn byte_at_a_time_equals_all_at_once() {
    let msgs = [
        Message::Ping(1),
        send_msg(vec![5; 300]),
        Message::Pong(u64::MAX),
    ];
    let bytes: Vec<u8> = msgs.iter().flat_map(frame).collect();
    let largest = msgs.iter().map(|m| frame(m).len()).max().unwrap();
    let mut d = Decoder::new(Limits::default());
    let mut got = Vec::new();
    for b in &bytes {
        got.extend(decode_all(&mut d, std::slice::from_ref(b)));
        assert!(d.buffered() < largest);
    }
    assert_eq!(got, msgs.map(Ok));
    d.finish().unwrap();
}

#[test]
fn truncated_streams_are_reported() {
    let f = frame(&Message::Ping(300));
    for cut in 1..f.len() {
        let mut d = Decoder::new(Limits::default());
        assert_eq!(decode_all(&mut d, &f[..cut]), []);
        assert!(
            matches!(d.finish(), Err(ProtoError::Truncated { have, need })
            if have == cut && need == if cut < 4 { 4 } else { f.len() })
        );
    }
}

/// Decodes `bytes` on a thread with a 2 MiB stack, as a node's IO thread might have.
fn decode_on_small_stack(bytes: Vec<u8>) -> Vec<Result<Message, ProtoError>> {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || decode_all(&mut Decoder::new(Limits::default()), &bytes))
        .unwrap()
        .join()
        .expect("the decoder overflowed a 2 MiB stack")
}

#[test]
fn deeply_nested_looking_frames_do_not_overflow_the_stack() {
    // No wire type is recursive, so no byte pattern can make decoding recurse deeper than
    // the types: each of these is a malformed (or trailing-bytes) frame, decoded in O(1)
    // stack. 0x01 is "Some"/"variant 1" everywhere; 0x07 is "ToHome"; 0x80 a varint that
    // never ends; a valid Send prefix followed by a huge nested-looking payload length.
    for depth in [1_000usize, 10_000, 100_000, 1_000_000] {
        for pattern in [0x01u8, 0x07, 0x80, 0xff] {
            let r = decode_on_small_stack(raw_frame(&vec![pattern; depth]));
            assert_eq!(r.len(), 1, "depth {depth}, byte {pattern:#x}");
            assert!(r[0].is_err(), "depth {depth}, byte {pattern:#x}: {r:?}");
        }
        let mut body = frame(&send_msg(vec![]))[4..].to_vec();
        body.pop(); // the empty payload's length
        body.extend(std::iter::repeat_n(0x01, depth));
        let r = decode_on_small_stack(raw_frame(&body));
        assert!(matches!(r[..], [Err(_)]), "depth {depth}: {r:?}");
    }
}

#[test]
fn a_nested_postcard_value_inside_a_payload_is_opaque() {
    // Values are bytes to the wire: whatever they encode is not decoded here.
    let nested: Vec<u8> = std::iter::repeat_n(0x01, 1_000_000).collect();
    let r = decode_on_small_stack(frame(&send_msg(nested.clone())));
    assert_eq!(r, [Ok(send_msg(nested))]);
}
