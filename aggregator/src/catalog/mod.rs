//! The event catalog: schema hints, drift records, PII flags and redacted examples per
//! (project, event name, source). Pure code: the caller stores [`Entry`] as JSON.

mod absorb;
mod classify;
mod detect;
mod drift;
pub mod entry;
pub mod fold;
pub mod fold_thread;
mod formats;
mod keys;
mod pii;
pub mod redact;
mod render;
mod schema;
mod secrets;
pub mod time;
mod walk;

pub use entry::{Entry, FlagStatus, Limits, NoSuchFlag};
pub use redact::redact;
