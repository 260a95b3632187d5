//! Property tests of the frame codec: every message round-trips, any chunking of a frame
//! stream decodes to the same messages, and random bytes never panic.

use proptest::collection::vec;
use proptest::prelude::*;
use tern_net::proto::migrate::{Command, ControlReply, Migrate, MoveRefusal};
use tern_net::proto::remote::{Fault, FaultKind, MinterId, ObjectId, RefOp, Remote};
use tern_net::proto::{
    encode, ChannelId, Decoder, FromHome, GoodbyeReason, Hello, HelloAck, Incarnation, Limits,
    Message, NodeId, OpId, Outcome, PartyId, Payload, ProtoError, RefuseReason, Rejection, ToHome,
    TypeKey, WireVersion,
};

/// Names the wire accepts: printable, 1..=40 chars (some multi-byte).
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_./é∑-]{1,40}"
}

/// Node ids: lower-case DNS labels, 1..=63 chars.
fn node() -> impl Strategy<Value = NodeId> {
    "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?".prop_map(|s| NodeId::new(&s).expect("a node id"))
}

fn version() -> impl Strategy<Value = WireVersion> {
    (any::<u16>(), any::<u16>()).prop_map(|(major, minor)| WireVersion { major, minor })
}

fn chan() -> impl Strategy<Value = ChannelId> {
    (name(), any::<u64>(), any::<u64>()).prop_map(|(n, t, c)| ChannelId::new(n, TypeKey(t), c))
}

fn op() -> impl Strategy<Value = OpId> {
    (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(o, p, e, s)| OpId {
        party: PartyId { origin: o, seq: p },
        epoch: e,
        seq: s,
    })
}

fn payload() -> impl Strategy<Value = Payload> {
    vec(any::<u8>(), 0..200).prop_map(Payload)
}

fn opt_payload() -> impl Strategy<Value = Option<Payload>> {
    proptest::option::of(payload())
}

fn rejection() -> impl Strategy<Value = Rejection> {
    prop_oneof![
        (any::<u64>(), any::<u64>()).prop_map(|(t, c)| Rejection::Mismatch {
            found_ty: TypeKey(t),
            found_cap: c
        }),
        any::<u64>().prop_map(|current| Rejection::Stale { current }),
        proptest::option::of(node()).prop_map(|home| Rejection::NotHome { home }),
        Just(Rejection::Overloaded),
        Just(Rejection::UnknownOp),
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Sent),
        payload().prop_map(Outcome::Received),
        opt_payload().prop_map(|value| Outcome::Closed { value }),
        opt_payload().prop_map(|value| Outcome::Withdrawn { value }),
        (rejection(), opt_payload())
            .prop_map(|(reason, value)| Outcome::Rejected { reason, value }),
    ]
}

fn refuse_reason() -> impl Strategy<Value = RefuseReason> {
    prop_oneof![
        version().prop_map(|supported| RefuseReason::Version { supported }),
        (node(), node())
            .prop_map(|(claimed, certified)| RefuseReason::IdMismatch { claimed, certified }),
        Just(RefuseReason::SelfConnect),
        Just(RefuseReason::ShuttingDown),
        any::<u32>().prop_map(|min| RefuseReason::FrameLimitTooSmall { min }),
    ]
}

fn to_home() -> impl Strategy<Value = ToHome> {
    prop_oneof![
        chan().prop_map(|chan| ToHome::Open { chan }),
        chan().prop_map(|chan| ToHome::Release { chan }),
        (chan(), op(), payload()).prop_map(|(chan, op, value)| ToHome::Send { chan, op, value }),
        (chan(), op()).prop_map(|(chan, op)| ToHome::Recv { chan, op }),
        (chan(), op()).prop_map(|(chan, op)| ToHome::Withdraw { chan, op }),
        (chan(), op()).prop_map(|(chan, op)| ToHome::Ack { chan, op }),
        chan().prop_map(|chan| ToHome::Close { chan }),
        (chan(), any::<u64>()).prop_map(|(chan, query)| ToHome::Balance { chan, query }),
        (chan(), op(), payload()).prop_map(|(chan, op, value)| ToHome::Stream { chan, op, value }),
    ]
}

fn from_home() -> impl Strategy<Value = FromHome> {
    prop_oneof![
        (chan(), any::<bool>()).prop_map(|(chan, closed)| FromHome::Opened { chan, closed }),
        (chan(), rejection()).prop_map(|(chan, reason)| FromHome::Rejected { chan, reason }),
        (chan(), op(), outcome()).prop_map(|(chan, op, outcome)| FromHome::Done {
            chan,
            op,
            outcome
        }),
        chan().prop_map(|chan| FromHome::ChannelClosed { chan }),
        (
            chan(),
            any::<u64>(),
            any::<i64>(),
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(|(chan, query, balance, len, closed)| FromHome::BalanceIs {
                chan,
                query,
                balance,
                len,
                closed
            }),
        (chan(), op(), any::<u64>()).prop_map(|(chan, op, credit)| FromHome::Credit {
            chan,
            stream: op.party,
            acked: op.seq,
            credit
        }),
    ]
}

fn refusal() -> impl Strategy<Value = MoveRefusal> {
    prop_oneof![
        name().prop_map(|key| MoveRefusal::UnknownType { key }),
        (name(), any::<u64>(), any::<u64>()).prop_map(|(key, snapshot, local)| {
            MoveRefusal::Fingerprint {
                key,
                snapshot,
                local,
            }
        }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(size, limit)| MoveRefusal::Oversize { size, limit }),
        name().prop_map(|detail| MoveRefusal::Snapshot { detail }),
        any::<u64>().prop_map(|limit| MoveRefusal::OverCapacity { limit }),
        Just(MoveRefusal::ShuttingDown),
        Just(MoveRefusal::Busy),
        any::<u64>().prop_map(|current| MoveRefusal::Stale { current }),
        Just(MoveRefusal::Unreachable),
    ]
}

fn migrate() -> impl Strategy<Value = Migrate> {
    let task = || op().prop_map(|o| o.party);
    prop_oneof![
        (task(), any::<u64>(), node(), payload()).prop_map(|(task, epoch, home, snapshot)| {
            Migrate::Offer {
                task,
                epoch,
                home,
                snapshot,
            }
        }),
        (task(), any::<u64>()).prop_map(|(task, epoch)| Migrate::Installed { task, epoch }),
        (task(), any::<u64>(), refusal()).prop_map(|(task, epoch, reason)| Migrate::Refused {
            task,
            epoch,
            reason
        }),
        (task(), any::<u64>()).prop_map(|(task, epoch)| Migrate::Commit { task, epoch }),
        (task(), any::<u64>()).prop_map(|(task, epoch)| Migrate::Committed { task, epoch }),
        (task(), any::<u64>(), node()).prop_map(|(task, epoch, node)| Migrate::Owner {
            task,
            epoch,
            node
        }),
        (task(), any::<u64>(), payload()).prop_map(|(task, epoch, outcome)| Migrate::Ended {
            task,
            epoch,
            outcome
        }),
        task().prop_map(|task| Migrate::EndedAck { task }),
        (
            task(),
            any::<u64>(),
            node(),
            any::<u8>(),
            prop_oneof![node().prop_map(Command::MoveTo), Just(Command::Locate)]
        )
            .prop_map(|(task, req, from, hops, cmd)| Migrate::Control {
                task,
                req,
                from,
                hops,
                cmd
            }),
        (
            task(),
            any::<u64>(),
            prop_oneof![
                node().prop_map(|node| ControlReply::At { node }),
                (node(), refusal())
                    .prop_map(|(node, reason)| ControlReply::Refused { node, reason }),
                Just(ControlReply::NotFound),
            ]
        )
            .prop_map(|(task, req, reply)| Migrate::ControlReply { task, req, reply }),
    ]
}

fn object() -> impl Strategy<Value = ObjectId> {
    (any::<u64>(), any::<u64>()).prop_map(|(i, seq)| ObjectId {
        incarnation: Incarnation(i),
        seq,
    })
}

fn fault() -> impl Strategy<Value = Fault> {
    (
        prop_oneof![
            Just(FaultKind::Panicked),
            Just(FaultKind::Gone),
            Just(FaultKind::Mismatch),
            Just(FaultKind::UnknownMethod),
            Just(FaultKind::BadArgs),
            Just(FaultKind::BadResult),
            Just(FaultKind::Overloaded),
            Just(FaultKind::ShuttingDown),
        ],
        "[a-z ]{0,40}",
        proptest::option::of(payload()),
    )
        .prop_map(|(kind, message, report)| Fault {
            kind,
            message,
            report,
        })
}

fn remote() -> impl Strategy<Value = Remote> {
    let op = prop_oneof![
        (object(), any::<u64>()).prop_map(|(obj, token)| RefOp::Hold { obj, token }),
        (object(), any::<u64>(), any::<u64>()).prop_map(|(obj, m, token)| RefOp::Adopt {
            obj,
            minter: MinterId(m),
            token
        }),
        object().prop_map(|obj| RefOp::Release { obj }),
    ];
    prop_oneof![
        (
            any::<u64>(),
            object(),
            any::<u64>(),
            any::<u16>(),
            payload()
        )
            .prop_map(|(call, obj, iface, method, args)| Remote::Call {
                call,
                obj,
                iface,
                method,
                args
            }),
        (
            any::<u64>(),
            prop_oneof![payload().prop_map(Ok), fault().prop_map(Err)]
        )
            .prop_map(|(call, result)| Remote::Reply { call, result }),
        any::<u64>().prop_map(|call| Remote::Done { call }),
        (any::<u64>(), op).prop_map(|(seq, op)| Remote::Ref { seq, op }),
        any::<u64>().prop_map(|upto| Remote::RefAck { upto }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (version(), node(), any::<u64>(), any::<u32>()).prop_map(|(version, node, i, max)| {
            Message::Hello(Hello {
                version,
                node,
                incarnation: Incarnation(i),
                max_frame: max,
            })
        }),
        (version(), node(), any::<u64>(), any::<u32>()).prop_map(|(version, node, i, max)| {
            Message::HelloAck(HelloAck {
                version,
                node,
                incarnation: Incarnation(i),
                max_frame: max,
            })
        }),
        refuse_reason().prop_map(Message::Refuse),
        any::<u64>().prop_map(Message::Ping),
        any::<u64>().prop_map(Message::Pong),
        prop_oneof![
            Just(GoodbyeReason::Shutdown),
            Just(GoodbyeReason::Superseded),
            Just(GoodbyeReason::ProtocolViolation),
        ]
        .prop_map(Message::Goodbye),
        to_home().prop_map(Message::ToHome),
        from_home().prop_map(Message::FromHome),
        migrate().prop_map(Message::Migrate),
        remote().prop_map(Message::Remote),
    ]
}

/// Fails to compile when a message variant is added: extend the strategies above with it.
#[allow(dead_code)]
fn every_variant_has_a_strategy(m: &Message) {
    match m {
        Message::Hello(_)
        | Message::HelloAck(_)
        | Message::Refuse(_)
        | Message::Ping(_)
        | Message::Pong(_)
        | Message::Goodbye(_) => {}
        Message::ToHome(t) => match t {
            ToHome::Open { .. }
            | ToHome::Release { .. }
            | ToHome::Send { .. }
            | ToHome::Recv { .. }
            | ToHome::Withdraw { .. }
            | ToHome::Ack { .. }
            | ToHome::Close { .. }
            | ToHome::Balance { .. }
            | ToHome::Stream { .. } => {}
        },
        Message::FromHome(f) => match f {
            FromHome::Opened { .. }
            | FromHome::Rejected { .. }
            | FromHome::Done { .. }
            | FromHome::ChannelClosed { .. }
            | FromHome::BalanceIs { .. }
            | FromHome::Credit { .. } => {}
        },
        Message::Migrate(m) => match m {
            Migrate::Offer { .. }
            | Migrate::Installed { .. }
            | Migrate::Refused { .. }
            | Migrate::Commit { .. }
            | Migrate::Committed { .. }
            | Migrate::Owner { .. }
            | Migrate::Ended { .. }
            | Migrate::EndedAck { .. }
            | Migrate::Control { .. }
            | Migrate::ControlReply { .. } => {}
        },
        Message::Remote(r) => match r {
            Remote::Call { .. }
            | Remote::Reply { .. }
            | Remote::Done { .. }
            | Remote::Ref { .. }
            | Remote::RefAck { .. } => {}
        },
    }
}

fn encode_all(msgs: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        encode(m, &Limits::default(), &mut out).unwrap();
    }
    out
}

/// Feeds `chunks` to a fresh decoder; returns what came out, stopping at a fatal error.
fn decode_chunks<'a>(
    limits: Limits,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<Result<Message, ProtoError>>, Decoder) {
    let mut d = Decoder::new(limits);
    let mut out = Vec::new();
    for mut chunk in chunks {
        loop {
            match d.decode(&mut chunk) {
                Ok(Some(m)) => out.push(Ok(m)),
                Ok(None) => break,
                Err(e) => {
                    let fatal = e.is_fatal();
                    out.push(Err(e));
                    if fatal {
                        return (out, d);
                    }
                }
            }
        }
    }
    (out, d)
}

/// Splits `bytes` at the given cut points (sorted, deduplicated, clamped).
fn split_at_points(bytes: &[u8], mut cuts: Vec<usize>) -> Vec<&[u8]> {
    cuts.iter_mut().for_each(|c| *c %= bytes.len() + 1);
    cuts.sort_unstable();
    cuts.dedup();
    let mut parts = Vec::new();
    let mut start = 0;
    for c in cuts {
        parts.push(&bytes[start..c]);
        start = c;
    }
    parts.push(&bytes[start..]);
    parts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips(msg in message()) {
        let bytes = encode_all(std::slice::from_ref(&msg));
        let (got, d) = decode_chunks(Limits::default(), [&bytes[..]]);
        prop_assert_eq!(got, vec![Ok(msg)]);
        prop_assert!(d.finish().is_ok());
    }

    #[test]
    fn any_chunking_gives_the_same_frames(
        msgs in vec(message(), 1..8),
        cuts in vec(any::<usize>(), 0..24),
    ) {
        let bytes = encode_all(&msgs);
        let parts = split_at_points(&bytes, cuts);
        let (got, d) = decode_chunks(Limits::default(), parts);
        prop_assert_eq!(got, msgs.into_iter().map(Ok).collect::<Vec<_>>());
        prop_assert!(d.finish().is_ok());
    }

    #[test]
    fn every_prefix_of_a_stream_gives_a_prefix_of_the_frames(
        msgs in vec(message(), 1..6),
        cut in any::<usize>(),
        chunk in 1usize..64,
    ) {
        let bytes = encode_all(&msgs);
        let cut = cut % (bytes.len() + 1);
        let (got, d) = decode_chunks(Limits::default(), bytes[..cut].chunks(chunk));
        // The frames wholly inside the prefix, in order, and nothing else.
        let mut whole = 0;
        let mut end = 0;
        for m in &msgs {
            let len = encode_all(std::slice::from_ref(m)).len();
            if end + len > cut { break; }
            end += len;
            whole += 1;
        }
        prop_assert_eq!(got, msgs[..whole].iter().cloned().map(Ok).collect::<Vec<_>>());
        prop_assert_eq!(d.buffered(), cut - end);
        prop_assert_eq!(d.finish().is_ok(), cut == end);
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..2048),
        chunk in 1usize..128,
    ) {
        let limits = Limits { max_frame: 1024, ..Limits::default() };
        let (got, d) = decode_chunks(limits, bytes.chunks(chunk));
        // Chunking does not change the result.
        let (whole, _) = decode_chunks(limits, [&bytes[..]]);
        prop_assert_eq!(&got, &whole);
        prop_assert!(d.buffered() <= 4 + 1024);
        // Whatever decoded is valid and re-encodes to a frame that decodes to itself.
        for m in got.into_iter().flatten() {
            let again = encode_all(std::slice::from_ref(&m));
            let (back, _) = decode_chunks(limits, [&again[..]]);
            prop_assert_eq!(back, vec![Ok(m)]);
        }
    }

    #[test]
    fn random_bodies_behind_a_valid_prefix_never_panic(
        body in vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = (body.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(&body);
        bytes.extend(encode_all(&[Message::Ping(1)]));
        let (got, d) = decode_chunks(Limits::default(), [&bytes[..]]);
        // Framing survives a bad body: the ping after it always decodes.
        prop_assert_eq!(got.len(), 2);
        prop_assert_eq!(got.last(), Some(&Ok(Message::Ping(1))));
        prop_assert!(d.finish().is_ok());
    }
}
