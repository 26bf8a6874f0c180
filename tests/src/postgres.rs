//! A throwaway PostgreSQL database per test, on the machine's server (127.0.0.1:5432).
//!
//! Without PostgreSQL the tests that need it are skipped with a message, except under
//! `CI=true`, where they fail: CI must never silently skip them.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The server the tests use; override with `SENDREALM_TEST_POSTGRES`.
fn admin_url() -> String {
    std::env::var("SENDREALM_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that is dropped at the end of the test.
pub struct PgDatabase {
    name: String,
    /// Its URL.
    pub url: String,
}

impl PgDatabase {
    /// Creates a fresh database, or returns `None` (skip) when PostgreSQL is unavailable
    /// outside CI.
    pub async fn create() -> Option<PgDatabase> {
        let admin = admin_url();
        let mut conn = match PgConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(error) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!(
                        "PostgreSQL is required under CI=true but {admin} is unreachable: {error}"
                    );
                }
                eprintln!("SKIPPED: PostgreSQL unreachable at {admin} ({error})");
                return None;
            }
        };
        let name = format!("sendrealm_test_{}", crate::unique_suffix());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        Some(PgDatabase {
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = admin_url();
        // Drop runs outside any runtime guarantee: use a small one of our own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}
