//! The idempotency keys this agent accepted recently, so a resend is answered `200` with
//! the original even when the event went out in a bundle (whose message id is not the
//! key's, so the broker cannot tell).
//!
//! Bounded in time (the replay window, the stream's duplicate window) and in size (the
//! oldest keys go first). A key being published right now is claimed: a second request
//! with it waits for the first's outcome instead of publishing a second copy. Beyond this
//! agent and this window, the aggregator's unique key still stores the event once.

use std::collections::VecDeque;
use std::collections::hash_map::{Entry as MapEntry, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// What a key is in the index; `V` says where its event is (small: the index holds
/// many keys, never the events themselves).
enum Slot<V> {
    /// Being published; requests that resent the key meanwhile wait here (usually none,
    /// so nothing is allocated for them).
    Publishing(Vec<oneshot::Sender<V>>),
    /// Accepted: where the event is.
    Accepted(V),
}

struct Entry<V> {
    slot: Slot<V>,
    at: Instant,
}

/// Keys are event ids (128 bits, derived from project and idempotency key): 16 bytes an
/// entry however long the key. The map's hash is seeded at random per process, so keys
/// ground to collide in one agent's map do not collide in another's; it is several times
/// cheaper than SipHash on a 128-bit key.
struct Inner<V> {
    keys: HashMap<u128, Entry<V>, foldhash::fast::RandomState>,
    order: VecDeque<(Instant, u128)>,
    /// Waiters of keys pushed out while still being published (the index was full): the
    /// publish's outcome still reaches them. Empty but for that.
    evicted: HashMap<u128, Vec<oneshot::Sender<V>>, foldhash::fast::RandomState>,
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
    /// Another request is publishing it: where its event is arrives here, or the sender
    /// is dropped when that publish failed.
    Wait(oneshot::Receiver<V>),
}

/// A claimed key. [`Guard::accepted`] records the event; dropped without it (the publish
/// failed), the key is free again.
pub struct Guard<'a, V: Clone> {
    index: &'a RecentKeys<V>,
    key: u128,
    done: bool,
}

impl<V: Clone> RecentKeys<V> {
    /// An index keeping keys for `window`, at most `capacity` of them.
    pub fn new(window: Duration, capacity: usize) -> Self {
        RecentKeys {
            window,
            capacity,
            inner: Mutex::new(Inner {
                keys: HashMap::default(),
                order: VecDeque::new(),
                evicted: HashMap::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        // The map stays consistent whatever panicked while holding it.
        match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Looks `key` up, claiming it when it is free.
    pub fn claim(&self, key: u128) -> Claim<'_, V> {
        let now = Instant::now();
        let mut inner = self.lock();
        self.expire(&mut inner, now);
        match inner.keys.entry(key) {
            MapEntry::Occupied(mut entry) => match &mut entry.get_mut().slot {
                Slot::Accepted(at) => Claim::Accepted(at.clone()),
                Slot::Publishing(waiters) => {
                    let (sender, receiver) = oneshot::channel();
                    waiters.push(sender);
                    Claim::Wait(receiver)
                }
            },
            MapEntry::Vacant(entry) => {
                entry.insert(Entry {
                    slot: Slot::Publishing(Vec::new()),
                    at: now,
                });
                inner.order.push_back((now, key));
                Claim::Mine(Guard {
                    index: self,
                    key,
                    done: false,
                })
            }
        }
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.lock().keys.len()
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
            if let MapEntry::Occupied(entry) = inner.keys.entry(key)
                && entry.get().at == at
                && let Slot::Publishing(waiters) = entry.remove().slot
                && !waiters.is_empty()
            {
                inner.evicted.insert(key, waiters);
            }
        }
    }
}

impl<V: Clone> Guard<'_, V> {
    /// Records the key as accepted with where its event is, and wakes those waiting.
    pub fn accepted(mut self, at: V) {
        self.done = true;
        let waiters = {
            let mut inner = self.index.lock();
            let mut waiters = match inner.keys.get_mut(&self.key) {
                Some(entry) => match std::mem::replace(&mut entry.slot, Slot::Accepted(at.clone()))
                {
                    Slot::Publishing(waiters) => waiters,
                    Slot::Accepted(_) => Vec::new(),
                },
                None => Vec::new(),
            };
            // Almost always empty: no hashing on the way.
            if !inner.evicted.is_empty()
                && let Some(evicted) = inner.evicted.remove(&self.key)
            {
                waiters.extend(evicted);
            }
            waiters
        };
        for waiter in waiters {
            let _ = waiter.send(at.clone());
        }
    }
}

impl<V: Clone> Drop for Guard<'_, V> {
    fn drop(&mut self) {
        // Not accepted: free the key; those waiting see their sender gone and try
        // themselves.
        if self.done {
            return;
        }
        let mut inner = self.index.lock();
        if let MapEntry::Occupied(entry) = inner.keys.entry(self.key)
            && matches!(entry.get().slot, Slot::Publishing(_))
        {
            entry.remove();
        }
        if !inner.evicted.is_empty() {
            inner.evicted.remove(&self.key);
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
        assert_eq!(waiting.try_recv().ok(), Some(7));
        assert!(matches!(index.claim(1), Claim::Accepted(7)));
    }

    #[test]
    fn waiters_of_a_key_pushed_out_mid_publish_still_get_its_outcome() {
        let index = RecentKeys::<u64>::new(Duration::from_secs(60), 1);
        let Claim::Mine(guard) = index.claim(1) else {
            panic!("free");
        };
        let Claim::Wait(mut waiting) = index.claim(1) else {
            panic!("being published");
        };
        drop(index.claim(2));
        drop(index.claim(3));
        assert!(
            index.inner.lock().is_ok_and(|i| !i.keys.contains_key(&1)),
            "pushed out of the full index"
        );
        guard.accepted(7u64);
        assert_eq!(waiting.try_recv().ok(), Some(7));
    }

    #[test]
    fn a_failed_publish_frees_the_key() {
        let index = RecentKeys::<u64>::new(Duration::from_secs(60), 10);
        let Claim::Mine(guard) = index.claim(1) else {
            panic!("free");
        };
        let Claim::Wait(mut waiting) = index.claim(1) else {
            panic!("being published");
        };
        drop(guard);
        assert_eq!(
            waiting.try_recv(),
            Err(oneshot::error::TryRecvError::Closed),
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
