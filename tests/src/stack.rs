//! A whole single-node pipeline for a test: nats-server, admin CLI, one project, an agent.

use async_nats::jetstream;
use sendrealm_common::subjects::DEFAULT_STREAM;

use crate::agent::Agent;
use crate::aggregator::{AdminCli, Project};
use crate::nats::NatsServer;

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
}
