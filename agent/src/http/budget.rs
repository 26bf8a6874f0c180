//! The agent's budget for buffered request bodies, across all requests at once.
//!
//! Each request reserves what its body may take (its `Content-Length`, or the route's cap
//! when it sends none) before a byte is read, and keeps the reservation until it is
//! answered. When the budget is spent the request gets `503` with `Retry-After` at once:
//! a burst of large bodies costs availability, never unbounded memory.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of request bodies the agent may hold at once.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: u64,
}

/// A reservation, released when dropped.
#[derive(Debug)]
pub struct Reserved {
    _permit: OwnedSemaphorePermit,
}

impl BodyBudget {
    /// A budget of `total` bytes.
    pub fn new(total: u64) -> Self {
        BodyBudget {
            bytes: Arc::new(Semaphore::new(units(total) as usize)),
            total,
        }
    }

    /// Reserves room for a body of up to `bytes`, or `None` when the budget cannot hold it
    /// now.
    pub fn reserve(&self, bytes: u64) -> Option<Reserved> {
        let units = units(bytes.min(self.total)).max(1);
        Arc::clone(&self.bytes)
            .try_acquire_many_owned(units)
            .ok()
            .map(|permit| Reserved { _permit: permit })
    }

    /// Bytes not reserved now.
    pub fn available(&self) -> u64 {
        self.bytes.available_permits() as u64 * UNIT
    }
}

/// The budget counts in KiB: permits stay far below the semaphore's limit.
const UNIT: u64 = 1024;

fn units(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fail_when_spent_and_return_when_released() {
        let budget = BodyBudget::new(10 * UNIT);
        let a = budget.reserve(6 * UNIT).expect("room");
        assert!(budget.reserve(5 * UNIT).is_none(), "over the budget");
        let b = budget.reserve(4 * UNIT).expect("what is left");
        assert_eq!(budget.available(), 0);
        drop(a);
        drop(b);
        assert_eq!(budget.available(), 10 * UNIT, "returned after the burst");
        // A body larger than the whole budget reserves all of it, not more.
        let all = budget.reserve(100 * UNIT).expect("the whole budget");
        assert!(budget.reserve(1).is_none());
        drop(all);
        assert!(
            budget.reserve(0).is_some(),
            "an empty body still takes a unit"
        );
    }
}
