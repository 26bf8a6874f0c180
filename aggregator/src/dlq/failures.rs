//! The last processing error of messages that are being retried, so a dead letter made
//! from a `MAX_DELIVERIES` advisory says why, not just "max deliveries".
//!
//! In memory and bounded: an aggregator that did not see the failures (another instance,
//! or a restart) records "last error unknown" instead.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Most messages remembered.
const CAPACITY: usize = 100_000;

/// One message's failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The last error.
    pub error: String,
    /// First failure seen (ms).
    pub first_at: i64,
    /// Last failure seen (ms).
    pub last_at: i64,
}

/// Failures by stream sequence.
#[derive(Debug, Default)]
pub struct Failures {
    inner: Mutex<(HashMap<u64, Failure>, VecDeque<u64>)>,
}

impl Failures {
    /// Records a failure of a message.
    pub fn record(&self, stream_seq: u64, error: &str, at: i64) {
        let Ok(mut guard) = self.inner.lock() else {
            return;
        };
        let (map, order) = &mut *guard;
        match map.get_mut(&stream_seq) {
            Some(failure) => {
                failure.error = error.to_owned();
                failure.last_at = at;
            }
            None => {
                if order.len() >= CAPACITY
                    && let Some(oldest) = order.pop_front()
                {
                    map.remove(&oldest);
                }
                order.push_back(stream_seq);
                map.insert(
                    stream_seq,
                    Failure {
                        error: error.to_owned(),
                        first_at: at,
                        last_at: at,
                    },
                );
            }
        }
    }

    /// Takes what is known of a message's failures.
    pub fn take(&self, stream_seq: u64) -> Option<Failure> {
        let mut guard = self.inner.lock().ok()?;
        let (map, order) = &mut *guard;
        let failure = map.remove(&stream_seq)?;
        order.retain(|s| *s != stream_seq);
        Some(failure)
    }

    /// Forgets a message that finally succeeded.
    pub fn forget(&self, stream_seq: u64) {
        if let Ok(mut guard) = self.inner.lock()
            && guard.0.remove(&stream_seq).is_some()
        {
            guard.1.retain(|s| *s != stream_seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_first_and_last_failure() {
        let failures = Failures::default();
        failures.record(7, "db down", 100);
        failures.record(7, "db still down", 300);
        assert_eq!(
            failures.take(7),
            Some(Failure {
                error: "db still down".into(),
                first_at: 100,
                last_at: 300
            })
        );
        assert_eq!(failures.take(7), None);
    }
}
