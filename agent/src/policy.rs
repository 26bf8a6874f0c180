//! The agent's view of project policies: a snapshot swapped atomically on every change,
//! fed by a watch on the policy KV bucket.
//!
//! Requests read the current snapshot without a lock (`ArcSwap`). The watcher rebuilds a
//! snapshot per change (rare) and keeps each project's rate limiter when its rates did not
//! change, so an unrelated edit does not refill anyone's budget. When the bucket is
//! unreachable the last snapshot keeps serving.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use sendrealm_common::apikey;
use sendrealm_common::policy::ProjectPolicy;
use tokio_util::sync::CancellationToken;

use crate::ratelimit::Limiter;

/// A project as the request path needs it.
#[derive(Debug)]
pub struct Project {
    /// The published policy.
    pub policy: ProjectPolicy,
    /// Its rate limiter (shared across snapshots while the rates stay the same).
    pub limiter: Arc<Limiter>,
    /// `Nats-TTL` for its events: the retention in seconds, formatted once.
    pub ttl: async_nats::header::HeaderValue,
}

/// One immutable view of all policies.
#[derive(Debug, Default)]
struct Snapshot {
    by_key_hash: HashMap<[u8; 32], Arc<Project>>,
    by_id: HashMap<String, (u64, Arc<Project>)>,
}

/// All project policies known to this agent.
#[derive(Debug, Default)]
pub struct Policies {
    current: ArcSwap<Snapshot>,
    loaded: AtomicBool,
    live: AtomicBool,
}

impl Policies {
    /// The project an API key belongs to, if the key is active.
    pub fn project_for_key(&self, key: &str) -> Option<Arc<Project>> {
        let hash = apikey::hash_api_key(key);
        self.current.load().by_key_hash.get(&hash).cloned()
    }

    /// Whether the bucket has been read to its end at least once.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Whether a watch on the bucket is currently established (false while it is
    /// unreachable and the last known policies are served).
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Number of known projects.
    pub fn len(&self) -> usize {
        self.current.load().by_id.len()
    }

    /// Whether no project is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Holds exactly these policies, as a complete read of the bucket would (for tests and
    /// tools that feed policies without a bucket).
    pub fn load(&self, policies: Vec<(u64, ProjectPolicy)>) {
        self.replace_all(policies);
        self.mark_loaded();
    }

    fn mark_loaded(&self) {
        if !self.loaded.swap(true, Ordering::AcqRel) {
            tracing::info!(projects = self.len(), "Project policies loaded.");
        }
    }

    /// Applies a policy put at a revision; older revisions than the one held are ignored.
    pub fn upsert(&self, revision: u64, policy: ProjectPolicy) {
        let old = self.current.load_full();
        let held = old.by_id.get(&policy.project_id);
        if held.is_some_and(|(rev, _)| *rev > revision) {
            return;
        }
        let project = project(policy, held.map(|(_, p)| p.as_ref()));
        let mut by_id = old.by_id.clone();
        by_id.insert(project.policy.project_id.clone(), (revision, project));
        self.current.store(Arc::new(index(by_id)));
    }

    /// Replaces every policy with a complete replay of the bucket (a new watch session):
    /// revisions start afresh (a recreated bucket numbers from 1 again) and projects no
    /// longer in the bucket go. An empty replay keeps what is held: a bucket that was
    /// deleted and recreated is empty until the aggregator republishes, and answering
    /// every key with 401 meanwhile would be an outage.
    pub fn replace_all(&self, policies: Vec<(u64, ProjectPolicy)>) {
        let old = self.current.load_full();
        if policies.is_empty() && !old.by_id.is_empty() {
            tracing::warn!(
                projects = old.by_id.len(),
                "The policy bucket is empty; keeping the last known policies until it is republished."
            );
            return;
        }
        let by_id = policies
            .into_iter()
            .map(|(revision, policy)| {
                let held = old.by_id.get(&policy.project_id).map(|(_, p)| p.as_ref());
                let project = project(policy, held);
                (project.policy.project_id.clone(), (revision, project))
            })
            .collect();
        self.current.store(Arc::new(index(by_id)));
    }

    /// Applies a delete or purge of a project's policy.
    pub fn remove(&self, revision: u64, project_id: &str) {
        let old = self.current.load_full();
        match old.by_id.get(project_id) {
            Some((rev, _)) if *rev <= revision => {
                let mut by_id = old.by_id.clone();
                by_id.remove(project_id);
                self.current.store(Arc::new(index(by_id)));
            }
            _ => {}
        }
    }
}

/// A project for a policy, keeping the rate limiter of `held` when its rates are unchanged
/// (so an unrelated edit does not refill anyone's budget).
fn project(policy: ProjectPolicy, held: Option<&Project>) -> Arc<Project> {
    let limiter = match held {
        Some(p)
            if p.limiter
                .has_rates(policy.rate_limit_per_sec, policy.rate_limit_burst) =>
        {
            Arc::clone(&p.limiter)
        }
        _ => Arc::new(Limiter::new(
            policy.rate_limit_per_sec,
            policy.rate_limit_burst,
        )),
    };
    let ttl = policy.retention_secs.max(1).to_string().as_str().into();
    Arc::new(Project {
        policy,
        limiter,
        ttl,
    })
}

fn index(by_id: HashMap<String, (u64, Arc<Project>)>) -> Snapshot {
    let mut by_key_hash = HashMap::new();
    for (_, project) in by_id.values() {
        for hash in &project.policy.api_key_hashes {
            match apikey::parse_key_hash(hash) {
                Some(bytes) => {
                    by_key_hash.insert(bytes, Arc::clone(project));
                }
                None => tracing::warn!(
                    project_id = %project.policy.project_id,
                    "Ignoring a malformed API key hash in the policy."
                ),
            }
        }
    }
    Snapshot { by_key_hash, by_id }
}

/// Why one watch session ended.
#[derive(Debug, thiserror::Error)]
enum WatchError {
    #[error("policy bucket unavailable: {0}")]
    Bucket(#[from] async_nats::jetstream::context::KeyValueError),
    #[error("policy bucket status: {0}")]
    Status(#[from] kv::StatusError),
    #[error("policy watch: {0}")]
    Watch(#[from] kv::WatchError),
    #[error("policy watch: {0}")]
    Entry(kv::WatcherError),
    #[error("policy watch ended")]
    Ended,
    #[error("the region's policy mirror has not heard from the hub yet")]
    MirrorNotSynced,
}

/// Keeps `policies` in step with the bucket until `stop` is cancelled, re-watching with a
/// growing delay whenever the bucket is unreachable.
pub async fn follow(
    js: jetstream::Context,
    bucket: String,
    policies: Arc<Policies>,
    stop: CancellationToken,
) {
    let mut delay = Duration::from_millis(250);
    loop {
        let session = watch_once(&js, &bucket, &policies);
        let result = tokio::select! {
            _ = stop.cancelled() => return,
            result = session => result,
        };
        policies.live.store(false, Ordering::Release);
        if let Err(error) = result {
            tracing::warn!(%error, bucket, "Policy watch interrupted; serving the last known policies.");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn watch_once(
    js: &jetstream::Context,
    bucket: &str,
    policies: &Policies,
) -> Result<(), WatchError> {
    let store = js.get_key_value(bucket).await?;
    let status = store.status().await?;
    let empty = status.values() == 0;
    // A region's mirror is empty until its first contact with the hub: that is not "no
    // projects", and reading it so would refuse every key until it syncs.
    if empty
        && status
            .info
            .mirror
            .as_ref()
            .is_some_and(|mirror| mirror.active.is_none())
    {
        return Err(WatchError::MirrorNotSynced);
    }
    let mut watch = store.watch_with_history(">").await?;
    policies.live.store(true, Ordering::Release);
    // The session first replays the bucket (the latest entry of every key), then follows
    // changes. The replay replaces what is held; changes apply one by one.
    let mut replay: Option<Vec<(u64, ProjectPolicy)>> = if empty {
        // An empty bucket yields no entry to say "caught up".
        policies.replace_all(Vec::new());
        policies.mark_loaded();
        None
    } else {
        Some(Vec::new())
    };
    while let Some(entry) = watch.next().await {
        // Any error ends the session; the next one replays the bucket again.
        let entry = entry.map_err(WatchError::Entry)?;
        match replay.as_mut() {
            Some(entries) => {
                if let Some(policy) = readable(&entry) {
                    entries.push((entry.revision, policy));
                }
                if entry.delta == 0 {
                    policies.replace_all(replay.take().unwrap_or_default());
                    policies.mark_loaded();
                }
            }
            None => apply(policies, &entry),
        }
    }
    Err(WatchError::Ended)
}

/// The policy of a put entry, if it is one and readable.
fn readable(entry: &kv::Entry) -> Option<ProjectPolicy> {
    if entry.operation != kv::Operation::Put {
        return None;
    }
    match ProjectPolicy::from_json(&entry.value) {
        Ok(policy) if policy.project_id == entry.key => Some(policy),
        Ok(_) => {
            tracing::warn!(key = %entry.key, "Policy key and project id differ; ignored.");
            None
        }
        Err(error) => {
            tracing::warn!(%error, key = %entry.key, "Unreadable policy ignored.");
            None
        }
    }
}

fn apply(policies: &Policies, entry: &kv::Entry) {
    match entry.operation {
        kv::Operation::Put => {
            if let Some(policy) = readable(entry) {
                tracing::info!(project_id = %policy.project_id, revision = entry.revision, "Policy updated.");
                policies.upsert(entry.revision, policy);
            }
        }
        kv::Operation::Delete | kv::Operation::Purge => {
            tracing::info!(project_id = %entry.key, "Policy removed.");
            policies.remove(entry.revision, &entry.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(id: &str, key: &str, rate: u32) -> ProjectPolicy {
        ProjectPolicy {
            project_id: id.into(),
            name: id.into(),
            event_payload_limit_bytes: 100,
            rate_limit_per_sec: rate,
            rate_limit_burst: rate,
            retention_secs: 60,
            api_key_hashes: vec![apikey::hash_api_key_hex(key)],
        }
    }

    #[test]
    fn keys_resolve_to_projects_and_revocation_applies() {
        let policies = Policies::default();
        policies.upsert(1, policy("proj_a", "sk_a", 5));
        assert_eq!(
            policies.project_for_key("sk_a").unwrap().policy.project_id,
            "proj_a"
        );
        assert!(policies.project_for_key("sk_b").is_none());
        let mut revoked = policy("proj_a", "sk_a", 5);
        revoked.api_key_hashes.clear();
        policies.upsert(2, revoked);
        assert!(policies.project_for_key("sk_a").is_none());
    }

    #[test]
    fn older_revisions_are_ignored() {
        let policies = Policies::default();
        policies.upsert(5, policy("proj_a", "sk_new", 5));
        policies.upsert(3, policy("proj_a", "sk_old", 5));
        assert!(policies.project_for_key("sk_old").is_none());
        policies.remove(4, "proj_a");
        assert!(policies.project_for_key("sk_new").is_some());
        policies.remove(6, "proj_a");
        assert!(policies.is_empty());
    }

    #[test]
    fn a_replay_replaces_revisions_and_drops_missing_projects() {
        let policies = Policies::default();
        policies.upsert(7, policy("proj_a", "sk_a", 5));
        policies.upsert(8, policy("proj_b", "sk_b", 5));
        // A recreated bucket numbers from 1 again and no longer holds proj_b.
        policies.replace_all(vec![(1, policy("proj_a", "sk_a", 5))]);
        assert!(policies.project_for_key("sk_b").is_none());
        let mut revoked = policy("proj_a", "sk_a", 5);
        revoked.api_key_hashes.clear();
        policies.upsert(2, revoked);
        assert!(
            policies.project_for_key("sk_a").is_none(),
            "revision 2 is newer now"
        );
    }

    #[test]
    fn an_empty_replay_keeps_the_last_known_policies() {
        let policies = Policies::default();
        policies.upsert(3, policy("proj_a", "sk_a", 5));
        policies.replace_all(Vec::new());
        assert!(policies.project_for_key("sk_a").is_some());
    }

    #[test]
    fn limiter_survives_unrelated_updates() {
        let policies = Policies::default();
        policies.upsert(1, policy("proj_a", "sk_a", 5));
        let before = Arc::clone(&policies.project_for_key("sk_a").unwrap().limiter);
        let mut renamed = policy("proj_a", "sk_a", 5);
        renamed.name = "Renamed".into();
        policies.upsert(2, renamed);
        let after = Arc::clone(&policies.project_for_key("sk_a").unwrap().limiter);
        assert!(Arc::ptr_eq(&before, &after));
        policies.upsert(3, policy("proj_a", "sk_a", 6));
        let changed = Arc::clone(&policies.project_for_key("sk_a").unwrap().limiter);
        assert!(!Arc::ptr_eq(&before, &changed));
    }
}
