use sendrealm_e2e::stack::Stack;
use serde_json::json;

use crate::docs_example;

#[tokio::test]
async fn same_key_replays_the_original_with_200() {
    let stack = Stack::start(&[], &[]).await;
    let first = stack
        .agent
        .send_event(&stack.project.key, &docs_example())
        .await;
    assert_eq!(first.status, 202, "{}", first.text);

    let mut changed = docs_example();
    changed["payload"] = json!({"order_id": "something else"});
    let again = stack.agent.send_event(&stack.project.key, &changed).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let (first_data, again_data) = (first.data(), again.data());
    assert_eq!(first_data["deduplicated"], false);
    assert_eq!(again_data["deduplicated"], true);
    let mut original = first_data.clone();
    original["deduplicated"] = json!(true);
    assert_eq!(again_data, original, "the replay is the original event");

    let third = stack
        .agent
        .send_event(&stack.project.key, &docs_example())
        .await;
    assert_eq!(third.status, 200);
    assert_eq!(third.data(), original);
    assert_eq!(stack.stream_events().await, 1);
}

#[tokio::test]
async fn same_key_in_two_projects_is_two_events() {
    let stack = Stack::start(&[], &[]).await;
    let other = stack.cli.create_project("other", &[]).await;
    stack.agent.wait_ready().await;
    let a = stack
        .agent
        .send_event(&stack.project.key, &docs_example())
        .await;
    // The second project's policy reaches the agent through the bucket; wait for it.
    let b = sendrealm_e2e::wait::until(
        std::time::Duration::from_secs(5),
        "the second project's key",
        || async {
            let reply = stack.agent.send_event(&other.key, &docs_example()).await;
            (reply.status != 401).then_some(reply)
        },
    )
    .await;
    assert_eq!(a.status, 202, "{}", a.text);
    assert_eq!(b.status, 202, "{}", b.text);
    assert_ne!(a.data()["id"], b.data()["id"]);
    assert_eq!(b.data()["project_id"], other.id.as_str());
    assert_eq!(stack.stream_events().await, 2);
}

#[tokio::test]
async fn the_same_key_always_yields_the_same_event_id() {
    // After the duplicate window the stream stores a second copy, but with the same id,
    // so the aggregator's unique key keeps one event.
    let stack = Stack::start(
        &[],
        &[("SENDREALM_NATS__STREAM__DUPLICATE_WINDOW_SECS", "1")],
    )
    .await;
    let first = stack
        .agent
        .send_event(&stack.project.key, &docs_example())
        .await;
    assert_eq!(first.status, 202);
    let later = sendrealm_e2e::wait::until(
        std::time::Duration::from_secs(10),
        "the duplicate window to pass",
        || async {
            let reply = stack
                .agent
                .send_event(&stack.project.key, &docs_example())
                .await;
            (reply.status == 202).then_some(reply)
        },
    )
    .await;
    assert_eq!(later.data()["id"], first.data()["id"]);
}
