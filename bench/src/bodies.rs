//! The request bodies of the load: the same event shape every phase sends.

use std::sync::Arc;

use crate::loadgen::BodyFn;

/// The benchmark's event body: about 400 bytes, unique idempotency key per request.
pub fn event_body(run: &str, n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_event_body(&mut out, run, n);
    out
}

/// Appends [`event_body`] to `out` (the load generator reuses one buffer per connection).
pub fn write_event_body(out: &mut Vec<u8>, run: &str, n: u64) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        r#"{{"event":"order.completed","email":"user{}@example.com","payload":{{"order_id":"ord_{n}","amount":4900,"currency":"USD","items":[{{"sku":"sku_1","qty":2}},{{"sku":"sku_2","qty":1}}],"note":"{NOTE}"}},"occurred_at":"2026-06-08T14:15:00.000Z","idempotency_key":"bench-{run}-{n}"}}"#,
        n % 1000,
    );
}

/// The payload's filler.
const NOTE: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// One event per request.
pub fn single_body(run: String) -> BodyFn {
    Arc::new(move |n, out: &mut Vec<u8>| write_event_body(out, &run, n))
}

/// `size` events per request.
pub fn batch_body(run: String, size: usize) -> BodyFn {
    Arc::new(move |n, out: &mut Vec<u8>| {
        out.extend_from_slice(b"{\"events\":[");
        for i in 0..size as u64 {
            if i > 0 {
                out.push(b',');
            }
            write_event_body(out, &run, n * size as u64 + i);
        }
        out.extend_from_slice(b"]}");
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_note_is_120_bytes() {
        assert_eq!(super::NOTE.len(), 120);
    }
}
