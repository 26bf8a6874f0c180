//! The route table. Handlers live in [`super::handlers`].

use std::sync::Arc;

use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::routes::{Route, allowed, allows};
use warp::Filter;
use warp::http::{HeaderValue, header};

use super::State;
use super::error::recover;
use super::handlers;

/// Every path the agent serves and its methods: a request with another method gets `405`
/// with this `Allow`.
pub const ROUTES: &[Route] = &[
    ("/events", "POST"),
    ("/events/batch", "POST"),
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/metrics", "GET"),
];

/// `405` with `Allow` for a known path asked with a method it does not answer; any other
/// request is left to the other routes' rejections.
fn method_not_allowed()
-> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    warp::path::full().and(warp::method()).and_then(
        |path: warp::path::FullPath, method: warp::http::Method| async move {
            match allowed(ROUTES, path.as_str()) {
                Some(allow) if !allows(allow, method.as_str()) => {
                    let mut response = super::error::ApiError::new(
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

/// All agent routes, with every rejection rendered as the error envelope.
pub fn routes(
    state: Arc<State>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible> + Clone {
    let with_state = warp::any().map(move || Arc::clone(&state));

    let post_event = warp::path!("events")
        .and(warp::post())
        .and(with_state.clone())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .then(handlers::post_event);

    let post_batch = warp::path!("events" / "batch")
        .and(warp::post())
        .and(with_state.clone())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .then(handlers::post_batch);

    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(handlers::healthz);

    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with_state.clone())
        .map(handlers::readyz);

    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state)
        .and(warp::header::optional::<String>("authorization"))
        .map(handlers::metrics);

    post_event
        .or(post_batch)
        .unify()
        .or(healthz)
        .unify()
        .or(readyz)
        .unify()
        .or(metrics)
        .unify()
        .or(method_not_allowed())
        .unify()
        .recover(recover)
        .unify()
}

#[cfg(test)]
mod contract {
    #[test]
    fn every_route_is_in_the_openapi_document() {
        let yaml = include_str!("../../../docs/openapi.yaml");
        let missing = sendrealm_common::routes::undocumented(super::ROUTES, yaml);
        assert!(missing.is_empty(), "not in docs/openapi.yaml: {missing:?}");
    }
}
