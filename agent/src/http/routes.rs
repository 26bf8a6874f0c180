//! The route table. Handlers live in [`super::handlers`].

use std::sync::Arc;

use warp::Filter;

use super::State;
use super::error::recover;
use super::handlers;

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
        .recover(recover)
        .unify()
}
