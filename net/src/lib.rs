//! The wire for tern: the frame codec and handshake (sans-IO), the QUIC driver and an in-memory
//! transport for deterministic tests.
//!
//! Empty for now: nodes run embedded (one process, no network) until the cluster lands.
#![forbid(unsafe_code)]

pub mod proto;

pub mod quic;
pub mod sim;
pub mod tls;
