//! Folding stored events into catalog entries: grouped per entry, so that one entry is
//! read and written once per pass, however many of its events the pass holds.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{Entry, Limits};

/// Names one catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Project.
    pub project_id: String,
    /// Event name.
    pub event: String,
    /// `api` or `system`.
    pub source: String,
}

/// An entry as the folder reads and writes it. Its counts and first/last seen times are
/// the entry's own (the columns stored beside its body are written from them).
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Which entry.
    pub key: Key,
    /// Schema, drift, examples, PII, counts.
    pub entry: Entry,
    /// The row's version when it was read; `None`: a new entry.
    pub version: Option<i64>,
}

impl State {
    /// An entry nothing was folded into yet.
    pub fn empty(key: Key) -> State {
        State {
            key,
            entry: Entry::default(),
            version: None,
        }
    }
}

/// A stored event, as the catalog reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its id.
    pub id: Uuid,
    /// Its entry.
    pub key: Key,
    /// The payload JSON.
    pub payload: String,
    /// When the agent received it (ms).
    pub received_at: i64,
}

/// Stored events per entry, in store order; keys sorted.
pub type Groups = BTreeMap<Key, Vec<Stored>>;

/// Groups stored events (in store order) per entry.
pub fn group(events: Vec<Stored>) -> Groups {
    let mut groups: Groups = BTreeMap::new();
    for event in events {
        groups.entry(event.key.clone()).or_default().push(event);
    }
    groups
}

/// Folds every group into its state; a group without a loaded state starts an entry.
/// `now` (ms) dates the missing-field check.
pub fn fold(states: &mut Vec<State>, groups: &Groups, limits: &Limits, now: i64) {
    for (key, events) in groups {
        let index = match states.iter().position(|s| &s.key == key) {
            Some(index) => index,
            None => {
                states.push(State::empty(key.clone()));
                states.len() - 1
            }
        };
        let state = &mut states[index];
        let examples_from = events.len().saturating_sub(limits.examples);
        for (position, event) in events.iter().enumerate() {
            // The agent validated the payload as JSON; one that no longer parses is left out
            // of the catalog rather than holding up the events after it.
            let Ok(payload) = serde_json::from_str::<serde_json::Value>(&event.payload) else {
                tracing::warn!(event_id = %event.id, "Stored payload is not JSON; left out of the catalog.");
                continue;
            };
            state.entry.absorb_kept(
                &payload,
                event.received_at,
                &event.id.hyphenated().to_string(),
                limits,
                position >= examples_from,
            );
        }
        state.entry.check_missing(now, limits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(name: &str, received_at: i64, payload: &str) -> Stored {
        Stored {
            id: Uuid::now_v7(),
            key: Key {
                project_id: "proj_a".into(),
                event: name.into(),
                source: "api".into(),
            },
            payload: payload.into(),
            received_at,
        }
    }

    #[test]
    fn groups_per_entry_and_keeps_counts_and_times() {
        let groups = group(vec![
            stored("order.completed", 2_000, r#"{"amount":1}"#),
            stored("cart.viewed", 3_000, "{}"),
            stored("order.completed", 1_000, r#"{"amount":2}"#),
            stored("order.completed", 1_500, "not json"),
        ]);
        // Sorted keys: cart.viewed before order.completed.
        let names: Vec<_> = groups.keys().map(|k| k.event.as_str()).collect();
        assert_eq!(names, ["cart.viewed", "order.completed"]);

        let key = Key {
            project_id: "proj_a".into(),
            event: "order.completed".into(),
            source: "api".into(),
        };
        let mut stored = State {
            version: Some(3),
            ..State::empty(key)
        };
        stored.entry.absorb(
            &serde_json::json!({"amount": 0}),
            1_500,
            "e0",
            &Limits::default(),
        );
        let mut states = vec![stored];
        fold(&mut states, &groups, &Limits::default(), 4_000);
        assert_eq!(states.len(), 2);
        let order = states
            .iter()
            .find(|s| s.key.event == "order.completed")
            .expect("entry");
        // The unparsable payload is not counted; the version read is kept for the write.
        assert_eq!(order.entry.events(), 3);
        assert_eq!(order.entry.seen_range(), Some((1_000, 2_000)));
        assert_eq!(order.version, Some(3));
        let cart = states
            .iter()
            .find(|s| s.key.event == "cart.viewed")
            .expect("entry");
        assert_eq!(
            (cart.entry.events(), cart.entry.seen_range(), cart.version),
            (1, Some((3_000, 3_000)), None)
        );
    }
}
