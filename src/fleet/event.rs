//! The event queue: integer times in seconds, ties broken by insertion order, so a run is a pure
//! function of its inputs.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What happens at an event. Payloads are dense ids into the run's vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EventKind {
    /// The next job of the arrival sequence is submitted.
    Arrival,
    /// A job's run ends (stale when `epoch` is not the job's current run).
    Finish {
        job: u32,
        /// Run number of the job when the event was scheduled.
        epoch: u32,
    },
    /// A job chosen for eviction with a grace period is stopped now.
    EvictDue {
        job: u32,
        /// Run number of the job when the eviction was decided.
        epoch: u32,
    },
    /// A delivery of hardware is installed.
    Delivery(u32),
    /// Quotas and reservations are re-evaluated (ramps, deliveries, window edges).
    QuotaUpdate,
    /// An UltraServer of this generation fails.
    Failure(u32),
    /// An UltraServer (global id) is repaired.
    Repair(u32),
    /// A sample of the time series is taken.
    Report,
    /// A booked Capacity Block (index among the run's booked blocks) starts.
    BlockStart(u32),
    /// A Capacity Block's instances are terminated (30 minutes before its end).
    BlockTerminate(u32),
    /// A Capacity Block ends: its chips return.
    BlockEnd(u32),
}

/// One event: ordered by (time, sequence number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Event {
    /// When, in seconds since the scenario start.
    pub time_s: u64,
    /// Insertion order: events at one time run in the order they were scheduled.
    pub seq: u64,
    pub kind: EventKind,
}

/// A min-queue of events.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    heap: BinaryHeap<Reverse<Event>>,
    next_seq: u64,
}

impl EventQueue {
    /// An empty queue.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Schedule `kind` at `time_s`.
    #[inline]
    pub(crate) fn push(&mut self, time_s: u64, kind: EventKind) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Event { time_s, seq, kind }));
    }

    /// The earliest event.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Event> {
        self.heap.pop().map(|Reverse(e)| e)
    }

    /// Time of the earliest event.
    #[inline]
    pub(crate) fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(e)| e.time_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_then_insertion_order() {
        let mut q = EventQueue::new();
        q.push(5, EventKind::Report);
        q.push(3, EventKind::QuotaUpdate);
        q.push(5, EventKind::Arrival);
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|e| e.kind).collect();
        assert_eq!(
            order,
            [
                EventKind::QuotaUpdate,
                EventKind::Report,
                EventKind::Arrival
            ]
        );
    }
}
