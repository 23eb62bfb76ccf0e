//! Benchmark `client_get`: the read path of the live client.
//!
//! Measures ns/op of the client's reads of a present key, with 1 and 2
//! reader threads, while a writer thread replaces the whole config 1000
//! times a second: `get::<u64>`, `enabled`, the `*_detail` variants, the
//! typed handles (`Setting<u64>::get`, 16 settings read in turn on one
//! thread, `Switch::enabled` and the handles' `detail`) and an
//! OpenFeature boolean evaluation (the provider's resolution, its trait
//! method, and the OpenFeature SDK client's `get_bool_value` polled to
//! completion). In the
//! same run, the floors: a plain `HashMap::get` (no writer possible), an
//! `RwLock<HashMap>` read (the writer replaces the map under the write
//! lock) and an atomic load (what a typed handle's read is bounded by).
//! The client is fed by `TestData`, which publishes into the same
//! `ArcSwap` store the ZooKeeper driver publishes into, so what is
//! measured is the production read path.
//!
//! A counting global allocator counts allocations made by the reader
//! threads while they measure (expected: 0, but for the exempt rows: the
//! control, and the OpenFeature trait method and SDK client, which
//! allocate on every call whatever the provider does).
//!
//! Prints a table, whether each goal is met (`get` within 1.5× of
//! `HashMap::get` at 1 and 2 threads, a typed handle's read within 10 ns,
//! no allocation outside the exempt rows), then one JSON line of the
//! figures.

// The counting allocator implements `GlobalAlloc`, an unsafe trait; it
// only forwards to the system allocator and bumps a thread-local counter.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll, Waker};

use jones_client::{Config, JonesClient, TestData};
use jones_openfeature::JonesProvider;
use open_feature::EvaluationContext;
use open_feature::provider::FeatureProvider;
use serde_json::{Value, json};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// How long each reader measures, per round.
const MEASURE: Duration = Duration::from_millis(300);
/// Rounds per case; the best round is reported, as the machine's two cores
/// are shared with the writer thread and whatever else runs.
const ROUNDS: usize = 3;
/// Reads between clock checks.
const BATCH: u64 = 10_000;
/// Config replacements per second by the writer.
const WRITES_PER_SEC: u64 = 1000;

/// A config of realistic size: 40 keys, the read one in the middle.
fn config(generation: u64) -> Config {
    let mut map = Config::new();
    for i in 0..20 {
        map.insert(format!("key_{i:02}"), json!(format!("value {i}")));
    }
    map.insert("workers".into(), json!(8 + generation % 2));
    map.insert("new_checkout".into(), json!(true));
    map.insert("rollout".into(), json!(50));
    for i in 20..38 {
        map.insert(format!("key_{i:02}"), json!({"n": i, "list": [1, 2, 3]}));
    }
    map
}

fn plain_map(generation: u64) -> HashMap<String, Value> {
    config(generation).into_iter().collect()
}

/// A name, a read, and the writer that runs beside it (if any).
struct Subject<'a> {
    name: &'static str,
    read: Box<dyn Fn() -> bool + Sync + 'a>,
    write: Option<&'a (dyn Fn(u64) + Sync)>,
    /// Reads one op makes (a row reading several handles per op); the
    /// table shows ns per read.
    reads_per_op: u32,
    /// Why this row may allocate, when it is exempt from the
    /// no-allocation goal.
    allocates: Option<&'static str>,
}

/// How many `Setting` handles the many-handles row reads, in turn, on
/// one thread: twice the thread-local cache of the snapshot store.
const HANDLES: usize = 16;

/// One row of the table.
struct Row {
    subject: &'static str,
    allocates: Option<&'static str>,
    threads: usize,
    ns_per_op: f64,
    reads: u64,
    allocations: u64,
}

/// Runs `read` in `threads` reader threads while `write` runs 1000×/s in a
/// writer thread; returns mean ns/op per thread, reads measured, and
/// allocations by the readers while measuring.
fn measure(
    threads: usize,
    read: impl Fn() -> bool + Sync,
    write: Option<&(dyn Fn(u64) + Sync)>,
) -> (f64, u64, u64) {
    let stop = AtomicBool::new(false);
    let start = Barrier::new(threads + 1);
    thread::scope(|s| {
        if let Some(write) = write {
            s.spawn(|| {
                let period = Duration::from_nanos(1_000_000_000 / WRITES_PER_SEC);
                let mut next = Instant::now();
                let mut generation = 0;
                while !stop.load(Ordering::Relaxed) {
                    generation += 1;
                    write(generation);
                    next += period;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        thread::sleep(wait);
                    }
                }
            });
        }
        let readers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    // Warm up: thread-local state of arc-swap is set up here.
                    for _ in 0..BATCH {
                        black_box(read());
                    }
                    start.wait();
                    let before = allocations();
                    let began = Instant::now();
                    let mut ops = 0u64;
                    while began.elapsed() < MEASURE {
                        for _ in 0..BATCH {
                            black_box(read());
                        }
                        ops += BATCH;
                    }
                    let elapsed = began.elapsed();
                    let allocated = allocations() - before;
                    (elapsed.as_nanos() as f64 / ops as f64, ops, allocated)
                })
            })
            .collect();
        start.wait();
        let results: Vec<(f64, u64, u64)> =
            readers.into_iter().map(|r| r.join().unwrap()).collect();
        stop.store(true, Ordering::Relaxed);
        let ns = results.iter().map(|r| r.0).sum::<f64>() / results.len() as f64;
        let reads = results.iter().map(|r| r.1).sum();
        let allocated = results.iter().map(|r| r.2).sum();
        (ns, reads, allocated)
    })
}

/// Polls `future` to completion on this thread: the OpenFeature calls
/// measured here never wait on anything but an uncontended lock.
fn complete<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let data = TestData::new(config(0));
    let client: JonesClient = data.client();
    let write_client = |g: u64| data.update(config(g));
    let plain = plain_map(0);
    let locked = RwLock::new(plain_map(0));
    let write_locked = |g: u64| {
        let map = plain_map(g);
        *locked.write().unwrap() = map;
    };
    let setting = client.setting("workers", 0u64);
    let switch = client.switch("new_checkout");
    let floor = AtomicU64::new(8);
    let provider = JonesProvider::new(client.clone());
    let user = EvaluationContext::default().with_targeting_key("user-17");
    let openfeature = complete(async {
        let mut api = open_feature::OpenFeature::singleton_mut().await;
        api.set_provider(JonesProvider::new(client.clone())).await;
        api.create_client()
    });
    let locked = &locked;
    let client = &client;
    let plain = &plain;
    let (setting, switch, floor) = (&setting, &switch, &floor);
    let (provider, user, openfeature) = (&provider, &user, &openfeature);
    let numbers: Vec<_> = (0..HANDLES)
        .map(|_| client.setting("workers", 0u64))
        .collect();
    let numbers = &numbers;
    fn subject<'a>(
        name: &'static str,
        read: Box<dyn Fn() -> bool + Sync + 'a>,
        write: Option<&'a (dyn Fn(u64) + Sync)>,
    ) -> Subject<'a> {
        Subject {
            name,
            read,
            write,
            reads_per_op: 1,
            allocates: None,
        }
    }
    // Every subject reads the same key and checks its type, as `get` does.
    let subjects: Vec<Subject<'_>> = vec![
        subject(
            "HashMap::get (no writer)",
            Box::new(move || {
                plain
                    .get(black_box("workers"))
                    .and_then(Value::as_u64)
                    .is_some()
            }),
            None,
        ),
        subject(
            "RwLock<HashMap> read",
            Box::new(move || {
                let map = locked.read().unwrap();
                map.get(black_box("workers"))
                    .and_then(Value::as_u64)
                    .is_some()
            }),
            Some(&write_locked),
        ),
        subject(
            "JonesClient::get::<u64>",
            Box::new(move || client.get::<u64>(black_box("workers")).is_some()),
            Some(&write_client),
        ),
        subject(
            "JonesClient::enabled",
            Box::new(move || client.enabled(black_box("new_checkout"))),
            Some(&write_client),
        ),
        subject(
            "JonesClient::get_detail::<u64>",
            Box::new(move || client.get_detail(black_box("workers"), 0u64).value > 0),
            Some(&write_client),
        ),
        subject(
            "JonesClient::enabled_detail",
            Box::new(move || {
                client
                    .enabled_detail(black_box("new_checkout"), false)
                    .value
            }),
            Some(&write_client),
        ),
        subject(
            "JonesClient::percentage_detail",
            Box::new(move || {
                client
                    .percentage_detail(black_box("rollout"), black_box(17u64), false)
                    .revision
                    .is_some()
            }),
            Some(&write_client),
        ),
        subject(
            "atomic load (floor)",
            Box::new(move || black_box(floor).load(Ordering::Acquire) > 0),
            None,
        ),
        subject(
            "Setting<u64>::get",
            Box::new(move || black_box(setting).get() > 0),
            Some(&write_client),
        ),
        Subject {
            reads_per_op: HANDLES as u32,
            ..subject(
                "16 Setting<u64> handles, in turn",
                Box::new(move || {
                    let mut sum = 0;
                    for handle in black_box(numbers) {
                        sum += handle.get();
                    }
                    sum > 0
                }),
                Some(&write_client),
            )
        },
        subject(
            "Switch::enabled",
            Box::new(move || black_box(switch).enabled()),
            Some(&write_client),
        ),
        subject(
            "Setting<u64>::detail",
            Box::new(move || black_box(setting).detail().value > 0),
            Some(&write_client),
        ),
        subject(
            "Switch::detail",
            Box::new(move || black_box(switch).detail().value),
            Some(&write_client),
        ),
        subject(
            "OpenFeature provider bool",
            Box::new(move || {
                provider
                    .resolve_bool(black_box("new_checkout"), user)
                    .is_ok_and(|d| d.value)
            }),
            Some(&write_client),
        ),
        Subject {
            allocates: Some(
                "the trait method is an async_trait: each call boxes its future, \
                 and its resolution carries the revision in a flag_metadata map",
            ),
            ..subject(
                "OpenFeature provider bool (trait)",
                Box::new(move || {
                    complete(provider.resolve_bool_value(black_box("new_checkout"), user))
                        .is_ok_and(|d| d.value)
                }),
                Some(&write_client),
            )
        },
        Subject {
            allocates: Some(
                "OpenFeature SDK 0.3 clones and merges the evaluation context, \
                 and boxes futures, on every call",
            ),
            ..subject(
                "OpenFeature SDK client bool",
                Box::new(move || {
                    complete(openfeature.get_bool_value(
                        black_box("new_checkout"),
                        Some(user),
                        None,
                    ))
                    .unwrap_or(false)
                }),
                Some(&write_client),
            )
        },
        Subject {
            // A control: a `String` is allocated per read, so the counter
            // must show one allocation per op here.
            allocates: Some("control: a String is allocated per read"),
            ..subject(
                "get::<String> (control)",
                Box::new(move || client.get::<String>(black_box("key_05")).is_some()),
                Some(&write_client),
            )
        },
    ];
    let mut rows = Vec::new();
    for Subject {
        name: subject,
        read,
        write,
        reads_per_op,
        allocates,
    } in &subjects
    {
        let thread_counts: &[usize] = if allocates.is_some() || *reads_per_op > 1 {
            &[1]
        } else {
            &[1, 2]
        };
        for &threads in thread_counts {
            let mut best = (f64::INFINITY, 0, 0);
            let (mut reads, mut allocations) = (0, 0);
            for _ in 0..ROUNDS {
                let round = measure(threads, read, *write);
                reads += round.1;
                allocations += round.2;
                if round.0 < best.0 {
                    best = round;
                }
            }
            let ns_per_op = best.0 / f64::from(*reads_per_op);
            reads *= u64::from(*reads_per_op);
            rows.push(Row {
                subject,
                allocates: *allocates,
                threads,
                ns_per_op,
                reads,
                allocations,
            });
        }
    }
    let updates = client.snapshot().revision.map_or(0, |r| r.version);

    println!(
        "client_get: ns per read per thread, best of {ROUNDS} rounds of {MEASURE:?}; \
         a writer replaces the config {WRITES_PER_SEC}×/s (not for HashMap); \
         reads and allocations summed over the rounds"
    );
    println!(
        "{:<36} {:>8} {:>10} {:>12} {:>12}",
        "subject", "threads", "ns/op", "reads", "allocs/op"
    );
    for row in &rows {
        println!(
            "{:<36} {:>8} {:>10.2} {:>12} {:>12.3}",
            row.subject,
            row.threads,
            row.ns_per_op,
            row.reads,
            row.allocations as f64 / row.reads as f64
        );
    }
    let find = |subject: &str, threads: usize| {
        rows.iter()
            .find(|r| r.subject == subject && r.threads == threads)
            .map_or(f64::NAN, |r| r.ns_per_op)
    };
    let base1 = find("HashMap::get (no writer)", 1);
    let base2 = find("HashMap::get (no writer)", 2);
    let get1 = find("JonesClient::get::<u64>", 1);
    let get2 = find("JonesClient::get::<u64>", 2);
    println!("config replaced {updates} times during the run");
    println!("goals:");
    let verdict = |met: bool| if met { "met" } else { "NOT MET" };
    for (threads, ratio) in [(1, get1 / base1), (2, get2 / base2)] {
        println!(
            "  get::<u64> within 1.5x of HashMap::get, {threads} thread(s): {ratio:.2}x: {}",
            verdict(ratio <= 1.5)
        );
    }
    for handle in [
        "Setting<u64>::get",
        "16 Setting<u64> handles, in turn",
        "Switch::enabled",
    ] {
        let ns = find(handle, 1);
        println!(
            "  typed handle read within 10 ns, {handle}: {ns:.2} ns (atomic load {:.2} ns): {}",
            find("atomic load (floor)", 1),
            verdict(ns <= 10.0)
        );
    }
    let allocating: Vec<&Row> = rows
        .iter()
        .filter(|r| r.allocates.is_none() && r.allocations > 0)
        .collect();
    println!(
        "  no allocation outside the exempt rows: {}{}",
        verdict(allocating.is_empty()),
        allocating
            .iter()
            .map(|r| format!(
                " ({}, {} threads: {} allocations)",
                r.subject, r.threads, r.allocations
            ))
            .collect::<String>()
    );
    for row in rows
        .iter()
        .filter(|r| r.allocates.is_some() && r.threads == 1)
    {
        println!(
            "    exempt: {} ({:.3} allocs/op): {}",
            row.subject,
            row.allocations as f64 / row.reads as f64,
            row.allocates.unwrap_or_default()
        );
    }
    let figures: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "subject": r.subject,
                "threads": r.threads,
                "ns_per_op": (r.ns_per_op * 100.0).round() / 100.0,
                "reads": r.reads,
                "allocations": r.allocations,
            })
        })
        .collect();
    println!(
        "{}",
        json!({"bench": "client_get", "writes_per_sec": WRITES_PER_SEC, "config_updates": updates, "results": figures})
    );
}
