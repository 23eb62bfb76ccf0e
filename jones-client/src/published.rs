//! [`Published`]: a value one publisher replaces and many threads read,
//! with reads that cost an atomic load and a thread-local lookup.
//!
//! The value lives in an `ArcSwap`, beside a generation counter the
//! publisher bumps (`Release`) after each replacement. Each reading thread
//! keeps the last `Arc` it loaded, with the generation it read before
//! loading, in a small thread-local table. A read loads the generation
//! (`Acquire`): when it matches the cached one, the cached value is the
//! current one (or newer) and is used as is; otherwise the thread loads
//! the `ArcSwap` once and caches it. So the `ArcSwap` load, the costly part
//! of a read (a sequentially consistent exchange), happens once per thread
//! per publication, not once per read.
//!
//! Why a read is never older than the publication it saw: the publisher
//! stores the value *before* bumping the generation, and a reader that
//! reads generation `g` (`Acquire`, synchronizing with the bump) then
//! loads a value at least as new as the one that bump followed. A reader
//! that loads a newer value with an older generation just loads again at
//! its next read.
//!
//! A thread keeps the last value of each of the few sources it read most
//! recently (an old config stays alive until that thread reads again or
//! moves on). Nothing locks, nothing allocates on a read; a re-entrant
//! read (a read inside a read on the same thread) goes to the `ArcSwap`.

use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

/// Sources a thread keeps a cached value for.
const SLOTS: usize = 8;

/// Ids of sources: never reused, so a cached entry never matches another.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

struct Entry {
    source: u64,
    generation: u64,
    value: Arc<dyn Any + Send + Sync>,
}

struct Table {
    entries: [Option<Entry>; SLOTS],
    /// The slot the next new source replaces (round robin).
    next: usize,
}

thread_local! {
    static TABLE: RefCell<Table> = const {
        RefCell::new(Table { entries: [const { None }; SLOTS], next: 0 })
    };
}

/// See the module docs.
pub(crate) struct Published<V> {
    id: u64,
    generation: AtomicU64,
    current: ArcSwap<V>,
}

impl<V> Published<V> {
    /// The current value, to keep.
    pub(crate) fn load_full(&self) -> Arc<V> {
        self.current.load_full()
    }
}

impl<V: Send + Sync + 'static> Published<V> {
    pub(crate) fn new(value: Arc<V>) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            current: ArcSwap::new(value),
        }
    }

    /// Replaces the value. Publishers must be serialized by the caller.
    pub(crate) fn store(&self, value: Arc<V>) {
        self.current.store(value);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Calls `read` with the current value; see the module docs.
    #[inline]
    pub(crate) fn read<R>(&self, read: impl FnOnce(&V) -> R) -> R {
        let generation = self.generation.load(Ordering::Acquire);
        let mut read = Some(read);
        let cached = TABLE.try_with(|table| {
            let mut table = table.try_borrow_mut().ok()?;
            let slot = self.slot(&mut table, generation);
            let value = table.entries[slot].as_ref()?.value.downcast_ref::<V>()?;
            read.take().map(|read| read(value))
        });
        match (cached, read) {
            (Ok(Some(result)), _) => result,
            (_, Some(read)) => read(&self.current.load()),
            (_, None) => unreachable!("`read` is taken only when it ran"),
        }
    }

    /// The slot of `table` holding this source's value of `generation`,
    /// loading it on a miss.
    #[inline]
    fn slot(&self, table: &mut Table, generation: u64) -> usize {
        let mine = |e: &Option<Entry>| e.as_ref().is_some_and(|e| e.source == self.id);
        if let Some(slot) = table.entries.iter().position(mine) {
            if table.entries[slot]
                .as_ref()
                .is_some_and(|e| e.generation == generation)
            {
                return slot;
            }
            self.fill(table, slot, generation);
            return slot;
        }
        let slot = table.next;
        table.next = (slot + 1) % SLOTS;
        self.fill(table, slot, generation);
        slot
    }

    #[cold]
    fn fill(&self, table: &mut Table, slot: usize, generation: u64) {
        let value: Arc<dyn Any + Send + Sync> = self.current.load_full();
        table.entries[slot] = Some(Entry {
            source: self.id,
            generation,
            value,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_sees_each_publication_and_nested_reads_work() {
        let published = Published::new(Arc::new(1u64));
        assert_eq!(published.read(|v| *v), 1);
        published.store(Arc::new(2));
        assert_eq!(published.read(|v| *v), 2);
        let nested = published.read(|outer| published.read(|inner| outer + inner));
        assert_eq!(nested, 4);
    }

    #[test]
    fn more_sources_than_slots_each_read_their_own_value() {
        let sources: Vec<Published<usize>> = (0..SLOTS * 2 + 1)
            .map(|i| Published::new(Arc::new(i)))
            .collect();
        for _ in 0..3 {
            for (i, source) in sources.iter().enumerate() {
                assert_eq!(source.read(|v| *v), i);
            }
        }
        sources[3].store(Arc::new(300));
        assert_eq!(sources[3].read(|v| *v), 300);
    }

    #[test]
    fn readers_on_other_threads_see_every_later_publication() {
        let published = Arc::new(Published::new(Arc::new(0u64)));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let published = published.clone();
                std::thread::spawn(move || {
                    let mut last = 0;
                    while last < 10_000 {
                        let now = published.read(|v| *v);
                        assert!(now >= last, "went back from {last} to {now}");
                        last = now;
                    }
                })
            })
            .collect();
        for n in 1..=10_000 {
            published.store(Arc::new(n));
        }
        for reader in readers {
            reader.join().unwrap();
        }
    }
}
