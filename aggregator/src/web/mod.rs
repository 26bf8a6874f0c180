//! The aggregator's HTTP side: the read API, health and metrics.

pub mod auth;
pub mod backoffice;
pub mod catalog;
pub mod dashboard;
pub mod dlq;
pub mod events;
pub mod health;
pub mod internal;
pub mod pages;
pub mod query;
pub mod replays;
pub mod reply;
mod route_table;
pub mod session;
pub mod sign_in;
pub mod staff;
pub mod staff_dead_letters;
pub mod staff_figures;
pub mod staff_views;
pub mod views;
pub mod waits;

use std::sync::Arc;

use warp::Filter;

use crate::metrics::Metrics;
use crate::store::Store;

pub use route_table::ROUTES;

/// What the handlers share.
pub struct State {
    /// The store.
    pub store: Store,
    /// SHA-256 of the admin token, if admin access is configured.
    pub admin_token_sha256: Option<[u8; 32]>,
    /// SHA-256 of the token `/metrics` requires, if one is configured.
    pub metrics_token_sha256: Option<[u8; 32]>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The NATS client (readiness).
    pub client: async_nats::Client,
    /// Cancelled when shutdown begins (readiness).
    pub stopping: tokio_util::sync::CancellationToken,
    /// The region stamped on system events accepted here.
    pub region: String,
    /// The NATS settings (the policy bucket the backoffice publishes to).
    pub nats: sendrealm_common::config::NatsConfig,
    /// The backoffice's bulk replays.
    pub replays: replays::Replays,
    /// Whether session cookies are `Secure` (browsers reach us over HTTPS).
    pub secure_cookies: bool,
    /// The dead-letter counts `/metrics` shows, refreshed in the background.
    pub dlq_counts: std::sync::Mutex<Vec<crate::store::DlqCount>>,
}

/// Largest system event body (the project's payload limit applies within it).
const SYSTEM_EVENT_LIMIT_BYTES: u64 = 1024 * 1024;

/// Largest form body the pages accept.
const FORM_LIMIT_BYTES: u64 = 16 * 1024;

/// All aggregator routes, every rejection rendered as the error envelope.
pub fn routes(
    state: Arc<State>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible> + Clone {
    let credentials = session::credentials(state.secure_cookies);
    let with_state = warp::any().map(move || Arc::clone(&state));
    let bearer = warp::header::optional::<String>("authorization");

    let list = warp::path!("v1" / "events")
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(query::query::<events::EventQuery>())
        .then(events::list_events);
    let one = warp::path!("v1" / "events" / String)
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .then(events::get_event);
    let contact = warp::path!("v1" / "contacts" / String)
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .then(events::get_contact);
    let dlq = warp::path!("v1" / "dlq" / "counts")
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .then(dlq::dlq_counts);
    let backoffice_json = warp::path!("v1" / "backoffice" / "latency")
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .then(backoffice::latency_json);
    let catalog_list = warp::path!("v1" / "catalog")
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(query::query::<catalog::ListQuery>())
        .then(catalog::list);
    let catalog_one = warp::path!("v1" / "catalog" / String)
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(query::query::<catalog::EntryQuery>())
        .then(catalog::one);
    let catalog_decide = warp::path!("v1" / "catalog" / String / "pii" / String)
        .and(warp::post())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(query::query::<catalog::EntryQuery>())
        .and(warp::body::content_length_limit(16 * 1024))
        .and(warp::body::bytes())
        .then(catalog::decide);
    let catalog_backoffice = warp::path!("v1" / "backoffice" / "catalog")
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(query::query::<catalog::ListQuery>())
        .then(catalog::backoffice);
    let form = || {
        warp::body::content_length_limit(FORM_LIMIT_BYTES).and(warp::body::form::<session::Form>())
    };
    let dash_home = warp::path!("dashboard")
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .then(dashboard::home);
    let dash_login_page = warp::path!("dashboard" / "login")
        .and(warp::get())
        .and(with_state.clone())
        .then(sign_in::login_page);
    let dash_login = warp::path!("dashboard" / "login")
        .and(warp::post())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(form())
        .then(sign_in::login);
    let dash_logout = warp::path!("dashboard" / "logout")
        .and(warp::post())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(form())
        .then(sign_in::logout);
    let dash_catalog = warp::path!("dashboard" / String / "catalog")
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(query::form_query::<dashboard::ListQuery>())
        .then(dashboard::catalog);
    let dash_event = warp::path!("dashboard" / String / "catalog" / String)
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(query::form_query::<dashboard::EventQuery>())
        .then(dashboard::event);
    let dash_decide = warp::path!("dashboard" / String / "catalog" / String / "pii")
        .and(warp::post())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(query::form_query::<dashboard::EventQuery>())
        .and(form())
        .then(dashboard::decide);
    let bo_home = warp::path!("backoffice")
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .then(staff::home);
    let bo_login_page = warp::path!("backoffice" / "login")
        .and(warp::get())
        .and(with_state.clone())
        .then(staff::login_page);
    let bo_login = warp::path!("backoffice" / "login")
        .and(warp::post())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(form())
        .then(staff::login);
    let bo_logout = warp::path!("backoffice" / "logout")
        .and(warp::post())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(form())
        .then(staff::logout);
    let bo_catalog = warp::path!("backoffice" / "catalog")
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(query::form_query::<dashboard::ListQuery>())
        .then(staff::catalog);
    let bo_latency = warp::path!("backoffice" / "latency")
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .then(staff::latency);
    let bo_dead_letters = warp::path!("backoffice" / "dead-letters")
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(query::form_query::<staff_dead_letters::DeadLetterQuery>())
        .then(staff_dead_letters::dead_letters);
    let bo_replay_all = warp::path!("backoffice" / "dead-letters" / "replay")
        .and(warp::post())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(form())
        .then(staff_dead_letters::replay_all);
    let bo_dead_letter = warp::path!("backoffice" / "dead-letters" / String)
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .then(staff_dead_letters::dead_letter);
    let bo_replay_one = warp::path!("backoffice" / "dead-letters" / String / "replay")
        .and(warp::post())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(form())
        .then(staff_dead_letters::replay_one);
    let bo_replay_progress = warp::path!("backoffice" / "replays" / String)
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .then(staff_dead_letters::replay_progress);
    let bo_projects = warp::path!("backoffice" / "projects")
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .then(staff::projects_page);
    let bo_project = warp::path!("backoffice" / "projects" / String)
        .and(warp::get())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(query::form_query::<staff::ProjectQuery>())
        .then(staff::project);
    let bo_save_project = warp::path!("backoffice" / "projects" / String)
        .and(warp::post())
        .and(with_state.clone())
        .and(credentials.clone())
        .and(form())
        .then(staff::save_project);
    let stylesheet = warp::path!("static" / "sendrealm.css")
        .and(warp::get())
        .map(pages::stylesheet);
    let system_events = warp::path!("v1" / "system-events")
        .and(warp::post())
        .and(with_state.clone())
        .and(bearer)
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::content_length_limit(SYSTEM_EVENT_LIMIT_BYTES))
        .and(warp::body::bytes())
        .then(internal::post);
    let wait_create = warp::path!("v1" / "waits")
        .and(warp::post())
        .and(with_state.clone())
        .and(bearer)
        .and(warp::body::content_length_limit(SYSTEM_EVENT_LIMIT_BYTES))
        .and(warp::body::bytes())
        .then(waits::create);
    let wait_get = warp::path!("v1" / "waits" / String)
        .and(warp::get())
        .and(with_state.clone())
        .and(bearer)
        .then(waits::get);
    let wait_cancel = warp::path!("v1" / "waits" / String)
        .and(warp::delete())
        .and(with_state.clone())
        .and(bearer)
        .then(waits::cancel);
    let healthz = warp::path!("healthz").and(warp::get()).map(health::healthz);
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with_state.clone())
        .then(health::readyz);
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state)
        .and(bearer)
        .then(health::metrics);

    // Boxed in groups: one chain of every route nests its future types too deeply for the
    // compiler's trait solver.
    let reads = list
        .or(one)
        .unify()
        .or(contact)
        .unify()
        .or(dlq)
        .unify()
        .or(system_events)
        .unify()
        .or(wait_create)
        .unify()
        .or(wait_get)
        .unify()
        .or(wait_cancel)
        .unify()
        .boxed();
    let catalog = catalog_list
        .or(catalog_one)
        .unify()
        .or(catalog_decide)
        .unify()
        .or(catalog_backoffice)
        .unify()
        .boxed();
    let ops = backoffice_json
        .or(healthz)
        .unify()
        .or(readyz)
        .unify()
        .or(metrics)
        .unify()
        .boxed();
    let dashboard = dash_home
        .or(dash_login_page)
        .unify()
        .or(dash_login)
        .unify()
        .or(dash_logout)
        .unify()
        .or(dash_catalog)
        .unify()
        .or(dash_event)
        .unify()
        .or(dash_decide)
        .unify()
        .or(stylesheet)
        .unify()
        .boxed();
    let staff_pages = bo_home
        .or(bo_login_page)
        .unify()
        .or(bo_login)
        .unify()
        .or(bo_logout)
        .unify()
        .or(bo_catalog)
        .unify()
        .or(bo_latency)
        .unify()
        .boxed();
    let staff_ops = bo_dead_letters
        .or(bo_replay_all)
        .unify()
        .or(bo_dead_letter)
        .unify()
        .or(bo_replay_one)
        .unify()
        .or(bo_replay_progress)
        .unify()
        .or(bo_projects)
        .unify()
        .or(bo_project)
        .unify()
        .or(bo_save_project)
        .unify()
        .boxed();
    reads
        .or(catalog)
        .unify()
        .or(dashboard)
        .unify()
        .or(staff_pages)
        .unify()
        .or(staff_ops)
        .unify()
        .or(ops)
        .unify()
        .or(route_table::method_not_allowed())
        .unify()
        .recover(reply::recover)
        .unify()
}
