//! Jones server: materializer, admin operations and HTTP API.
