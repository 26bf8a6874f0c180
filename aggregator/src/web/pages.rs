//! The pages' templates (askama, under `templates/`, checked at compile time and escaped
//! by default) and their rendering into responses.

use askama::Template;
use warp::http::StatusCode;
use warp::reply::Response;

use sendrealm_common::error_code::ErrorCode;

use super::reply::ApiError;
use super::session::page;
use super::views::{EntryDetail, EntryRow};

/// The stylesheet, served at `/static/sendrealm.css`.
pub const STYLESHEET: &str = include_str!("../../static/sendrealm.css");

/// What every page's frame shows: where home is, and the sign-out form when signed in.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// The brand link.
    pub home: String,
    /// Backoffice navigation.
    pub staff: bool,
    /// The session's CSRF token; empty when signed out (no sign-out form).
    pub csrf: String,
    /// Where the sign-out form posts.
    pub sign_out: String,
}

/// The sign-in page of the dashboard or the backoffice.
#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignIn {
    /// Frame (signed out).
    pub frame: Frame,
    /// Where the form posts.
    pub action: String,
    /// The sign-in form's CSRF token.
    pub form_csrf: String,
    /// Why the last attempt failed, or empty.
    pub error: String,
}

/// An owner's catalog list.
#[derive(Template)]
#[template(path = "catalog.html")]
pub struct Catalog {
    /// Frame.
    pub frame: Frame,
    /// The project's name.
    pub project_name: String,
    /// When the page was rendered.
    pub as_of: String,
    /// This page's URL, to reload.
    pub reload: String,
    /// The filters as given.
    pub filter_event: String,
    /// `true`, `false` or empty.
    pub filter_pii: String,
    /// `api`, `system` or empty.
    pub filter_source: String,
    /// The rows.
    pub rows: Vec<EntryRow>,
    /// Whether rows name their project (backoffice).
    pub show_project: bool,
    /// The next page's URL, or empty.
    pub next: String,
}

/// An owner's event page.
#[derive(Template)]
#[template(path = "event.html")]
pub struct Event {
    /// Frame.
    pub frame: Frame,
    /// The entry.
    pub d: EntryDetail,
    /// The catalog list.
    pub back: String,
    /// Where the PII decision forms post.
    pub decide: String,
}

/// Renders a template into a page with `status`; a template that fails to render (it
/// cannot, short of a formatting error) becomes a 500 page.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => page(status, html),
        Err(error) => {
            tracing::error!(%error, "A page failed to render.");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>Something went wrong.</p>".to_owned(),
            )
        }
    }
}

/// `GET /static/sendrealm.css`.
pub fn stylesheet() -> Response {
    let mut response = Response::new(STYLESHEET.into());
    let headers = response.headers_mut();
    headers.insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        warp::http::header::CACHE_CONTROL,
        warp::http::HeaderValue::from_static("public, max-age=300"),
    );
    headers.insert(
        warp::http::header::X_CONTENT_TYPE_OPTIONS,
        warp::http::HeaderValue::from_static("nosniff"),
    );
    response
}

/// A plain page for errors (404, 403, 503) in the pages' look.
#[derive(Template)]
#[template(
    source = "{% extends \"base.html\" %}{% block title %}{{ title }}{% endblock %}{% block content %}<h1>{{ title }}</h1><p>{{ message }}</p><p><a href=\"{{ frame.home }}\">Back</a></p>{% endblock %}",
    ext = "html"
)]
pub struct Problem {
    /// Frame.
    pub frame: Frame,
    /// Heading.
    pub title: String,
    /// What happened.
    pub message: String,
}

/// The frame of a page seen signed out.
pub fn signed_out() -> Frame {
    Frame {
        home: "/dashboard".into(),
        ..Frame::default()
    }
}

/// An error as a page.
pub fn problem(frame: Frame, error: ApiError) -> Response {
    let status = StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let title = match error.code {
        ErrorCode::NotFound => "Not found",
        ErrorCode::InvalidCsrfToken => "Form expired",
        ErrorCode::ServiceUnavailable => "Try again shortly",
        _ => "Request refused",
    };
    render(
        status,
        &Problem {
            frame,
            title: title.into(),
            message: error.message,
        },
    )
}
