//! A deployment with regions, from the examples in `config/regions/`: a hub nats-server
//! and two leaf nodes (`eu`, `us`) with their own JetStream domains, nkeys made for the
//! run, agents on the leaves and an aggregator on the hub.

use std::path::PathBuf;

use tempfile::TempDir;

use crate::agent::Agent;
use crate::aggregator::{AdminCli, Aggregator};
use crate::nats::{NatsServer, free_port};

/// The regions of the examples.
pub const REGIONS: [&str; 2] = ["eu", "us"];

/// An nkey pair: the seed in a file (as services read it), the public key for configs.
pub struct Identity {
    /// The seed file.
    pub seed_file: PathBuf,
    /// The public key (`U…`).
    pub public: String,
}

/// The hub, the leaves and the identities.
pub struct Topology {
    /// The hub (JetStream domain `hub`).
    pub hub: NatsServer,
    /// One leaf per entry of [`REGIONS`], in that order.
    pub leaves: Vec<NatsServer>,
    /// The aggregator's identity (allowed everything on the hub).
    pub aggregator_key: Identity,
    /// The agents' identity (the same public key is allowed on both leaves).
    pub agent_key: Identity,
    /// The admin CLI with `config/regions/aggregator.toml` on a fresh SQLite database,
    /// connected to the hub as the aggregator.
    pub cli: AdminCli,
    _keys: TempDir,
}

impl Topology {
    /// Starts the hub and both leaves and waits until each leaf's link is up.
    pub async fn start() -> Topology {
        let keys = tempfile::Builder::new()
            .prefix("sendrealm-nkeys-")
            .tempdir()
            .expect("temp dir");
        let identity = |name: &str| {
            let pair = nkeys::KeyPair::new_user();
            let seed_file = keys.path().join(name);
            std::fs::write(&seed_file, pair.seed().expect("seed")).expect("seed file");
            Identity {
                seed_file,
                public: pair.public_key(),
            }
        };
        let aggregator_key = identity("aggregator");
        let agent_key = identity("agent");
        let links: Vec<Identity> = REGIONS
            .iter()
            .map(|r| identity(&format!("leaf-{r}")))
            .collect();
        let leaf_port = free_port();
        let mut hub_env = vec![
            var("HUB_LEAF_LISTEN", &format!("127.0.0.1:{leaf_port}")),
            var("AGGREGATOR_NKEY", &aggregator_key.public),
        ];
        for (region, link) in REGIONS.iter().zip(&links) {
            hub_env.push(var(
                &format!("LEAF_{}_NKEY", region.to_uppercase()),
                &link.public,
            ));
        }
        let hub = NatsServer::start_with_config(&example("hub.conf"), &hub_env);
        let leaves: Vec<NatsServer> = REGIONS
            .iter()
            .zip(&links)
            .map(|(region, link)| {
                let seed = std::fs::read_to_string(&link.seed_file).expect("seed");
                NatsServer::start_with_config(
                    &example(&format!("leaf-{region}.conf")),
                    &[
                        var(
                            "HUB_LEAF_URL",
                            &format!("nats-leaf://127.0.0.1:{leaf_port}"),
                        ),
                        var("LEAF_SEED", &seed),
                        var("AGENT_NKEY", &agent_key.public),
                    ],
                )
            })
            .collect();
        let cli = AdminCli::sqlite(&hub)
            .with_setting(
                "SENDREALM_CONFIG",
                &example("aggregator.toml").display().to_string(),
            )
            .with_setting(
                "SENDREALM_NATS__NKEY_SEED_FILE",
                &aggregator_key.seed_file.display().to_string(),
            );
        let topology = Topology {
            hub,
            leaves,
            aggregator_key,
            agent_key,
            cli,
            _keys: keys,
        };
        topology.wait_linked().await;
        topology
    }

    /// Waits until the hub's JetStream answers through every leaf (the links are up).
    pub async fn wait_linked(&self) {
        let hub = self.hub_client().await;
        for region in REGIONS {
            let js = async_nats::jetstream::with_domain(hub.clone(), region);
            crate::wait::until(
                std::time::Duration::from_secs(30),
                &format!("the leaf link of region {region}"),
                || async { js.query_account().await.ok().map(|_| ()) },
            )
            .await;
        }
    }

    /// The leaf of `region`.
    pub fn leaf(&self, region: &str) -> &NatsServer {
        let index = REGIONS
            .iter()
            .position(|r| *r == region)
            .expect("a known region");
        &self.leaves[index]
    }

    /// A client on the hub with the aggregator's identity.
    pub async fn hub_client(&self) -> async_nats::Client {
        connect(&self.hub.url(), &self.aggregator_key, None)
            .await
            .expect("connect to the hub")
    }

    /// Starts the aggregator with the CLI's settings (`config/regions/aggregator.toml`).
    pub async fn aggregator(&self, env: &[(&str, &str)]) -> Aggregator {
        let mut settings = vec![("SENDREALM_REGIONS__CHECK_SECS", "1")];
        settings.extend_from_slice(env);
        Aggregator::start(&self.hub, &self.cli, &settings).await
    }

    /// Starts the agent of `region` with `config/regions/agent-<region>.toml`, on its leaf.
    pub async fn agent(&self, region: &str, env: &[(&str, &str)]) -> Agent {
        let config = example(&format!("agent-{region}.toml"))
            .display()
            .to_string();
        let seed = self.agent_key.seed_file.display().to_string();
        let mut settings = vec![
            ("SENDREALM_CONFIG", config.as_str()),
            ("SENDREALM_REGION", region),
            ("SENDREALM_NATS__NKEY_SEED_FILE", seed.as_str()),
        ];
        settings.extend_from_slice(env);
        Agent::start(self.leaf(region), &settings).await
    }
}

/// Connects to `url` as `identity`, sending server errors (permission violations) to
/// `errors` when given.
pub async fn connect(
    url: &str,
    identity: &Identity,
    errors: Option<tokio::sync::mpsc::UnboundedSender<String>>,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let seed = std::fs::read_to_string(&identity.seed_file).expect("seed");
    async_nats::ConnectOptions::with_nkey(seed.trim().to_owned())
        .event_callback(move |event| {
            let errors = errors.clone();
            async move {
                if let (async_nats::Event::ServerError(error), Some(errors)) = (event, errors) {
                    let _ = errors.send(error.to_string());
                }
            }
        })
        .connect(url)
        .await
}

/// A file of `config/regions/`.
pub fn example(name: &str) -> PathBuf {
    crate::repo_root().join("config/regions").join(name)
}

fn var(key: &str, value: &str) -> (String, String) {
    (key.to_owned(), value.to_owned())
}
