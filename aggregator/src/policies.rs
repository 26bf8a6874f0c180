//! Publishing project policies to the JetStream KV bucket that agents watch.

use async_nats::jetstream::{self, kv};
use sendrealm_common::config::{NatsConfig, Storage};

use crate::projects;
use crate::store::Store;

/// Why a policy could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishPolicyError {
    /// The bucket could not be opened or created.
    #[error("policy bucket {bucket} unavailable: {reason}")]
    Bucket {
        /// Bucket name.
        bucket: String,
        /// Why.
        reason: String,
    },
    /// The database could not be read.
    #[error("cannot read the policy of {project_id}: {reason}")]
    Read {
        /// The project.
        project_id: String,
        /// Why.
        reason: String,
    },
    /// The write failed.
    #[error("cannot publish the policy of {project_id}: {reason}")]
    Put {
        /// The project.
        project_id: String,
        /// Why.
        reason: String,
    },
}

/// Revisions kept per key: the latest is what agents use, the rest is an audit trail.
const HISTORY: i64 = 5;
/// Compare-and-set rounds before giving up.
const MAX_ATTEMPTS: usize = 10;

/// Writes policies to the bucket.
#[derive(Clone)]
pub struct PolicyBucket {
    store: kv::Store,
}

impl PolicyBucket {
    /// Opens the bucket, creating it when it does not exist yet.
    pub async fn open(
        js: &jetstream::Context,
        nats: &NatsConfig,
    ) -> Result<Self, PublishPolicyError> {
        let bucket = nats.policy_bucket.clone();
        let fail = |reason: String| PublishPolicyError::Bucket {
            bucket: bucket.clone(),
            reason,
        };
        let store = match js.get_key_value(&bucket).await {
            Ok(store) => store,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: bucket.clone(),
                    description: "Sendrealm project policies".into(),
                    history: HISTORY,
                    storage: match nats.stream.storage {
                        Storage::File => jetstream::stream::StorageType::File,
                        Storage::Memory => jetstream::stream::StorageType::Memory,
                    },
                    num_replicas: nats.stream.replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| fail(e.to_string()))?,
        };
        Ok(PolicyBucket { store })
    }

    /// Publishes one project's policy as the database holds it now (agents apply it
    /// within moments).
    ///
    /// Writers compare and set: each reads the bucket's revision, then the database, then
    /// writes only if the revision is unchanged, and starts over otherwise. So a stale
    /// write (say, start-up republishing while a key is being revoked) can never land after
    /// a newer one: the last write always carries a database read made after the one
    /// before it.
    pub async fn publish(
        &self,
        store: &Store,
        project_id: &str,
    ) -> Result<u64, PublishPolicyError> {
        let read_error = |reason: String| PublishPolicyError::Read {
            project_id: project_id.to_owned(),
            reason,
        };
        let put_error = |reason: String| PublishPolicyError::Put {
            project_id: project_id.to_owned(),
            reason,
        };
        for _ in 0..MAX_ATTEMPTS {
            let revision = self
                .store
                .entry(project_id)
                .await
                .map_err(|e| put_error(e.to_string()))?
                .map(|entry| entry.revision);
            let row = store
                .project(project_id)
                .await
                .map_err(|e| read_error(e.to_string()))?
                .ok_or_else(|| read_error("no such project".into()))?;
            let policy = projects::policy_of(store, &row)
                .await
                .map_err(|e| read_error(e.to_string()))?;
            let value = policy.to_json().into();
            let written = match revision {
                Some(revision) => match self.store.update(project_id, value, revision).await {
                    Ok(revision) => Ok(revision),
                    Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                    Err(e) => Err(e.to_string()),
                },
                None => match self.store.create(project_id, value).await {
                    Ok(revision) => Ok(revision),
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => continue,
                    Err(e) => Err(e.to_string()),
                },
            };
            return written.map_err(put_error);
        }
        Err(put_error("too many concurrent writers".into()))
    }

    /// Publishes every project whose policy in the bucket differs from the database's (a
    /// change made while NATS was unreachable, say a revoked key). Returns how many were
    /// republished.
    pub async fn reconcile(&self, store: &Store) -> Result<usize, PublishPolicyError> {
        let rows = store
            .projects()
            .await
            .map_err(|e| PublishPolicyError::Read {
                project_id: "*".into(),
                reason: e.to_string(),
            })?;
        let mut republished = 0;
        for row in &rows {
            let wanted = projects::policy_of(store, row)
                .await
                .map_err(|e| PublishPolicyError::Read {
                    project_id: row.id.clone(),
                    reason: e.to_string(),
                })?
                .to_json();
            let current = self
                .store
                .get(&row.id)
                .await
                .map_err(|e| PublishPolicyError::Put {
                    project_id: row.id.clone(),
                    reason: e.to_string(),
                })?;
            if current.as_deref() != Some(wanted.as_slice()) {
                self.publish(store, &row.id).await?;
                republished += 1;
            }
        }
        Ok(republished)
    }
}
