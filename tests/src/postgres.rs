//! A throwaway PostgreSQL database per test, on the machine's server (127.0.0.1:5432).
//!
//! A test that needs PostgreSQL and cannot reach it fails; it never passes without having
//! run. Every such test has `postgres` in its name, and `./scripts/test` leaves them out
//! (nextest reports them as skipped) when PostgreSQL is unreachable outside CI; under
//! `CI=true` they always run.

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
    /// Creates a fresh database for a test; fails the test when PostgreSQL is unreachable.
    pub async fn require() -> PgDatabase {
        match Self::create().await {
            Some(db) => db,
            None => panic!(
                "PostgreSQL is unreachable at {}: this test needs it. ./scripts/test starts it \
                 (pg_ctlcluster), or skips the tests named *postgres* when it cannot (never \
                 under CI=true).",
                admin_url()
            ),
        }
    }

    /// Creates a fresh database, or `None` when PostgreSQL is unreachable (for tools, such
    /// as the benchmark, that report the lines they could not measure).
    pub async fn create() -> Option<PgDatabase> {
        let admin = admin_url();
        let mut conn = match PgConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(error) => {
                eprintln!("PostgreSQL unreachable at {admin}: {error}");
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
