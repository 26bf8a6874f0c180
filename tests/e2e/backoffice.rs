//! The backoffice in a real browser: staff sign in with the admin token, filter the catalog
//! across projects, read latency and failures per project, replay a dead letter, and
//! change a project's policy, which reaches the agents and is recorded with who and when.

use std::time::Duration;

use sendrealm_e2e::aggregator::ADMIN_TOKEN;
use sendrealm_e2e::aggregator::Aggregator;
use sendrealm_e2e::browser::Browser;
use sendrealm_e2e::pages;
use sendrealm_e2e::stack::{Database, Pipeline};
use sendrealm_e2e::wait;
use serde_json::{Value, json};

const SETTLED: Duration = Duration::from_secs(30);

/// The rows' `data-*` attribute values in a page's table.
async fn rows(browser: &Browser, table: &str, attribute: &str) -> Vec<String> {
    let script = format!(
        "Array.from(document.querySelectorAll('#{table} tbody tr')).map(r => r.getAttribute('{attribute}'))"
    );
    let value = browser.eval(&script).await;
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn staff_filter_the_catalog_replay_a_dead_letter_and_change_a_policy_in_a_browser() {
    let pipeline = Pipeline::start(Database::Sqlite, &[], &[], &[]).await;
    let stack = &pipeline.stack;
    let aggregator = &pipeline.aggregator;
    let url = aggregator.url.clone();
    let a = stack.project.clone();
    let b = stack.cli.create_project("Second shop", &[]).await;
    for i in 0..3 {
        let reply = stack
            .agent
            .send_event(
                &a.key,
                &json!({"event": "order.completed", "external_id": format!("u{i}"),
                        "payload": {"email": "x@example.com"}}),
            )
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text);
    }
    let reply = stack
        .agent
        .send_event(
            &b.key,
            &json!({"event": "plan.changed", "external_id": "v"}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    // One poison message, published around the agent: it ends as a dead letter.
    let subject = sendrealm_common::subjects::event_subject(
        sendrealm_common::subjects::DEFAULT_SUBJECT_PREFIX,
        &a.id,
        "order.completed",
    );
    let js = stack.nats.jetstream().await;
    js.publish(subject, "{not json".into())
        .await
        .expect("publish")
        .await
        .expect("stored");
    wait::until(SETTLED, "the figures and the catalog", || async {
        let (_, view) = aggregator.get("/v1/backoffice/latency", ADMIN_TOKEN).await;
        let project = view["projects"]
            .as_array()?
            .iter()
            .find(|p| p["project_id"] == a.id.as_str())?
            .clone();
        let (_, list) = aggregator.get("/v1/backoffice/catalog", ADMIN_TOKEN).await;
        (project["stored"].as_u64()? >= 3
            && project["dead_letters_pending"] == 1
            // Each project's event and its `sendrealm.contact.created`.
            && list["data"].as_array()?.len() == 4)
            .then_some(())
    })
    .await;

    // Signed out, the backoffice asks for the admin token; a project key is not one.
    let browser = Browser::launch().await;
    browser.goto(&format!("{url}/backoffice")).await;
    assert!(browser.url().await.ends_with("/backoffice/login"));
    browser.fill("#token", &a.key).await;
    browser.click("#sign-in button").await;
    assert!(
        browser.text(".error").await.is_some(),
        "a project key is refused"
    );
    browser.fill("#token", ADMIN_TOKEN).await;
    browser.click("#sign-in button").await;
    assert!(browser.url().await.ends_with("/backoffice/catalog"));
    // An owner's session is no staff session.
    let owner = stack
        .cli
        .json(&["project", "owner-token", &a.id, "--json"])
        .await;
    let owner_cookie = pages::sign_in(
        &url,
        "/dashboard",
        owner["owner_token"].as_str().expect("token"),
    )
    .await;
    let (status, _) = pages::get(&url, "/backoffice/catalog", &owner_cookie).await;
    assert_eq!(status, 303, "an owner is sent to the staff sign-in");

    // The catalog across projects, and its filters.
    let mut events = rows(&browser, "entries", "data-event").await;
    events.sort();
    let created = "sendrealm.contact.created";
    assert_eq!(
        events,
        ["order.completed", "plan.changed", created, created]
    );
    for (query, expected) in [
        (
            format!("project_id={}", b.id),
            vec!["plan.changed", created],
        ),
        (
            format!("project_id={}&source=api", b.id),
            vec!["plan.changed"],
        ),
        ("event=order".to_owned(), vec!["order.completed"]),
        ("pii=true".to_owned(), vec!["order.completed"]),
        ("pii=false&source=api".to_owned(), vec!["plan.changed"]),
        ("source=system".to_owned(), vec![created, created]),
        ("drift_since=2999-01-01".to_owned(), vec![]),
    ] {
        browser
            .goto(&format!("{url}/backoffice/catalog?{query}"))
            .await;
        assert_eq!(
            rows(&browser, "entries", "data-event").await,
            expected,
            "{query}"
        );
    }
    browser
        .goto(&format!("{url}/backoffice/catalog?drift_since=yesterday"))
        .await;
    let error = browser.text(".error").await.unwrap_or_default();
    assert!(error.contains("drift since"), "{error}");
    browser.goto(&format!("{url}/backoffice/catalog")).await;
    browser
        .screenshot(&pages::screenshot_path("backoffice-catalog.png"))
        .await;

    // Latency and failures per project.
    browser.goto(&format!("{url}/backoffice/latency")).await;
    assert!(
        rows(&browser, "latency", "data-metric")
            .await
            .contains(&"queue_lag".to_owned())
    );
    let pending = browser
        .text(&format!(
            "#projects tr[data-project='{}'] td[data-figure=pending]",
            a.id
        ))
        .await;
    assert_eq!(pending.as_deref(), Some("1"), "the pending dead letter");

    // The dead letter: listed, inspected (redacted), replayed from its page.
    browser
        .goto(&format!(
            "{url}/backoffice/dead-letters?project_id={}",
            a.id
        ))
        .await;
    let ids = rows(&browser, "dead-letters", "data-id").await;
    assert_eq!(ids.len(), 1, "{ids:?}");
    browser.click("#dead-letters a").await;
    assert_eq!(browser.text("#replayed").await.as_deref(), Some("never"));
    browser.click("button[name=replay]").await;
    let replayed = browser.text("#replayed").await.unwrap_or_default();
    assert!(replayed.contains("(1×)"), "{replayed}");
    // A replay without the form's token is refused.
    let staff_cookie = format!(
        "sendrealm_session={}",
        browser.cookie("sendrealm_session").await.expect("cookie")
    );
    let (status, _) = pages::post_form(
        &url,
        &format!("/backoffice/dead-letters/{}/replay", ids[0]),
        &staff_cookie,
        &[("replay", "")],
    )
    .await;
    assert_eq!(status, 403);

    // The replayed poison fails again and becomes a new dead letter: replay all of the
    // project's pending ones at once, and follow the progress page to the end.
    wait::until(SETTLED, "the replayed event's new dead letter", || async {
        let (_, counts) = aggregator.get("/v1/dlq/counts", ADMIN_TOKEN).await;
        let project = counts["data"]
            .as_array()?
            .iter()
            .find(|c| c["project_id"] == a.id.as_str())?
            .clone();
        (project["pending"] == 1).then_some(())
    })
    .await;
    browser
        .goto(&format!(
            "{url}/backoffice/dead-letters?project_id={}",
            a.id
        ))
        .await;
    browser.click("#replay-all button").await;
    assert!(browser.url().await.contains("/backoffice/replays/rpl_"));
    wait::until(SETTLED, "the bulk replay to finish", || async {
        browser.goto(&browser.url().await).await;
        let done = browser
            .eval("document.querySelector('#progress').dataset.done")
            .await;
        (done == json!("true")).then_some(())
    })
    .await;
    let progress = browser.text("#progress").await.unwrap_or_default();
    assert!(progress.starts_with("1 of 1 replayed"), "{progress}");

    // The policy: a retention and payload-limit change reaches the agents and is recorded.
    browser
        .goto(&format!("{url}/backoffice/projects/{}", a.id))
        .await;
    browser.fill("#retention_days", "7").await;
    browser.fill("#payload_limit", "100").await;
    browser.click("#policy button").await;
    let notice = browser.text(".notice").await.unwrap_or_default();
    assert!(notice.starts_with("Saved"), "{notice}");
    let history = browser.text("#history tbody").await.unwrap_or_default();
    assert!(history.contains("backoffice:admin"), "{history}");
    assert!(
        history.contains("retention_secs: 7776000 → 604800"),
        "{history}"
    );
    browser
        .screenshot(&pages::screenshot_path("backoffice-project.png"))
        .await;
    let kv = js
        .get_key_value(sendrealm_common::subjects::DEFAULT_POLICY_BUCKET)
        .await
        .expect("policy bucket");
    wait::until(SETTLED, "the new policy in the bucket", || async {
        let policy = kv.get(&a.id).await.ok()??;
        let policy: Value = serde_json::from_slice(&policy).ok()?;
        (policy["retention_secs"] == 604_800).then_some(())
    })
    .await;
    let big = json!({"event": "a.b", "external_id": "u", "payload": {"text": "x".repeat(200)}});
    wait::until(
        SETTLED,
        "the agent to apply the lower payload limit",
        || async { (stack.agent.send_event(&a.key, &big).await.status == 413).then_some(()) },
    )
    .await;
    // A bad value is refused with the reason, and changes nothing.
    browser.fill("#rate", "0").await;
    browser.click("#policy button").await;
    let error = browser.text(".error").await.unwrap_or_default();
    assert!(error.contains("rate limit"), "{error}");
    let project = stack.cli.json(&["project", "show", &a.id, "--json"]).await;
    assert_eq!(project["rate_limit_per_sec"], 100);
}

/// The project row of the latency JSON, once its last-day figures satisfy `ready`.
async fn recent_of(
    aggregator: &Aggregator,
    project: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    wait::until(SETTLED, "the project's last-day figures", || async {
        let (_, view) = aggregator.get("/v1/backoffice/latency", ADMIN_TOKEN).await;
        let row = view["projects"]
            .as_array()?
            .iter()
            .find(|p| p["project_id"] == project)?
            .clone();
        ready(&row["recent"]).then_some(row["recent"].clone())
    })
    .await
}

#[tokio::test]
async fn the_latency_page_keeps_queue_lag_and_refusals_across_a_restart() {
    let Pipeline {
        aggregator,
        stack,
        database: _database,
    } = Pipeline::start(Database::Sqlite, &[], &[], &[]).await;
    let a = stack.project.clone();
    for i in 0..5 {
        let reply = stack
            .agent
            .send_event(
                &a.key,
                &json!({"event": "order.completed", "external_id": format!("u{i}")}),
            )
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text);
    }
    // Bad payloads: refused at the agent, which reports them to the aggregator.
    for name in ["Bad Name", "also bad"] {
        let reply = stack
            .agent
            .send_event(&a.key, &json!({"event": name, "external_id": "u"}))
            .await;
        assert_eq!(reply.status, 422, "{}", reply.text);
    }
    let before = recent_of(&aggregator, &a.id, |r| {
        // Queue lag counts the system events (`sendrealm.contact.created`) queued too.
        r["stored"] == 5
            && r["queue_lag"]["count"].as_u64() >= Some(5)
            && !r["refused"].as_array().is_none_or(Vec::is_empty)
    })
    .await;
    assert_eq!(
        before["refused"],
        json!([{"code": "invalid_event_name", "count": 2}])
    );
    assert_eq!(before["verdict"], "bad payloads", "{before}");

    // A restart keeps them: they live in the database, not in the process.
    aggregator.stop();
    let aggregator = Aggregator::start(&stack.nats, &stack.cli, &[]).await;
    let after = recent_of(&aggregator, &a.id, |r| r["stored"] == 5).await;
    assert_eq!(after["refused"], before["refused"]);
    assert!(after["queue_lag"]["count"].as_u64() >= before["queue_lag"]["count"].as_u64());

    // And the page says it plainly.
    let browser = Browser::launch().await;
    let url = aggregator.url.clone();
    browser.goto(&format!("{url}/backoffice/login")).await;
    browser.fill("#token", ADMIN_TOKEN).await;
    browser.click("#sign-in button").await;
    browser.goto(&format!("{url}/backoffice/latency")).await;
    let row = format!("#projects tr[data-project='{}']", a.id);
    assert_eq!(
        browser
            .eval(&format!(
                "document.querySelector(\"{row}\").dataset.verdict"
            ))
            .await,
        json!("bad payloads")
    );
    let refused = browser
        .text(&format!("{row} td[data-figure=refused]"))
        .await
        .unwrap_or_default();
    assert!(refused.contains("invalid_event_name ×2"), "{refused}");
    let lag = browser
        .text(&format!("{row} td[data-figure=queue_lag]"))
        .await
        .unwrap_or_default();
    assert!(lag.contains(" / "), "queue lag figures: {lag}");
    browser
        .screenshot(&pages::screenshot_path("backoffice-latency.png"))
        .await;
}
