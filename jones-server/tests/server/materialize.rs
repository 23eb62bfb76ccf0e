//! The materializer under stress: batching, crashes, concurrent servers.
