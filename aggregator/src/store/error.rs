//! Store errors, and what a database error means for the event that caused it.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write.
    #[error("conflict on {constraint}")]
    Conflict {
        /// The constraint (or column list, on SQLite).
        constraint: String,
    },
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// The database cannot be reached or timed out: worth retrying.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(String),
    /// The URL names no supported backend.
    #[error("unsupported database URL (use sqlite: or postgres:)")]
    UnsupportedUrl,
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                constraint: db
                    .constraint()
                    .map(str::to_owned)
                    .unwrap_or_else(|| db.message().to_owned()),
            },
            sqlx::Error::Database(db) => match classify(
                db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .is_some(),
                db.code().as_deref(),
            ) {
                Class::Race => StoreError::Conflict {
                    constraint: db.message().to_owned(),
                },
                Class::Refused => StoreError::Database(error.to_string()),
                Class::Transient => StoreError::Unavailable(error.to_string()),
            },
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
            _ => StoreError::Database(error.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(error.to_string())
    }
}

/// What a database error code means for the event that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Concurrent writers collided: retry the batch at once.
    Race,
    /// The data itself is refused: retrying cannot help (the event is dead-lettered).
    Refused,
    /// The database is unwell (down, busy, timing out, failing over): retry later.
    Transient,
}

/// Only data and constraint errors refuse an event; anything else is the database's
/// condition and is retried, so a bad minute never dead-letters healthy events.
///
/// The backend decides how to read the code: many SQLSTATEs are all digits (`23502`), so
/// a code alone cannot tell a PostgreSQL state from a SQLite result code.
fn classify(postgres: bool, code: Option<&str>) -> Class {
    let Some(code) = code else {
        return Class::Transient;
    };
    if postgres {
        return match code {
            // Serialization failure, deadlock: concurrent writers.
            "40001" | "40P01" => Class::Race,
            // Class 22 (data exception) and 23 (integrity constraint).
            _ if code.starts_with("22") || code.starts_with("23") => Class::Refused,
            _ => Class::Transient,
        };
    }
    // SQLite: the primary result code is the low byte of the extended one. Constraint
    // (19), mismatch (20), too big (18), range (25) are about the data.
    match code.parse::<u32>().map(|extended| extended & 0xff) {
        Ok(18 | 19 | 20 | 25) => Class::Refused,
        _ => Class::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_refuse_and_everything_else_is_retried() {
        // SQLite extended codes: SQLITE_CONSTRAINT_NOTNULL (1299), SQLITE_BUSY (5),
        // SQLITE_IOERR_FSYNC (1034), SQLITE_TOOBIG (18).
        assert_eq!(classify(false, Some("1299")), Class::Refused);
        assert_eq!(classify(false, Some("18")), Class::Refused);
        assert_eq!(classify(false, Some("5")), Class::Transient);
        assert_eq!(classify(false, Some("1034")), Class::Transient);
        // PostgreSQL: invalid text representation, not-null violation, string too long,
        // admin shutdown, lock timeout, serialization failure.
        assert_eq!(classify(true, Some("22P02")), Class::Refused);
        assert_eq!(classify(true, Some("23502")), Class::Refused);
        assert_eq!(classify(true, Some("22001")), Class::Refused);
        assert_eq!(classify(true, Some("57P01")), Class::Transient);
        assert_eq!(classify(true, Some("55P03")), Class::Transient);
        assert_eq!(classify(true, Some("40001")), Class::Race);
        assert_eq!(classify(true, None), Class::Transient);
    }
}
