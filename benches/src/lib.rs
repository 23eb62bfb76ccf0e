//! Benchmarks of Jones live in `benches/`; each prints its figures.
