//! loom models of the concurrency core (built only with `--cfg tern_loom`).
