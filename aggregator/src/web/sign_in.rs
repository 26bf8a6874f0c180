//! Signing in and out of the dashboard (owner tokens) and the backoffice (the admin
//! token): the sign-in form with its own CSRF token, the new session's cookie, sign-out.

use std::sync::Arc;

use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::Timestamp;
use warp::http::{StatusCode, header};
use warp::reply::Response;

use super::State;
use super::pages::{self, Frame, SignIn, problem, signed_out};
use super::reply::ApiError;
use super::session::{Credentials, Form, check_form, see_other};
use crate::sessions::{self, Role, SignInError};

/// Opens a sign-in form's session and renders the form, with `error` when a previous
/// attempt failed. Shared by the dashboard and the backoffice.
pub async fn sign_in_form(state: &State, staff: bool, error: Option<SignInError>) -> Response {
    let now = Timestamp::now().unix_millis();
    let opened = match sessions::open(&state.store, Role::SignIn, "", now).await {
        Ok(opened) => opened,
        Err(error) => return problem(signed_out(), sign_in_failure(error)),
    };
    let status = match &error {
        Some(SignInError::BadToken) => StatusCode::UNAUTHORIZED,
        Some(SignInError::StaleForm) => StatusCode::FORBIDDEN,
        Some(_) => StatusCode::SERVICE_UNAVAILABLE,
        None => StatusCode::OK,
    };
    let (home, action) = if staff {
        ("/backoffice", "/backoffice/login")
    } else {
        ("/dashboard", "/dashboard/login")
    };
    let mut response = pages::render(
        status,
        &SignIn {
            frame: Frame {
                home: home.into(),
                staff,
                ..Frame::default()
            },
            action: action.into(),
            form_csrf: opened.session.csrf_token.clone(),
            error: error.map(|e| e.to_string()).unwrap_or_default(),
        },
    );
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.set_cookie(&opened));
    response
}

fn sign_in_failure(error: SignInError) -> ApiError {
    match error {
        SignInError::Store(error) => error.into(),
        other => ApiError::new(ErrorCode::InternalError, other.to_string()),
    }
}

/// Signs in from a posted form and redirects to `home` (with `{project}` filled in for an
/// owner); a failure renders the form again with the reason.
pub async fn sign_in(
    state: &State,
    credentials: &Credentials,
    form: &Form,
    staff: bool,
) -> Response {
    let now = Timestamp::now().unix_millis();
    let form_session = match state.session(credentials).await {
        Ok(session) => session,
        Err(error) => return problem(signed_out(), error),
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let admin = if staff {
        match state.admin_token_sha256.as_ref() {
            Some(hash) => Some(hash),
            // Without an admin token configured nobody is staff.
            None => return sign_in_form(state, staff, Some(SignInError::BadToken)).await,
        }
    } else {
        None
    };
    let stale = credentials.cross_site;
    let result = if stale {
        Err(SignInError::StaleForm)
    } else {
        sessions::sign_in(
            &state.store,
            form_session.as_ref(),
            field("csrf"),
            field("token"),
            admin,
            now,
        )
        .await
    };
    match result {
        Ok(opened) => {
            let location = match &opened.session.role {
                Role::Owner(project) => format!("/dashboard/{project}/catalog"),
                _ => "/backoffice/catalog".to_owned(),
            };
            let mut response = see_other(&location);
            response
                .headers_mut()
                .insert(header::SET_COOKIE, state.set_cookie(&opened));
            response
        }
        Err(error) => sign_in_form(state, staff, Some(error)).await,
    }
}

/// Signs out (a POST form with the session's CSRF token) and redirects to `to`.
pub async fn sign_out(state: &State, credentials: &Credentials, form: &Form, to: &str) -> Response {
    match state.session(credentials).await {
        Ok(Some(session)) => {
            if let Err(error) =
                check_form(credentials, &session, form.get("csrf").map(String::as_str))
            {
                return problem(signed_out(), error);
            }
            if let Err(error) = sessions::close(&state.store, &session).await {
                return problem(signed_out(), error.into());
            }
        }
        Ok(None) => {}
        Err(error) => return problem(signed_out(), error),
    }
    let mut response = see_other(to);
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.clear_cookie());
    response
}

/// `GET /dashboard/login`.
pub async fn login_page(state: Arc<State>) -> Response {
    sign_in_form(&state, false, None).await
}

/// `POST /dashboard/login`.
pub async fn login(state: Arc<State>, credentials: Credentials, form: Form) -> Response {
    sign_in(&state, &credentials, &form, false).await
}

/// `POST /dashboard/logout`.
pub async fn logout(state: Arc<State>, credentials: Credentials, form: Form) -> Response {
    sign_out(&state, &credentials, &form, "/dashboard/login").await
}
