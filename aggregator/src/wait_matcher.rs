//! Resolving waits: stored events checked against open waits (from the queue the write
//! path fills), a new wait checked against stored events, and timeouts. Every resolution is
//! a conditional transition with its outcome in the outbox, in one transaction, so each
//! wait resolves once, on any number of aggregators, across crashes.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_nats::jetstream;
use sendrealm_common::event::Timestamp;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::{Store, StoreError, Transition, WaitCandidate, WaitRow};
use crate::waits;

/// How often the queue and the due waits are checked.
const EVERY: Duration = Duration::from_millis(200);
/// Queue rows (stored batches) per pass.
const QUEUE_ROWS: i64 = 64;
/// Due waits per pass.
const DUE_BATCH: i64 = 500;
/// A wait times out this long after `timeout_at`: an event received just before it may
/// still be in the stream or in a batch being stored.
pub const GRACE_MS: i64 = 1_000;
/// The stream outcomes are published to.
pub const WAITS_STREAM: &str = "SENDREALM_WAITS";

/// The contact a wait names, as identity resolution knows it now (an identifier linked
/// since registration counts).
async fn contact_of(store: &Store, wait: &WaitRow) -> Result<Option<Uuid>, StoreError> {
    if wait.identity_type == "contact_id" {
        return Ok(Uuid::try_parse(&wait.identity_value).ok());
    }
    store
        .contact_for(&wait.project_id, &wait.identity_type, &wait.identity_value)
        .await
}

/// What a matching pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Matched {
    /// Queued batches checked.
    pub batches: usize,
    /// Waits resolved.
    pub resolved: usize,
}

/// Checks queued stored events against open waits once.
///
/// Waits are looked up by the identifiers of the events' contacts (every identifier linked
/// to them now, and the contact id itself), so the cost follows the batch, not the number
/// of open waits.
pub async fn match_pass(store: &Store, now: i64) -> Result<Matched, StoreError> {
    let queued = store.wait_queue(QUEUE_ROWS).await?;
    if queued.is_empty() {
        return Ok(Matched::default());
    }
    let queue_ids: Vec<i64> = queued.iter().map(|(id, _)| *id).collect();
    let batches = queue_ids.len();
    if !store.any_open_wait().await? {
        store.resolve_waits(&[], &queue_ids).await?;
        return Ok(Matched {
            batches,
            resolved: 0,
        });
    }
    let ids: Vec<Uuid> = queued.into_iter().flat_map(|(_, ids)| ids).collect();
    let events = store.wait_candidates(&ids).await?;
    let mut contacts: Vec<Uuid> = events.iter().filter_map(|e| e.contact_id).collect();
    contacts.sort_unstable();
    contacts.dedup();
    // (kind, value) → contact, for every identifier of the batch's contacts.
    let mut identities: HashMap<(String, String), Uuid> = contacts
        .iter()
        .map(|c| (("contact_id".to_owned(), c.hyphenated().to_string()), *c))
        .collect();
    for (contact, kind, value) in store.identifiers_of(&contacts).await? {
        identities.insert((kind, value), contact);
    }
    let mut values_of: HashMap<Uuid, Vec<String>> = HashMap::new();
    for ((_, value), contact) in &identities {
        values_of.entry(*contact).or_default().push(value.clone());
    }
    let mut by_name: BTreeMap<(&str, &str), Vec<&WaitCandidate>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.contact_id.is_some()) {
        by_name
            .entry((e.project_id.as_str(), e.event.as_str()))
            .or_default()
            .push(e);
    }
    let mut transitions = Vec::new();
    for ((project, event), candidates) in &by_name {
        let mut values: Vec<String> = candidates
            .iter()
            .filter_map(|e| e.contact_id)
            .flat_map(|c| values_of.get(&c).into_iter().flatten().cloned())
            .collect();
        values.sort_unstable();
        values.dedup();
        for wait in store.open_waits_for(project, event, &values).await? {
            let key = (wait.identity_type.clone(), wait.identity_value.clone());
            let Some(contact) = identities.get(&key).copied() else {
                continue;
            };
            if let Some(event) = waits::first_match(&wait, contact, candidates.iter().copied()) {
                let done = waits::received(&wait, event, now);
                transitions.push(Transition {
                    outcome: Some(waits::outcome(&done, now)),
                    wait: done,
                });
            }
        }
    }
    let won = store.resolve_waits(&transitions, &queue_ids).await?;
    Ok(Matched {
        batches,
        resolved: won.into_iter().filter(|w| *w).count(),
    })
}

/// Looks back for a wait just registered: the earliest stored event that satisfies it
/// resolves it now. Returns the wait as it stands afterwards.
pub async fn look_back(store: &Store, wait: &WaitRow, now: i64) -> Result<WaitRow, StoreError> {
    let Some(contact) = contact_of(store, wait).await? else {
        return Ok(wait.clone());
    };
    let events = store
        .contact_events(
            &wait.project_id,
            contact,
            &wait.event,
            wait.after_at,
            wait.timeout_at,
        )
        .await?;
    if let Some(event) = waits::first_match(wait, contact, &events) {
        let done = waits::received(wait, event, now);
        store
            .resolve_waits(
                &[Transition {
                    outcome: Some(waits::outcome(&done, now)),
                    wait: done,
                }],
                &[],
            )
            .await?;
    }
    Ok(store.wait(&wait.id).await?.unwrap_or_else(|| wait.clone()))
}

/// Times out the waits due at `now` (past their grace); returns how many.
pub async fn timeout_pass(store: &Store, now: i64) -> Result<usize, StoreError> {
    let due = store.due_waits(now - GRACE_MS, DUE_BATCH).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let transitions: Vec<Transition> = due
        .iter()
        .map(|w| {
            let done = waits::timed_out(w, now);
            Transition {
                outcome: Some(waits::outcome(&done, now)),
                wait: done,
            }
        })
        .collect();
    let won = store.resolve_waits(&transitions, &[]).await?;
    Ok(won.into_iter().filter(|w| *w).count())
}

/// Makes sure the outcomes' stream exists (the outbox publishes to it), with the events
/// stream's replicas.
pub async fn ensure_stream(js: &jetstream::Context, replicas: usize) -> Result<(), String> {
    js.get_or_create_stream(jetstream::stream::Config {
        name: WAITS_STREAM.to_owned(),
        subjects: vec![format!("{}.>", waits::OUTCOME_PREFIX)],
        duplicate_window: Duration::from_secs(120),
        allow_message_ttl: true,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas.max(1),
        ..Default::default()
    })
    .await
    .map(|_| ())
    .map_err(|e| format!("cannot create stream {WAITS_STREAM}: {e}"))
}

/// Matches and times out waits until `stop`; wakes the outbox when outcomes were written.
pub async fn run(
    store: Store,
    js: jetstream::Context,
    outbox: std::sync::Arc<tokio::sync::Notify>,
    replicas: usize,
    stop: CancellationToken,
) {
    let mut stream_ready = false;
    loop {
        if !stream_ready {
            stream_ready = ensure_stream(&js, replicas)
                .await
                .map_err(|error| tracing::debug!(%error, "Waits stream not ready."))
                .is_ok();
        }
        let now = Timestamp::now().unix_millis();
        let matched = match match_pass(&store, now).await {
            Ok(matched) => matched,
            Err(error) => {
                tracing::warn!(%error, "Wait matching failed; the events stay queued.");
                Matched::default()
            }
        };
        let timed_out = match timeout_pass(&store, now).await {
            Ok(n) => n,
            Err(error) => {
                tracing::warn!(%error, "Wait timeouts failed; retrying.");
                0
            }
        };
        if matched.resolved + timed_out > 0 {
            outbox.notify_one();
        }
        // Even under a backlog the next pass waits its turn: matching trails the drain by
        // a pass or two rather than taking the database's turns from it (a pass takes up
        // to 64 stored batches, far more than arrive in one interval at full load).
        let _ = matched.batches;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}
