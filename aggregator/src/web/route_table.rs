//! The aggregator's route table: which methods each path answers. A request with another
//! method gets `405` with `Allow`, and the OpenAPI document must name every route.

use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::routes::{Route, allowed, allows};
use warp::Filter;
use warp::http::{HeaderValue, header};

use super::reply;

/// Every path the aggregator serves and its methods: a request with another method gets
/// `405` with this `Allow`.
pub const ROUTES: &[Route] = &[
    ("/v1/events", "GET"),
    ("/v1/events/*", "GET"),
    ("/v1/contacts/*", "GET"),
    ("/v1/dlq/counts", "GET"),
    ("/v1/system-events", "POST"),
    ("/v1/waits", "POST"),
    ("/v1/waits/*", "GET, DELETE"),
    ("/v1/catalog", "GET"),
    ("/v1/catalog/*", "GET"),
    ("/v1/catalog/*/pii/*", "POST"),
    ("/v1/backoffice/catalog", "GET"),
    ("/v1/backoffice/latency", "GET"),
    ("/backoffice", "GET"),
    ("/backoffice/login", "GET, POST"),
    ("/backoffice/logout", "POST"),
    ("/backoffice/catalog", "GET"),
    ("/backoffice/latency", "GET"),
    ("/backoffice/dead-letters", "GET"),
    ("/backoffice/dead-letters/replay", "POST"),
    ("/backoffice/dead-letters/*", "GET"),
    ("/backoffice/dead-letters/*/replay", "POST"),
    ("/backoffice/replays/*", "GET"),
    ("/backoffice/projects", "GET"),
    ("/backoffice/projects/*", "GET, POST"),
    ("/dashboard", "GET"),
    ("/dashboard/login", "GET, POST"),
    ("/dashboard/logout", "POST"),
    ("/dashboard/*/catalog", "GET"),
    ("/dashboard/*/catalog/*", "GET"),
    ("/dashboard/*/catalog/*/pii", "POST"),
    ("/static/sendrealm.css", "GET"),
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/metrics", "GET"),
];

/// `405` with `Allow` for a known path asked with a method it does not answer; any other
/// request is left to the other routes' rejections.
pub(super) fn method_not_allowed()
-> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    warp::path::full().and(warp::method()).and_then(
        |path: warp::path::FullPath, method: warp::http::Method| async move {
            match allowed(ROUTES, path.as_str()) {
                Some(allow) if !allows(allow, method.as_str()) => {
                    let mut response = reply::ApiError::new(
                        ErrorCode::MethodNotAllowed,
                        format!("{} answers {allow} only", path.as_str()),
                    )
                    .into_response();
                    response
                        .headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static(allow));
                    Ok(response)
                }
                _ => Err(warp::reject::not_found()),
            }
        },
    )
}

#[cfg(test)]
mod contract {
    #[test]
    fn every_route_is_in_the_openapi_document() {
        let yaml = include_str!("../../../docs/openapi-aggregator.yaml");
        let missing = sendrealm_common::routes::undocumented(super::ROUTES, yaml);
        assert!(
            missing.is_empty(),
            "not in docs/openapi-aggregator.yaml: {missing:?}"
        );
    }
}
