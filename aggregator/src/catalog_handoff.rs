//! Events this aggregator just stored, handed to its catalog folder in memory, so the
//! folder need not read them back from the database.
//!
//! The queue (`catalog_queue`) stays the durable record of what is to be folded; this is
//! only a shortcut for it. A pass uses the events in hand when it has every event of the
//! queue rows it took, and reads them all back otherwise (after a restart, or for rows
//! another aggregator queued): both give the same events, so the catalog is the same.
//! Reading back was about a sixth of the aggregator's CPU while draining into SQLite
//! (every value of every row copied twice on its way out of sqlx).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use uuid::Uuid;

use crate::catalog::fold::Stored;

/// Payload bytes held at most; past it the oldest go (their pass reads them back).
const MAX_BYTES: usize = 32 * 1024 * 1024;

/// Stored events in hand, by id, in the order they were stored.
#[derive(Debug, Default)]
pub struct Handoff {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    events: HashMap<Uuid, (u64, Stored)>,
    order: VecDeque<Uuid>,
    next: u64,
    bytes: usize,
}

impl Handoff {
    /// Offers the events a transaction just committed, in store order.
    pub fn offer(&self, stored: impl IntoIterator<Item = Stored>) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        for event in stored {
            inner.bytes += event.payload.len();
            inner.next += 1;
            let order = inner.next;
            inner.order.push_back(event.id);
            if let Some((_, old)) = inner.events.insert(event.id, (order, event)) {
                inner.bytes -= old.payload.len();
            }
        }
        while inner.bytes > MAX_BYTES {
            let Some(id) = inner.order.pop_front() else {
                break;
            };
            if let Some((_, old)) = inner.events.remove(&id) {
                inner.bytes -= old.payload.len();
            }
        }
    }

    /// Every event of `ids`, in store order, if all are in hand; the events taken (or,
    /// when some are missing, those present) leave the hand-off either way.
    pub fn take(&self, ids: &[Uuid]) -> Option<Vec<Stored>> {
        let mut inner = self.inner.lock().ok()?;
        let complete = ids.iter().all(|id| inner.events.contains_key(id));
        let mut taken: Vec<(u64, Stored)> = ids
            .iter()
            .filter_map(|id| inner.events.remove(id))
            .collect();
        inner.bytes -= taken.iter().map(|(_, e)| e.payload.len()).sum::<usize>();
        if inner.order.len() > 2 * inner.events.len() + 1024 {
            // Ids taken stay in `order` until they reach its front; compact now and then.
            let Inner { events, order, .. } = &mut *inner;
            order.retain(|id| events.contains_key(id));
        }
        if !complete {
            return None;
        }
        taken.sort_unstable_by_key(|(order, _)| *order);
        Some(taken.into_iter().map(|(_, event)| event).collect())
    }

    /// How many events are in hand.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.events.len()).unwrap_or(0)
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::fold::Key;

    fn stored(n: u128, payload: &str) -> Stored {
        Stored {
            id: Uuid::from_u128(n),
            key: Key {
                project_id: "proj_a".into(),
                event: "order.completed".into(),
                source: "api".into(),
            },
            payload: payload.into(),
            received_at: n as i64,
        }
    }

    #[test]
    fn a_complete_set_comes_back_in_store_order_once() {
        let handoff = Handoff::default();
        handoff.offer([stored(3, "{}"), stored(1, "{}")]);
        handoff.offer([stored(2, "{}")]);
        let ids = [Uuid::from_u128(2), Uuid::from_u128(1), Uuid::from_u128(3)];
        let taken = handoff.take(&ids).unwrap();
        let order: Vec<u128> = taken.iter().map(|e| e.id.as_u128()).collect();
        assert_eq!(order, vec![3, 1, 2], "the order they were stored in");
        assert!(handoff.take(&ids).is_none(), "taken once");
        assert!(handoff.is_empty());
    }

    #[test]
    fn a_missing_event_means_reading_all_back_and_frees_the_rest() {
        let handoff = Handoff::default();
        handoff.offer([stored(1, "{}"), stored(2, "{}")]);
        assert!(
            handoff
                .take(&[Uuid::from_u128(1), Uuid::from_u128(9)])
                .is_none()
        );
        assert_eq!(handoff.len(), 1, "the one present left too");
        assert!(handoff.take(&[Uuid::from_u128(2)]).is_some());
    }

    #[test]
    fn the_oldest_go_past_the_byte_bound() {
        let handoff = Handoff::default();
        let big = "x".repeat(MAX_BYTES / 2 + 1);
        handoff.offer([stored(1, &big), stored(2, &big)]);
        assert!(handoff.take(&[Uuid::from_u128(1)]).is_none());
        assert!(handoff.take(&[Uuid::from_u128(2)]).is_some());
    }
}
