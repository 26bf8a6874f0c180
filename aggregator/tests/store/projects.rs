//! Projects and keys.

use sendrealm_aggregator::store::StoreError;

use crate::support::{Backend, key, on_both, project};

async fn projects_are_created_listed_updated_and_keyed(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    store.ping().await.unwrap();
    assert!(store.projects().await.unwrap().is_empty());
    let a = project("proj_a", 10);
    store
        .insert_project(&a, &key("key_a1", "proj_a", "hash_a1", 10))
        .await
        .unwrap();
    store
        .insert_project(
            &project("proj_b", 20),
            &key("key_b1", "proj_b", "hash_b1", 20),
        )
        .await
        .unwrap();
    let ids: Vec<String> = store
        .projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, ["proj_a", "proj_b"], "oldest first");
    assert_eq!(store.project("proj_a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.project("proj_zz").await.unwrap(), None);

    // The same id twice is a conflict, and the project's first key was not written either.
    let again = store
        .insert_project(&a, &key("key_dup", "proj_a", "hash_dup", 11))
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::Conflict { .. }), "{again:?}");
    assert_eq!(store.project_of_key("hash_dup").await.unwrap(), None);

    let mut changed = a.clone();
    changed.retention_secs = 60;
    changed.updated_at = 30;
    store.update_project(&changed).await.unwrap();
    assert_eq!(
        store
            .project("proj_a")
            .await
            .unwrap()
            .unwrap()
            .retention_secs,
        60
    );
    let missing = store
        .update_project(&project("proj_zz", 1))
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound), "{missing:?}");

    store
        .insert_key(&key("key_a2", "proj_a", "hash_a2", 40))
        .await
        .unwrap();
    store
        .insert_key(&key("key_a3", "proj_a", "hash_a3", 50))
        .await
        .unwrap();
    let keys: Vec<String> = store
        .keys("proj_a")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(keys, ["key_a3", "key_a2", "key_a1"], "newest first");
    assert_eq!(
        store.project_of_key("hash_a2").await.unwrap().as_deref(),
        Some("proj_a")
    );

    // Revoke one; then all but one.
    assert_eq!(
        store
            .revoke_keys("proj_a", Some("key_a2"), None, 60)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.project_of_key("hash_a2").await.unwrap(), None);
    assert_eq!(
        store
            .revoke_keys("proj_a", None, Some("key_a3"), 70)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.project_of_key("hash_a1").await.unwrap(), None);
    assert!(store.project_of_key("hash_a3").await.unwrap().is_some());
    let revoked = store.keys("proj_a").await.unwrap();
    assert_eq!(revoked.iter().filter(|k| k.revoked_at.is_some()).count(), 2);
    // Nothing left to revoke but the kept key; other projects untouched.
    assert_eq!(
        store
            .revoke_keys("proj_a", None, Some("key_a3"), 80)
            .await
            .unwrap(),
        0
    );
    assert!(store.project_of_key("hash_b1").await.unwrap().is_some());
    store.close().await;
}

on_both!(
    projects_are_created_listed_updated_and_keyed,
    super::projects_are_created_listed_updated_and_keyed
);
