//! Reading request bodies under a hard cap, and the content-type rule.

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use sendrealm_common::error_code::ErrorCode;

use super::error::ApiError;

/// Whether a `Content-Type` value is JSON (`application/json`, any parameters).
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Refuses a wrong content type with `415`.
pub fn require_json(content_type: Option<&str>) -> Result<(), ApiError> {
    if is_json(content_type) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as JSON with `Content-Type: application/json`",
        ))
    }
}

fn too_large(cap: u64) -> ApiError {
    let mut error = ApiError::new(
        ErrorCode::BodyTooLarge,
        format!("the request body exceeds this agent's limit of {cap} bytes"),
    );
    error.details = Some(Box::new(serde_json::json!({ "limit_bytes": cap })));
    error
}

/// Reads the body, refusing it as soon as it passes `cap`: at once when `Content-Length`
/// says so, otherwise when the bytes read so far do (chunked bodies), so an oversized body
/// is never buffered whole.
pub async fn read_capped<S, B>(
    body: S,
    content_length: Option<u64>,
    cap: u64,
) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    if content_length.is_some_and(|len| len > cap) {
        return Err(too_large(cap));
    }
    let mut body = std::pin::pin!(body);
    let capacity = content_length.unwrap_or(0).min(cap) as usize;
    let mut buffer = BytesMut::with_capacity(capacity);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|error| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("the request body could not be read: {error}"),
            )
        })?;
        if (buffer.len() + chunk.remaining()) as u64 > cap {
            return Err(too_large(cap));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            buffer.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(buffer.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<&'static [u8], warp::Error>> {
        futures::stream::iter(parts.iter().map(|p| Ok(*p)).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn reads_under_the_cap() {
        let body = read_capped(chunks(&[b"ab", b"cd"]), None, 4).await.unwrap();
        assert_eq!(&body[..], b"abcd");
    }

    #[tokio::test]
    async fn refuses_by_content_length_before_reading() {
        let err = read_capped(chunks(&[]), Some(5), 4).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::BodyTooLarge);
    }

    #[tokio::test]
    async fn refuses_chunked_bodies_once_over() {
        let err = read_capped(chunks(&[b"abc", b"de", b"never read"]), None, 4)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::BodyTooLarge);
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("application/x-www-form-urlencoded")));
        assert!(!is_json(None));
    }
}
