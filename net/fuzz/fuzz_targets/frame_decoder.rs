//! Fuzzes the frame decoder with arbitrary bytes cut into arbitrary chunks.
//!
//! Checks, beyond "never panics": the result does not depend on how the stream is chunked;
//! the decoder never holds more than one frame; every message it returns is valid and survives
//! a re-encode → decode round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_net::proto::{encode, Decoder, Limits, Message, ProtoError};

/// A small cap so that oversize prefixes are common.
const LIMITS: Limits = Limits {
    max_frame: 4096,
    max_channel_name: 1024,
};

fn decode(chunks: &mut dyn Iterator<Item = &[u8]>) -> Vec<Result<Message, ProtoError>> {
    let mut d = Decoder::new(LIMITS);
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
                        return out;
                    }
                }
            }
        }
        assert!(d.buffered() <= 4 + LIMITS.max_frame as usize);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size; the rest is the stream.
    let Some((&size, stream)) = data.split_first() else {
        return;
    };
    let chunked = decode(&mut stream.chunks(usize::from(size) + 1));
    let whole = decode(&mut std::iter::once(stream));
    assert_eq!(chunked, whole);
    for msg in whole.into_iter().flatten() {
        msg.validate(&LIMITS)
            .expect("the decoder returned an invalid message");
        let mut again = Vec::new();
        encode(&msg, &LIMITS, &mut again).expect("a decoded message re-encodes");
        assert_eq!(decode(&mut std::iter::once(&again[..])), [Ok(msg)]);
    }
});
