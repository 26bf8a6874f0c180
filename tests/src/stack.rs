//! A whole single-node pipeline for a test: nats-server, admin CLI, one project, an agent.

use async_nats::jetstream;
use sendrealm_common::subjects::DEFAULT_STREAM;

use crate::agent::Agent;
use crate::aggregator::{AdminCli, Aggregator, Project};
use crate::nats::NatsServer;
use crate::postgres::PgDatabase;

/// The pieces, started in order (project first: it creates the policy bucket).
pub struct Stack {
    /// The agent (dropped first: stops before NATS).
    pub agent: Agent,
    /// The admin CLI on the stack's database.
    pub cli: AdminCli,
    /// The project created at start.
    pub project: Project,
    /// The stack's own nats-server.
    pub nats: NatsServer,
}

impl Stack {
    /// Starts NATS, creates a project with `project_args`, starts an agent with `agent_env`.
    pub async fn start(project_args: &[&str], agent_env: &[(&str, &str)]) -> Stack {
        let nats = NatsServer::start();
        let cli = AdminCli::sqlite(&nats);
        Self::start_on(nats, cli, project_args, agent_env).await
    }

    /// Like [`start`](Self::start) on a given server and database.
    pub async fn start_on(
        nats: NatsServer,
        cli: AdminCli,
        project_args: &[&str],
        agent_env: &[(&str, &str)],
    ) -> Stack {
        let project = cli.create_project("test", project_args).await;
        let agent = Agent::start(&nats, agent_env).await;
        Stack {
            agent,
            cli,
            project,
            nats,
        }
    }

    /// The events stream, read through a fresh client.
    pub async fn stream(&self) -> jetstream::stream::Stream {
        self.nats
            .jetstream()
            .await
            .get_stream(DEFAULT_STREAM)
            .await
            .expect("events stream")
    }

    /// How many messages the events stream holds.
    pub async fn stream_len(&self) -> u64 {
        let mut stream = self.stream().await;
        stream.info().await.expect("stream info").state.messages
    }

    /// How many events the events stream holds: one per message of format 1, each event
    /// of a bundle (format 2).
    pub async fn stream_events(&self) -> u64 {
        self.stream_messages()
            .await
            .iter()
            .map(|(subject, body)| {
                if subject.ends_with(&format!(".{}", sendrealm_common::bundle::BUNDLE_TOKEN)) {
                    sendrealm_common::bundle::decode(body)
                        .map(|events| events.len() as u64)
                        .unwrap_or(0)
                } else {
                    1
                }
            })
            .sum()
    }

    /// Every message in the events stream: subject and body, in order.
    pub async fn stream_messages(&self) -> Vec<(String, bytes::Bytes)> {
        crate::nats::stream_messages(&mut self.stream().await).await
    }
}

/// Which database a pipeline stores into.
pub enum Database {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres(PgDatabase),
}

impl Database {
    /// A fresh PostgreSQL database (the test fails when PostgreSQL is unreachable).
    pub async fn postgres() -> Database {
        Database::Postgres(PgDatabase::require().await)
    }
}

/// The whole pipeline: agent and aggregator on one nats-server and one database.
pub struct Pipeline {
    /// The aggregator (stopped before the rest).
    pub aggregator: Aggregator,
    /// NATS, project, agent.
    pub stack: Stack,
    /// Keeps a PostgreSQL database alive for the test.
    pub database: Database,
}

impl Pipeline {
    /// Starts NATS, a project, the agent and the aggregator.
    pub async fn start(
        database: Database,
        project_args: &[&str],
        agent_env: &[(&str, &str)],
        aggregator_env: &[(&str, &str)],
    ) -> Pipeline {
        let nats = NatsServer::start();
        let cli = match &database {
            Database::Sqlite => AdminCli::sqlite(&nats),
            Database::Postgres(db) => AdminCli::with_database(&nats, &db.url),
        };
        let stack = Stack::start_on(nats, cli, project_args, agent_env).await;
        let aggregator = Aggregator::start(&stack.nats, &stack.cli, aggregator_env).await;
        Pipeline {
            aggregator,
            stack,
            database,
        }
    }

    /// The database URL.
    pub fn database_url(&self) -> String {
        self.stack.cli.database_url()
    }

    /// Waits until the aggregator's consumer has nothing left: every message in the stream
    /// delivered and acknowledged (stored, or dead-lettered).
    pub async fn drained(&self, timeout: std::time::Duration) {
        drained(&self.stack.nats, timeout).await;
    }
}

/// Waits until the aggregator's consumer on `nats` has nothing pending or unacknowledged.
pub async fn drained(nats: &NatsServer, timeout: std::time::Duration) {
    let js = nats.jetstream().await;
    crate::wait::until(timeout, "the aggregator to drain the stream", || async {
        let stream = js.get_stream(DEFAULT_STREAM).await.ok()?;
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer("sendrealm-aggregator").await.ok()?;
        let info = consumer.info().await.ok()?;
        (info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
    })
    .await;
}
