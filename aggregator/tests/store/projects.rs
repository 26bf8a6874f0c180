//! Projects and keys.

use sendrealm_aggregator::store::StoreError;

use sendrealm_aggregator::store::{OwnerTokenRow, PolicyChangeRow, SessionRow};

use crate::support::{Backend, key, on_both, project};

fn change(project_id: &str, actor: &str, at: i64) -> PolicyChangeRow {
    PolicyChangeRow {
        project_id: project_id.into(),
        actor: actor.into(),
        changed_at: at,
        changes: r#"{"retention_secs":[86400,60]}"#.into(),
    }
}

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
    changed.max_active_waits = Some(5);
    changed.updated_at = 30;
    store
        .update_project(&changed, &change("proj_a", "cli", 30))
        .await
        .unwrap();
    store
        .update_project(&changed, &change("proj_a", "otk_x", 31))
        .await
        .unwrap();
    assert_eq!(store.project("proj_a").await.unwrap(), Some(changed));
    let missing = store
        .update_project(&project("proj_zz", 1), &change("proj_zz", "cli", 32))
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound), "{missing:?}");
    // Each change is recorded with who and when, newest first; a refused one is not.
    let history = store.policy_changes("proj_a", 10).await.unwrap();
    let who: Vec<(&str, i64)> = history
        .iter()
        .map(|c| (c.actor.as_str(), c.changed_at))
        .collect();
    assert_eq!(who, [("otk_x", 31), ("cli", 30)]);
    assert_eq!(store.policy_changes("proj_a", 1).await.unwrap().len(), 1);
    assert!(
        store
            .policy_changes("proj_zz", 10)
            .await
            .unwrap()
            .is_empty()
    );

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

async fn owner_tokens_and_sessions_are_stored_hashed_and_end_together(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    store
        .insert_project(&project("proj_a", 1), &key("key_a", "proj_a", "hash_a", 1))
        .await
        .unwrap();
    let token = |id: &str, hash: &str, at| OwnerTokenRow {
        id: id.into(),
        project_id: "proj_a".into(),
        token_hash: hash.into(),
        prefix: "sro_0123".into(),
        created_at: at,
        revoked_at: None,
    };
    store
        .insert_owner_token(&token("otk_1", "th1", 10))
        .await
        .unwrap();
    store
        .insert_owner_token(&token("otk_2", "th2", 20))
        .await
        .unwrap();
    let duplicate = store
        .insert_owner_token(&token("otk_3", "th1", 30))
        .await
        .unwrap_err();
    assert!(
        matches!(duplicate, StoreError::Conflict { .. }),
        "{duplicate:?}"
    );
    let ids: Vec<String> = store
        .owner_tokens("proj_a")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["otk_2", "otk_1"], "newest first");
    assert_eq!(
        store
            .owner_token_by_hash("th1")
            .await
            .unwrap()
            .map(|t| t.id)
            .as_deref(),
        Some("otk_1")
    );

    let session = |hash: &str, actor: &str, last_seen_at, expires_at| SessionRow {
        id_hash: hash.into(),
        kind: "owner".into(),
        project_id: Some("proj_a".into()),
        actor: actor.into(),
        csrf_token: "csrf".into(),
        created_at: 0,
        last_seen_at,
        expires_at,
    };
    store
        .insert_session(&session("s1", "otk_1", 100, 1_000))
        .await
        .unwrap();
    store
        .insert_session(&session("s2", "otk_2", 100, 1_000))
        .await
        .unwrap();
    store
        .insert_session(&session("s3", "otk_2", 100, 150))
        .await
        .unwrap();
    store
        .insert_session(&session("s4", "otk_2", 10, 1_000))
        .await
        .unwrap();
    assert_eq!(
        store.session("s1").await.unwrap(),
        Some(session("s1", "otk_1", 100, 1_000))
    );
    store.touch_session("s1", 120).await.unwrap();
    assert_eq!(
        store.session("s1").await.unwrap().unwrap().last_seen_at,
        120
    );
    // s3 is past its expiry, s4 idle since before 50.
    assert_eq!(store.purge_sessions(200, 50).await.unwrap(), 2);
    assert!(store.session("s3").await.unwrap().is_none());
    assert!(store.session("s4").await.unwrap().is_none());

    // Revoking a token ends its sessions in the same step; others stay.
    assert!(
        store
            .revoke_owner_token("proj_a", "otk_1", 300)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_owner_token("proj_a", "otk_1", 301)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_owner_token("proj_b", "otk_2", 301)
            .await
            .unwrap()
    );
    assert!(store.session("s1").await.unwrap().is_none());
    assert!(store.session("s2").await.unwrap().is_some());
    assert_eq!(store.owner_token_by_hash("th1").await.unwrap(), None);
    store.delete_session("s2").await.unwrap();
    assert!(store.session("s2").await.unwrap().is_none());
    store.close().await;
}
on_both!(
    owner_tokens_and_sessions_are_stored_hashed_and_end_together,
    super::owner_tokens_and_sessions_are_stored_hashed_and_end_together
);

async fn service_tokens_are_stored_hashed_and_revoked(backend: Backend) {
    use sendrealm_aggregator::store::ServiceTokenRow;
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    let token = |id: &str, hash: &str, at| ServiceTokenRow {
        id: id.into(),
        name: "mail".into(),
        token_hash: hash.into(),
        prefix: "srs_0123".into(),
        created_at: at,
        revoked_at: None,
    };
    store
        .insert_service_token(&token("stk_1", "h1", 10))
        .await
        .unwrap();
    store
        .insert_service_token(&token("stk_2", "h2", 20))
        .await
        .unwrap();
    let duplicate = store
        .insert_service_token(&token("stk_3", "h1", 30))
        .await
        .unwrap_err();
    assert!(
        matches!(duplicate, StoreError::Conflict { .. }),
        "{duplicate:?}"
    );
    let ids: Vec<String> = store
        .service_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["stk_2", "stk_1"], "newest first");
    assert_eq!(
        store.service_token_by_hash("h1").await.unwrap(),
        Some(token("stk_1", "h1", 10))
    );
    assert!(store.revoke_service_token("stk_1", 40).await.unwrap());
    assert!(!store.revoke_service_token("stk_1", 41).await.unwrap());
    assert_eq!(store.service_token_by_hash("h1").await.unwrap(), None);
    assert!(store.service_token_by_hash("h2").await.unwrap().is_some());
    store.close().await;
}

on_both!(
    service_tokens_are_stored_hashed_and_revoked,
    super::service_tokens_are_stored_hashed_and_revoked
);
