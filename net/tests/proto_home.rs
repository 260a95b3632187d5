//! The home's checks on decoded frames: a value sent on a channel of another type is refused
//! by its type key, and a resend after a lost connection is answered, not delivered again.

use tern_net::proto::{
    encode, Admission, ChannelId, Decoder, Limits, Message, OpId, OpLog, Outcome, PartyId, Payload,
    Rejection, ToHome, TypeKey,
};

fn send(chan: ChannelId, value: &[u8]) -> Message {
    Message::ToHome(ToHome::Send {
        chan,
        op: OpId {
            party: PartyId { origin: 3, seq: 4 },
            epoch: 1,
            seq: 1,
        },
        value: Payload(value.to_vec()),
    })
}

/// Encodes `msg`, decodes it as a home would, and returns the `Send` it carries.
fn over_the_wire(msg: &Message) -> (ChannelId, OpId, Payload) {
    let mut wire = Vec::new();
    encode(msg, &Limits::default(), &mut wire).unwrap();
    let mut d = Decoder::new(Limits::default());
    match d.decode(&mut &wire[..]) {
        Ok(Some(Message::ToHome(ToHome::Send { chan, op, value }))) => (chan, op, value),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_same_bytes_on_a_channel_of_another_type_are_refused() {
    // The home holds "numbers" as a channel of u64.
    let held = ChannelId::of::<u64>("numbers", 0);
    // postcard(5u64) == postcard(5u32) == postcard(5i8 as u64)…: the bytes alone prove nothing.
    let bytes = [5u8];
    let mut refused = 0;
    for asked in [
        ChannelId::of::<u32>("numbers", 0),
        ChannelId::of::<i64>("numbers", 0),
        ChannelId::of::<Option<u64>>("numbers", 0),
        ChannelId::of::<u64>("numbers", 1),
        ChannelId::new("numbers", TypeKey(0), 0),
    ] {
        let (chan, _, value) = over_the_wire(&send(asked, &bytes));
        assert_eq!(value.0, bytes);
        match held.admit(&chan) {
            Err(Rejection::Mismatch {
                found_ty,
                found_cap,
            }) => {
                assert_eq!((found_ty, found_cap), (TypeKey::of::<u64>(), 0));
                refused += 1;
            }
            other => panic!("{chan:?} admitted: {other:?}"),
        }
    }
    assert_eq!(refused, 5);
    let (chan, _, _) = over_the_wire(&send(ChannelId::of::<u64>("numbers", 0), &bytes));
    assert_eq!(held.admit(&chan), Ok(()));
}

#[test]
fn a_resend_is_answered_from_the_log_not_delivered_twice() {
    let held = ChannelId::of::<u64>("numbers", 0);
    let mut log = OpLog::default();
    let mut delivered = Vec::new();
    // The same Send arrives three times (two resends after lost connections).
    let msg = send(held.clone(), &[9]);
    let mut answers = Vec::new();
    for _ in 0..3 {
        let (chan, op, value) = over_the_wire(&msg);
        held.admit(&chan).unwrap();
        match log.admit(op) {
            Admission::New => {
                delivered.push(value);
                log.complete(op, Outcome::Sent);
                answers.push(Outcome::Sent);
            }
            Admission::Repeat(o) => answers.push(o),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(delivered, [Payload(vec![9])]);
    assert_eq!(answers, [Outcome::Sent, Outcome::Sent, Outcome::Sent]);
}
