//! Publishing project policies to the JetStream KV bucket that agents watch.

use async_nats::jetstream::{self, kv};
use sendrealm_common::config::{NatsConfig, Storage};
use sendrealm_common::policy::ProjectPolicy;

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

    /// Publishes one project's policy (agents apply it within moments).
    pub async fn put(&self, policy: &ProjectPolicy) -> Result<u64, PublishPolicyError> {
        self.store
            .put(&policy.project_id, policy.to_json().into())
            .await
            .map_err(|e| PublishPolicyError::Put {
                project_id: policy.project_id.clone(),
                reason: e.to_string(),
            })
    }
}
