//! The request bodies of the load: the same event shape every phase sends.

use std::sync::Arc;

use crate::loadgen::BodyFn;

/// The benchmark's event body: about 400 bytes, unique idempotency key per request.
pub fn event_body(run: &str, n: u64) -> Vec<u8> {
    format!(
        r#"{{"event":"order.completed","email":"user{}@example.com","payload":{{"order_id":"ord_{n}","amount":4900,"currency":"USD","items":[{{"sku":"sku_1","qty":2}},{{"sku":"sku_2","qty":1}}],"note":"{}"}},"occurred_at":"2026-06-08T14:15:00.000Z","idempotency_key":"bench-{run}-{n}"}}"#,
        n % 1000,
        "x".repeat(120)
    )
    .into_bytes()
}

/// One event per request.
pub fn single_body(run: String) -> BodyFn {
    Arc::new(move |n| event_body(&run, n))
}

/// `size` events per request.
pub fn batch_body(run: String, size: usize) -> BodyFn {
    Arc::new(move |n| {
        let mut body = b"{\"events\":[".to_vec();
        for i in 0..size as u64 {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&event_body(&run, n * size as u64 + i));
        }
        body.extend_from_slice(b"]}");
        body
    })
}
