use std::time::Duration;

use sendrealm_e2e::stack::Stack;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn event(fields: Value) -> Value {
    let mut base = json!({"event": "order.completed", "email": "olivia@example.com"});
    for (k, v) in fields.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

#[tokio::test]
async fn bad_events_get_their_status_and_code_and_never_reach_the_stream() {
    let stack = Stack::start(&["--payload-limit-bytes", "100"], &[]).await;
    let key = stack.project.key.as_str();
    let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
        (
            event(json!({"event": "Order.Completed"})),
            422,
            "invalid_event_name",
            Some("event"),
        ),
        (
            event(json!({"event": "order..completed"})),
            422,
            "invalid_event_name",
            Some("event"),
        ),
        (
            event(json!({"event": ".order"})),
            422,
            "invalid_event_name",
            Some("event"),
        ),
        (
            event(json!({"event": "order.completed."})),
            422,
            "invalid_event_name",
            Some("event"),
        ),
        (
            event(json!({"event": "order completed.now"})),
            422,
            "invalid_event_name",
            Some("event"),
        ),
        (
            event(json!({"event": "ordér.completed"})),
            422,
            "invalid_event_name",
            Some("event"),
        ),
        (
            event(json!({"event": "sendrealm.mail.send"})),
            403,
            "reserved_event_name",
            Some("event"),
        ),
        (
            event(json!({"email": null})),
            422,
            "missing_identity",
            Some("email"),
        ),
        (
            event(json!({"email": "olivia@"})),
            422,
            "invalid_email",
            Some("email"),
        ),
        (
            event(json!({"external_id": "undefined"})),
            422,
            "invalid_identity",
            Some("external_id"),
        ),
        (
            event(json!({"contact_id": "null"})),
            422,
            "invalid_identity",
            Some("contact_id"),
        ),
        (
            event(json!({"occurred_at": "2026-06-08 14:15"})),
            422,
            "invalid_occurred_at",
            Some("occurred_at"),
        ),
        (
            event(json!({"occurred_at": "2999-01-01T00:00:00Z"})),
            422,
            "invalid_occurred_at",
            Some("occurred_at"),
        ),
        (
            event(json!({"idempotency_key": ""})),
            422,
            "invalid_idempotency_key",
            Some("idempotency_key"),
        ),
        (
            event(json!({"emial": "x@y.co"})),
            422,
            "unknown_field",
            Some("emial"),
        ),
        (
            event(json!({"payload": [1, 2]})),
            422,
            "invalid_payload",
            Some("payload"),
        ),
        (
            event(json!({"occurred_at": 5})),
            422,
            "invalid_field_type",
            Some("occurred_at"),
        ),
    ];
    for (body, status, code, param) in &cases {
        let reply = stack.agent.send_event(key, body).await;
        assert_eq!(reply.status, *status, "{body} → {}", reply.text);
        let error = &reply.json()["error"];
        assert_eq!(error["code"], *code, "{body}");
        assert_eq!(error["param"].as_str(), *param, "{body}");
        assert!(!error["message"].as_str().unwrap().is_empty());
        assert!(error["type"].is_string());
    }

    // Payload limit 100: one byte over is refused with the limit named; exactly at it passes.
    let at_limit = json!({"k": "x".repeat(92)});
    assert_eq!(at_limit.to_string().len(), 100);
    let over = json!({"k": "x".repeat(93)});
    let reply = stack
        .agent
        .send_event(key, &event(json!({"payload": over})))
        .await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert_eq!(reply.error_code(), "payload_too_large");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("100")
    );
    assert_eq!(
        stack.stream_events().await,
        0,
        "no refused event reached the stream"
    );
    let reply = stack
        .agent
        .send_event(key, &event(json!({"payload": at_limit})))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert_eq!(stack.stream_events().await, 1);
}

#[tokio::test]
async fn malformed_requests_and_bad_keys_are_refused() {
    let stack = Stack::start(&[], &[]).await;
    let key = stack.project.key.as_str();
    let agent = &stack.agent;

    let reply = agent
        .post_raw(
            "/events",
            Some(key),
            Some("application/json"),
            "{\"event\": ",
        )
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "malformed_json")
    );
    let reply = agent
        .post_raw("/events", Some(key), Some("application/json"), "[]")
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "invalid_request")
    );
    let reply = agent
        .post_raw(
            "/events",
            Some(key),
            Some("text/plain"),
            crate::docs_example().to_string(),
        )
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (415, "unsupported_media_type")
    );

    let reply = agent
        .post_raw(
            "/events",
            None,
            Some("application/json"),
            crate::docs_example().to_string(),
        )
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (401, "missing_api_key")
    );
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    let reply = agent
        .send_event("sk_not_a_real_key", &crate::docs_example())
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (401, "invalid_api_key")
    );
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));

    let reply = agent.get("/events").await.unwrap();
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (405, "method_not_allowed")
    );
    assert_eq!(stack.stream_events().await, 0);
}

#[tokio::test]
async fn bodies_over_the_hard_cap_are_refused_without_being_read() {
    let stack = Stack::start(&[], &[("SENDREALM_MAX_BODY_BYTES", "4096")]).await;
    let key = stack.project.key.clone();

    // A declared length over the cap: 413 comes back before any body byte is sent.
    let addr = stack.agent.url.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");

    // A chunked body that passes the cap and then never ends: refused once over the cap,
    // which proves the agent does not wait to buffer the whole body.
    let chunk = bytes::Bytes::from(vec![b' '; 3000]);
    let endless = futures::stream::iter(vec![
        Ok::<_, std::io::Error>(chunk.clone()),
        Ok(chunk.clone()),
    ])
    .chain(futures::stream::pending());
    let request = stack
        .agent
        .http
        .post(format!("{}/events", stack.agent.url))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(endless))
        .send();
    let response = tokio::time::timeout(Duration::from_secs(5), request)
        .await
        .expect("answered while the body was still streaming")
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(stack.stream_events().await, 0);
}

use futures::StreamExt as _;

#[tokio::test]
async fn over_the_rate_limit_gets_429_with_retry_after() {
    let stack = Stack::start(
        &["--rate-limit-per-sec", "1", "--rate-limit-burst", "3"],
        &[],
    )
    .await;
    let key = stack.project.key.as_str();
    let mut statuses = Vec::new();
    let mut limited = None;
    for i in 0..6 {
        let reply = stack
            .agent
            .send_event(
                key,
                &json!({"event": "page.viewed", "external_id": format!("u{i}")}),
            )
            .await;
        statuses.push(reply.status);
        if reply.status == 429 {
            limited.get_or_insert(reply);
        }
    }
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    // Burst 3 plus at most one refill during the loop.
    assert!((3..=4).contains(&accepted), "{statuses:?}");
    let limited = limited.expect("some requests were rate limited");
    assert_eq!(limited.error_code(), "rate_limited");
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(limited.header("ratelimit-limit"), Some("3"));
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    assert!(limited.header("ratelimit-reset").is_some());
    assert_eq!(stack.stream_events().await, accepted as u64);
}
