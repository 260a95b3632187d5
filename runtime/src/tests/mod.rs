//! loom models of the concurrency core (built only with `--cfg tern_loom`).

mod loom_bias;
mod loom_channel;
mod loom_freeze;
mod loom_park;
mod loom_queue;
mod loom_remote;
mod loom_withdraw;
