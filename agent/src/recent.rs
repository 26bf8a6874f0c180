//! The idempotency keys this agent accepted recently, so a resend is answered `200` with
//! the original even when the event went out in a bundle (whose message id is not the
//! key's, so the broker cannot tell).
//!
//! Bounded in time (the replay window, the stream's duplicate window) and in size (the
//! oldest keys go first). A key being published right now is claimed: a second request
//! with it waits for the first's outcome instead of publishing a second copy. Beyond this
//! agent and this window, the aggregator's unique key still stores the event once.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// What a key is in the index; `V` says where its event is (small: the index holds
/// many keys, never the events themselves).
#[derive(Clone)]
enum Slot<V> {
    /// Being published; the outcome (`Some` once accepted) will be sent here.
    Publishing(watch::Receiver<Option<V>>),
    /// Accepted: where the event is.
    Accepted(V),
}

struct Entry<V> {
    slot: Slot<V>,
    at: Instant,
}

/// Keys are event ids (128 bits, derived from project and idempotency key): 16 bytes an
/// entry however long the key.
struct Inner<V> {
    keys: HashMap<u128, Entry<V>>,
    order: VecDeque<(Instant, u128)>,
}

/// The index.
pub struct RecentKeys<V> {
    window: Duration,
    capacity: usize,
    inner: Mutex<Inner<V>>,
}

/// The answer to [`RecentKeys::claim`].
pub enum Claim<'a, V: Clone> {
    /// The key is this request's to publish; report the outcome through the guard.
    Mine(Guard<'a, V>),
    /// Accepted before: where the original event is.
    Accepted(V),
    /// Another request is publishing it: its outcome arrives here.
    Wait(watch::Receiver<Option<V>>),
}

/// A claimed key. [`Guard::accepted`] records the event; dropped without it (the publish
/// failed), the key is free again.
pub struct Guard<'a, V: Clone> {
    index: &'a RecentKeys<V>,
    key: u128,
    sender: Option<watch::Sender<Option<V>>>,
}

impl<V: Clone> RecentKeys<V> {
    /// An index keeping keys for `window`, at most `capacity` of them.
    pub fn new(window: Duration, capacity: usize) -> Self {
        RecentKeys {
            window,
            capacity,
            inner: Mutex::new(Inner {
                keys: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    /// Looks `key` up, claiming it when it is free.
    pub fn claim(&self, key: u128) -> Claim<'_, V> {
        let now = Instant::now();
        let mut inner = match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.expire(&mut inner, now);
        if let Some(entry) = inner.keys.get(&key) {
            return match &entry.slot {
                Slot::Accepted(at) => Claim::Accepted(at.clone()),
                Slot::Publishing(receiver) => Claim::Wait(receiver.clone()),
            };
        }
        let (sender, receiver) = watch::channel(None);
        inner.keys.insert(
            key,
            Entry {
                slot: Slot::Publishing(receiver),
                at: now,
            },
        );
        inner.order.push_back((now, key));
        Claim::Mine(Guard {
            index: self,
            key,
            sender: Some(sender),
        })
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.keys.len()).unwrap_or(0)
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn expire(&self, inner: &mut Inner<V>, now: Instant) {
        while let Some((at, _)) = inner.order.front() {
            let old = now.duration_since(*at) > self.window;
            if !old && inner.order.len() <= self.capacity {
                break;
            }
            let Some((at, key)) = inner.order.pop_front() else {
                break;
            };
            // Only the entry this order item was made for (a key freed and claimed again
            // has a newer one).
            if inner.keys.get(&key).is_some_and(|e| e.at == at) {
                inner.keys.remove(&key);
            }
        }
    }
}

impl<V: Clone> Guard<'_, V> {
    /// Records the key as accepted with where its event is, and wakes those waiting.
    pub fn accepted(mut self, at: V) {
        if let Ok(mut inner) = self.index.inner.lock()
            && let Some(entry) = inner.keys.get_mut(&self.key)
        {
            entry.slot = Slot::Accepted(at.clone());
        }
        if let Some(sender) = self.sender.take() {
            let _ = sender.send(Some(at));
        }
    }
}

impl<V: Clone> Drop for Guard<'_, V> {
    fn drop(&mut self) {
        // Not accepted: free the key; those waiting see the sender gone and try themselves.
        if self.sender.is_some()
            && let Ok(mut inner) = self.index.inner.lock()
            && inner
                .keys
                .get(&self.key)
                .is_some_and(|e| matches!(e.slot, Slot::Publishing(_)))
        {
            inner.keys.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_claimed_once_then_answered_from_the_index() {
        let index = RecentKeys::<u64>::new(Duration::from_secs(60), 10);
        let Claim::Mine(guard) = index.claim(1) else {
            panic!("free");
        };
        let Claim::Wait(mut waiting) = index.claim(1) else {
            panic!("being published");
        };
        guard.accepted(7u64);
        assert_eq!(*waiting.borrow_and_update(), Some(7));
        assert!(matches!(index.claim(1), Claim::Accepted(7)));
    }

    #[test]
    fn a_failed_publish_frees_the_key() {
        let index = RecentKeys::<u64>::new(Duration::from_secs(60), 10);
        let Claim::Mine(guard) = index.claim(1) else {
            panic!("free");
        };
        let Claim::Wait(waiting) = index.claim(1) else {
            panic!("being published");
        };
        drop(guard);
        assert!(
            waiting.has_changed().is_err(),
            "the waiter learns it failed"
        );
        assert!(matches!(index.claim(1), Claim::Mine(_)));
    }

    #[test]
    fn old_and_surplus_keys_are_forgotten() {
        let index = RecentKeys::<u64>::new(Duration::from_secs(60), 3);
        for n in 0..5 {
            if let Claim::Mine(guard) = index.claim(n) {
                guard.accepted(1u64);
            }
        }
        assert!(index.len() <= 4, "{}", index.len());
        assert!(
            matches!(index.claim(0), Claim::Mine(_)),
            "the oldest went first"
        );
        let index = RecentKeys::<u64>::new(Duration::ZERO, 10);
        if let Claim::Mine(guard) = index.claim(1) {
            guard.accepted(1u64);
        }
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(index.claim(1), Claim::Mine(_)), "past the window");
    }
}
