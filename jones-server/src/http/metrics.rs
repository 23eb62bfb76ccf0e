//! `/metrics` in Prometheus' text format: requests by method, route and
//! status, request latency, open connections and event streams, ZooKeeper
//! requests and ops, materializations, conflicts, build info.
//!
//! Every label comes from a fixed set: the method is one of the standard
//! methods or `other`, the route a template, the status a number. Nothing a
//! client sends becomes a label as it is.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use warp::http::Method;

use super::events::HubStats;
use crate::Admin;

/// The `method` label of a request: a standard method, or `other`.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The `git_sha` label of `jones_build_info`: `JONES_GIT_SHA` at build time.
const GIT_SHA: &str = match option_env!("JONES_GIT_SHA") {
    Some(sha) => sha,
    None => "unknown",
};

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// Counters of the HTTP server.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (method, route template, status) → count. A short lock per request.
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    /// Open HTTP connections.
    pub(crate) connections: AtomicUsize,
    /// Connections cut because the client stopped reading.
    pub(crate) send_timeouts: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    pub(crate) fn record(&self, method: &Method, route: &'static str, status: u16, took: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((method_label(method), route, status))
            .or_default() += 1;
        let secs = took.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// The Prometheus exposition of these metrics and `admin`'s counters.
    pub(crate) fn render(&self, admin: &Admin, hub: &HubStats) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP jones_build_info The running build.\n\
             # TYPE jones_build_info gauge\n\
             jones_build_info{{version=\"{}\",git_sha=\"{GIT_SHA}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out.push_str(
            "# HELP jones_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE jones_http_requests_total counter\n");
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for ((method, route, status), n) in &requests {
            let _ = writeln!(
                out,
                "jones_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP jones_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE jones_http_request_duration_seconds histogram\n");
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "jones_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "jones_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             jones_http_request_duration_seconds_sum {}\n\
             jones_http_request_duration_seconds_count {count}",
            self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let zk = admin.zk().counts();
        let writes = admin.write_counts();
        for (name, help, value) in [
            (
                "jones_zookeeper_requests_total",
                "ZooKeeper round trips (a multi counts once).",
                zk.requests,
            ),
            (
                "jones_zookeeper_ops_total",
                "ZooKeeper operations (each op of a multi counts).",
                zk.ops,
            ),
            (
                "jones_materializations_total",
                "Conf writes that materialized views.",
                writes.materializations,
            ),
            (
                "jones_views_written_total",
                "Views written.",
                writes.views_written,
            ),
            (
                "jones_transactions_total",
                "ZooKeeper transactions committed by writes.",
                writes.transactions,
            ),
            (
                "jones_conflicts_total",
                "Writes refused for a stale version.",
                writes.conflicts,
            ),
            (
                "jones_repairs_total",
                "Services repaired after an interrupted write.",
                writes.repairs,
            ),
            (
                "jones_healed_total",
                "Unfinished writes this server's healer completed.",
                writes.healed,
            ),
            (
                "jones_contention_retries_total",
                "Write attempts repeated after a concurrent change.",
                writes.contention_retries,
            ),
            (
                "jones_writes_starved_total",
                "Writes refused after waiting past the write deadline.",
                writes.starved,
            ),
            (
                "jones_zookeeper_sessions_replaced_total",
                "ZooKeeper sessions that expired (or closed) and were replaced.",
                zk.sessions_replaced,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        for (name, help, value) in [
            (
                "jones_http_connections",
                "Open HTTP connections.",
                self.connections.load(Ordering::Relaxed) as u64,
            ),
            (
                "jones_event_streams",
                "Open event streams.",
                hub.open_streams.load(Ordering::Relaxed) as u64,
            ),
            (
                "jones_event_watches",
                "ZooKeeper watches held for event streams (one per watched service).",
                hub.watches.load(Ordering::Relaxed) as u64,
            ),
            (
                "jones_pending_markers",
                "Services with an unfinished write or delete, as the healer sees them.",
                writes.pending_markers,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        for (name, help, value) in [
            (
                "jones_event_streams_opened_total",
                "Event streams opened.",
                hub.opened.load(Ordering::Relaxed),
            ),
            (
                "jones_event_streams_refused_total",
                "Event streams refused at the cap.",
                hub.refused.load(Ordering::Relaxed),
            ),
            (
                "jones_event_streams_lagged_total",
                "Resyncs sent to event streams that fell behind.",
                hub.lagged.load(Ordering::Relaxed),
            ),
            (
                "jones_registry_reads_total",
                "Registration znodes and view stats read by live registry pictures.",
                hub.rollout.reads.load(Ordering::Relaxed),
            ),
            (
                "jones_registry_full_reads_total",
                "Full reads of client registries (picture start, reconnect, one-shot GET).",
                hub.rollout.full_reads.load(Ordering::Relaxed),
            ),
            (
                "jones_registry_events_total",
                "`clients` events sent (one per service, whatever the number of streams).",
                hub.rollout.events.load(Ordering::Relaxed),
            ),
            (
                "jones_http_send_timeouts_total",
                "Connections cut because the client stopped reading.",
                self.send_timeouts.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        if let Some(audit) = admin.last_acl_audit() {
            let _ = writeln!(
                out,
                "# HELP jones_world_writable_znodes Znodes under /services anonymous clients may change (at the last audit).\n\
                 # TYPE jones_world_writable_znodes gauge\njones_world_writable_znodes {}",
                audit.world_writable
            );
        }
        let connected = matches!(
            admin.zk().state(),
            zookeeper_client::SessionState::SyncConnected
        );
        let _ = writeln!(
            out,
            "# HELP jones_zookeeper_connected Whether the ZooKeeper session is connected.\n\
             # TYPE jones_zookeeper_connected gauge\njones_zookeeper_connected {}",
            u8::from(connected)
        );
        out
    }
}
