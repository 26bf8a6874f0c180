//! The owner dashboard in a real browser: signing in with an owner token, the catalog,
//! an event's page with only redacted examples, a PII decision that persists, and what
//! another project's owner, a forged form or a signed-out session get.

use std::time::Duration;

use sendrealm_e2e::browser::Browser;
use sendrealm_e2e::pages;
use sendrealm_e2e::stack::{Database, Pipeline};
use serde_json::{Value, json};

const STORED: Duration = Duration::from_secs(30);

/// An owner token for a project, from the CLI.
async fn owner_token(pipeline: &Pipeline, project: &str) -> String {
    let issued = pipeline
        .stack
        .cli
        .json(&["project", "owner-token", project, "--json"])
        .await;
    issued["owner_token"]
        .as_str()
        .expect("an owner token")
        .to_owned()
}

/// Sends events and waits until the catalog has counted them.
async fn send_and_fold(pipeline: &Pipeline, key: &str, event: &str, events: Vec<Value>) {
    let count = events.len() as u64;
    let reply = pipeline.stack.agent.send_batch(key, events).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    sendrealm_e2e::wait::until(STORED, "the catalog to count the events", || async {
        let (status, entry) = pipeline
            .aggregator
            .get_data(&format!("/v1/catalog/{event}"), key)
            .await;
        (status == 200 && entry["count"].as_u64() >= Some(count)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_owner_reviews_the_catalog_and_decides_on_pii_in_a_browser() {
    let pipeline = Pipeline::start(Database::Sqlite, &[], &[], &[]).await;
    let url = pipeline.aggregator.url.clone();
    let a = pipeline.stack.project.clone();
    let b = pipeline.stack.cli.create_project("Other shop", &[]).await;

    let orders: Vec<Value> = (0..3)
        .map(|n| {
            json!({"event": "order.completed", "email": "olivia@example.com",
                   "idempotency_key": format!("order-{n}"),
                   "payload": {"order_id": format!("ord_{n}77"), "amount": 4900,
                               "card": "4111 1111 1111 1111",
                               "<script>alert(1)</script>": "x"}})
        })
        .collect();
    send_and_fold(&pipeline, &a.key, "order.completed", orders).await;
    let secret = vec![json!({"event": "b.secret", "email": "b@example.com",
                             "payload": {"plan": "gold"}})];
    send_and_fold(&pipeline, &b.key, "b.secret", secret).await;
    let token_a = owner_token(&pipeline, &a.id).await;
    let token_b = owner_token(&pipeline, &b.id).await;

    let browser = Browser::launch().await;
    // Signed out, the dashboard leads to the sign-in form; a wrong token is refused there.
    browser.goto(&format!("{url}/dashboard")).await;
    assert!(browser.url().await.ends_with("/dashboard/login"));
    browser.fill("#token", "sro_not_a_token").await;
    browser.click("#sign-in button").await;
    let error = browser.text(".error").await.unwrap_or_default();
    assert!(error.contains("not valid"), "{error}");
    browser
        .screenshot(&pages::screenshot_path("dashboard-sign-in.png"))
        .await;

    // Signed in: the catalog lists the project's event with a PII badge.
    browser.fill("#token", &token_a).await;
    browser.click("#sign-in button").await;
    assert!(
        browser
            .url()
            .await
            .ends_with(&format!("/dashboard/{}/catalog", a.id)),
        "{}",
        browser.url().await
    );
    let row = browser
        .text("#entries tr[data-event='order.completed']")
        .await
        .expect("the event's row");
    assert!(row.contains("to review"), "{row}");
    assert!(
        browser
            .text("#entries tr[data-event='b.secret']")
            .await
            .is_none(),
        "another project's event is not listed"
    );
    browser
        .screenshot(&pages::screenshot_path("dashboard-catalog.png"))
        .await;
    // The name filter.
    browser
        .goto(&format!("{url}/dashboard/{}/catalog?event=nomatch", a.id))
        .await;
    assert!(browser.text("#entries tbody tr").await.is_none());
    browser
        .goto(&format!("{url}/dashboard/{}/catalog?event=order", a.id))
        .await;

    // The event page: schema, flags, and examples that hold no value that was sent.
    browser.click("#entries a").await;
    let html = browser.html().await;
    for value in ["4111", "ord_177", "olivia", "4900"] {
        assert!(
            !html.contains(value),
            "the page shows a payload value: {value}"
        );
    }
    assert!(
        html.contains("&lt;string:19&gt;") || html.contains("&lt;card&gt;"),
        "masked card"
    );
    // A payload key that looks like markup is text, not markup.
    let scripts = browser
        .eval("document.querySelectorAll('script').length")
        .await;
    assert_eq!(scripts, json!(0));
    let examples = browser.text("#examples").await.unwrap_or_default();
    assert!(examples.contains("<script>alert(1)</script>"), "{examples}");
    let flag = "#pii tr[data-path='payload.card']";
    assert_eq!(
        browser
            .eval(&format!(
                "document.querySelector(\"{flag}\").dataset.status"
            ))
            .await,
        json!("detected")
    );
    assert!(browser.text("#volume").await.is_some(), "the volume chart");
    browser
        .screenshot(&pages::screenshot_path("dashboard-event.png"))
        .await;

    // Confirming the flag sticks: after a reload, and in the API.
    browser.click(&format!("{flag} button[name=confirm]")).await;
    // Reload without the fragment the redirect carries (same document otherwise).
    let event_page = browser
        .url()
        .await
        .split('#')
        .next()
        .unwrap_or_default()
        .to_owned();
    browser.goto(&event_page).await;
    assert_eq!(
        browser
            .eval(&format!(
                "document.querySelector(\"{flag}\").dataset.status"
            ))
            .await,
        json!("confirmed")
    );
    let (_, entry) = pipeline
        .aggregator
        .get_data("/v1/catalog/order.completed", &a.key)
        .await;
    let card = entry["pii"]["flags"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["path"] == "payload.card"))
        .expect("the card flag");
    assert_eq!(card["status"], "confirmed");

    // A narrow screen: the page itself does not scroll sideways.
    browser.set_width(390, 844).await;
    browser.goto(&event_page).await;
    let overflow = browser
        .eval("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
    assert!(overflow.as_i64() <= Some(0), "page overflows by {overflow}");
    browser
        .screenshot(&pages::screenshot_path("dashboard-event-narrow.png"))
        .await;
    browser.set_width(1280, 900).await;

    // URL tampering: project B's pages answer 404 to A's owner, in the browser…
    browser
        .goto(&format!("{url}/dashboard/{}/catalog", b.id))
        .await;
    assert_eq!(browser.text("h1").await.as_deref(), Some("Not found"));
    // …and over HTTP, pages and API alike, with A's session cookie.
    let cookie_a = format!(
        "sendrealm_session={}",
        browser
            .cookie("sendrealm_session")
            .await
            .expect("A's cookie")
    );
    for path in [
        format!("/dashboard/{}/catalog", b.id),
        format!("/dashboard/{}/catalog/b.secret", b.id),
        format!("/v1/catalog?project_id={}", b.id),
        format!("/v1/catalog/b.secret?project_id={}", b.id),
    ] {
        let (status, body) = pages::get(&url, &path, &cookie_a).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains("plan"), "{path} shows B's data");
    }
    let (status, body) = pages::get(&url, "/v1/catalog", &cookie_a).await;
    assert_eq!(
        status, 200,
        "the session reads its own project's API: {body}"
    );
    // A change through the API with the cookie needs the session's token in a header.
    let (_, page) = pages::get(&url, &format!("/dashboard/{}/catalog", a.id), &cookie_a).await;
    let csrf_a = pages::csrf_of(&page);
    let http = pages::client();
    let decide_api = format!("{url}/v1/catalog/order.completed/pii/confirm");
    let body = json!({"path": "payload.card"}).to_string();
    let without = http
        .post(&decide_api)
        .header("cookie", &cookie_a)
        .body(body.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(without.status().as_u16(), 403);
    let with = http
        .post(&decide_api)
        .header("cookie", &cookie_a)
        .header("x-csrf-token", &csrf_a)
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(with.status().as_u16(), 200);
    // Cookie swapping: B's session opens B's pages and nothing of A's.
    let cookie_b = pages::sign_in(&url, "/dashboard", &token_b).await;
    let (status, _) = pages::get(&url, &format!("/dashboard/{}/catalog", b.id), &cookie_b).await;
    assert_eq!(status, 200);
    let (status, _) = pages::get(
        &url,
        &format!("/dashboard/{}/catalog/order.completed", a.id),
        &cookie_b,
    )
    .await;
    assert_eq!(status, 404);

    // A form without its CSRF token, or with another session's, is refused and changes
    // nothing.
    let decide = format!("/dashboard/{}/catalog/order.completed/pii", a.id);
    let (_, b_page) = pages::get(&url, &format!("/dashboard/{}/catalog", b.id), &cookie_b).await;
    let csrf_b = pages::csrf_of(&b_page);
    for form in [
        vec![("path", "payload.card"), ("action", "dismiss")],
        vec![
            ("path", "payload.card"),
            ("action", "dismiss"),
            ("csrf", csrf_b.as_str()),
        ],
    ] {
        let (status, _) = pages::post_form(&url, &decide, &cookie_a, &form).await;
        assert_eq!(status, 403);
    }
    let (_, entry) = pipeline
        .aggregator
        .get_data("/v1/catalog/order.completed", &a.key)
        .await;
    assert!(entry["pii"]["likely"].as_bool() == Some(true));

    // Signing out ends the session on the server: the old cookie opens nothing.
    browser.click("header form button").await;
    assert!(browser.url().await.ends_with("/dashboard/login"));
    let (status, _) = pages::get(&url, &format!("/dashboard/{}/catalog", a.id), &cookie_a).await;
    assert_eq!(status, 303, "a signed-out session is sent to sign in");
    // A revoked owner token ends its sessions at once.
    let issued = pipeline
        .stack
        .cli
        .run(&["project", "revoke-owner-token", &b.id, &token_b])
        .await;
    assert!(issued.status.success());
    let (status, _) = pages::get(&url, &format!("/dashboard/{}/catalog", b.id), &cookie_b).await;
    assert_eq!(status, 303);
}
