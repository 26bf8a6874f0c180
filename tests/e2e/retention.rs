use std::time::Duration;

use sendrealm_common::subjects::{DEFAULT_SUBJECT_PREFIX, event_subject};
use sendrealm_e2e::db;
use sendrealm_e2e::stack::{Database, Pipeline};
use sendrealm_e2e::wait;
use serde_json::json;

#[tokio::test]
async fn short_retention_removes_old_events_from_db_and_stream_only_for_that_project_on_sqlite() {
    short_retention_removes_old_events_from_db_and_stream_only_for_that_project(Database::Sqlite)
        .await;
}

#[tokio::test]
async fn short_retention_removes_old_events_from_db_and_stream_only_for_that_project_on_postgres() {
    short_retention_removes_old_events_from_db_and_stream_only_for_that_project(
        Database::postgres().await,
    )
    .await;
}

async fn short_retention_removes_old_events_from_db_and_stream_only_for_that_project(
    database: Database,
) {
    let pipeline = Pipeline::start(
        database,
        &["--retention-secs", "3"],
        &[],
        &[("SENDREALM_RETENTION__PURGE_INTERVAL_SECS", "1")],
    )
    .await;
    let stack = &pipeline.stack;
    let keeper = stack.cli.create_project("keeper", &[]).await;
    stack.agent.wait_ready().await;
    let short = stack
        .agent
        .send_event(
            &stack.project.key,
            &json!({"event": "a.b", "external_id": "u1"}),
        )
        .await;
    assert_eq!(short.status, 202);
    let kept = wait::until(
        Duration::from_secs(10),
        "the second project's key",
        || async {
            let reply = stack
                .agent
                .send_event(&keeper.key, &json!({"event": "a.b", "external_id": "u1"}))
                .await;
            (reply.status == 202).then_some(reply)
        },
    )
    .await;
    let url = pipeline.database_url();
    let short_id = short.data()["id"].as_str().unwrap().to_owned();
    let kept_id = kept.data()["id"].as_str().unwrap().to_owned();
    wait::until(Duration::from_secs(20), "both events stored", || async {
        (db::count_ids(
            &url,
            "SELECT count(*) FROM events WHERE id IN ($1, $2)",
            &[&short_id, &kept_id],
        )
        .await
            == 2)
            .then_some(())
    })
    .await;

    // Gone from the database and the stream after ~3 s; the other project keeps its event.
    wait::until(
        Duration::from_secs(30),
        "the short-retention event to be purged",
        || async {
            (db::count_ids(
                &url,
                "SELECT count(*) FROM events WHERE id = $1",
                &[&short_id],
            )
            .await
                == 0)
                .then_some(())
        },
    )
    .await;
    let stream = stack.stream().await;
    let short_subject = event_subject(DEFAULT_SUBJECT_PREFIX, &stack.project.id, "a.b");
    wait::until(
        Duration::from_secs(30),
        "the stream copy to expire",
        || async {
            stream
                .get_last_raw_message_by_subject(&short_subject)
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        db::count_ids(
            &url,
            "SELECT count(*) FROM events WHERE id = $1",
            &[&kept_id]
        )
        .await,
        1
    );
    let kept_subject = event_subject(DEFAULT_SUBJECT_PREFIX, &keeper.id, "a.b");
    assert!(
        stream
            .get_last_raw_message_by_subject(&kept_subject)
            .await
            .is_ok()
    );
}
