//! Runnable examples of Jones live in `examples/`.
