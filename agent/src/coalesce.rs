//! Coalescing: the events of concurrent requests for one project go out together.
//!
//! The broker's cost is per message, whatever its size, so one message per event caps
//! every design at the broker's message rate. Here each project has a lane: an event that
//! finds the lane idle is published at once, alone (format 1, no added latency); events
//! arriving while the lane's publishes are in flight wait, and the next publish takes all
//! of them as one bundle (format 2, [`sendrealm_common::bundle`]). Every event's request
//! is answered only when the message holding it is acknowledged, so `202` keeps its
//! meaning, and a failed publish fails every event in it.
//!
//! A bundle's `Nats-Msg-Id` is unique to this agent's life and reused by the publisher's
//! retries, so the broker still drops a repeated message. Per-event deduplication of a
//! resent idempotency key is the [`crate::recent`] index's job (and, across agents, the
//! aggregator's unique key).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sendrealm_common::bundle;
use tokio::sync::oneshot;

use crate::broker::{Broker, Outgoing, PublishError, Published};

/// How events are coalesced.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Off: one message per event.
    pub enabled: bool,
    /// Most events in one bundle.
    pub max_events: usize,
    /// Most bytes of events in one bundle (below the server's max_payload).
    pub max_bytes: usize,
    /// Publishes of one project awaiting their acks at once.
    pub in_flight: usize,
}

/// One event waiting for its lane.
struct Pending {
    message: Outgoing,
    reply: oneshot::Sender<Result<Published, PublishError>>,
}

/// A project's lane: events waiting, and how many publishes are under way.
#[derive(Default)]
struct Lane {
    waiting: Vec<Pending>,
    publishing: usize,
}

/// Publishes events, coalescing them per project.
pub struct Coalescer {
    broker: Arc<dyn Broker>,
    prefix: String,
    settings: Settings,
    /// Names this agent's bundles (with [`Self::sequence`]).
    instance: String,
    sequence: AtomicU64,
    lanes: Mutex<HashMap<String, Arc<Mutex<Lane>>>>,
}

impl Coalescer {
    /// A coalescer over `broker` for the stream under `prefix`.
    pub fn new(broker: Arc<dyn Broker>, prefix: String, settings: Settings) -> Self {
        Coalescer {
            broker,
            prefix,
            settings,
            instance: crate::refusals::agent_name(),
            sequence: AtomicU64::new(0),
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// The broker underneath.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }

    /// Publishes one event of `project` and waits until the message holding it is
    /// acknowledged (or failed).
    pub async fn publish(
        self: &Arc<Self>,
        project: &str,
        message: Outgoing,
    ) -> Result<Published, PublishError> {
        if !self.settings.enabled {
            return self.broker.publish(&message).await;
        }
        let lane = self.lane(project);
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut state = lane.lock().map_err(|_| PublishError::Unavailable)?;
            state.waiting.push(Pending { message, reply });
            let start = state.publishing < self.settings.in_flight.max(1);
            if start {
                state.publishing += 1;
            }
            start
        };
        if start {
            tokio::spawn(Arc::clone(self).drain(project.to_owned(), lane));
        }
        answer.await.unwrap_or(Err(PublishError::Unavailable))
    }

    fn lane(&self, project: &str) -> Arc<Mutex<Lane>> {
        let mut lanes = match self.lanes.lock() {
            Ok(lanes) => lanes,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(lanes.entry(project.to_owned()).or_default())
    }

    /// Publishes what waits in the lane, message after message, until it is empty.
    async fn drain(self: Arc<Self>, project: String, lane: Arc<Mutex<Lane>>) {
        loop {
            let taken = {
                let Ok(mut state) = lane.lock() else { return };
                if state.waiting.is_empty() {
                    state.publishing -= 1;
                    return;
                }
                take(&mut state.waiting, self.settings)
            };
            let result = if let [only] = taken.as_slice() {
                self.broker.publish(&only.message).await
            } else {
                let message = self.bundle(&project, &taken);
                // A duplicate of a bundle can only be this agent's own retried attempt: its
                // id is unique to this agent's life. Its events are stored once.
                self.broker
                    .publish(&message)
                    .await
                    .map(|published| Published {
                        duplicate: false,
                        ..published
                    })
            };
            let bundled = taken.len() > 1;
            for (position, pending) in taken.into_iter().enumerate() {
                let _ = pending
                    .reply
                    .send(result.clone().map(|published| Published {
                        position: bundled.then_some(position as u32),
                        ..published
                    }));
            }
        }
    }

    fn bundle(&self, project: &str, events: &[Pending]) -> Outgoing {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        Outgoing {
            subject: bundle::bundle_subject(&self.prefix, project),
            msg_id: format!("bundle:{}:{n}", self.instance),
            // A lane is one project's: its events share the project's retention.
            ttl: events.first().and_then(|p| p.message.ttl.clone()),
            payload: Bytes::from(bundle::encode(
                events.iter().map(|p| p.message.payload.as_ref()),
            )),
        }
    }
}

/// The next message's events: from the front, within the bundle's limits (at least one).
fn take(waiting: &mut Vec<Pending>, settings: Settings) -> Vec<Pending> {
    let mut bytes = 0;
    let mut count = 0;
    for pending in waiting.iter() {
        let size = pending.message.payload.len() + 1;
        if count > 0 && (count >= settings.max_events || bytes + size > settings.max_bytes) {
            break;
        }
        bytes += size;
        count += 1;
    }
    waiting.drain(..count).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Memory;

    fn event(n: usize, size: usize) -> Outgoing {
        Outgoing {
            subject: format!("sendrealm.events.proj_1.e{n}.x"),
            msg_id: format!("proj_1:{n}"),
            ttl: None,
            payload: Bytes::from(format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(size))),
        }
    }

    fn settings() -> Settings {
        Settings {
            enabled: true,
            max_events: 4,
            max_bytes: 1_000,
            in_flight: 1,
        }
    }

    #[test]
    fn a_message_takes_what_fits_and_at_least_one() {
        let (reply, _) = oneshot::channel();
        let mut waiting: Vec<Pending> = vec![Pending {
            message: event(0, 5_000),
            reply,
        }];
        assert_eq!(
            take(&mut waiting, settings()).len(),
            1,
            "too big alone still goes"
        );
        for n in 0..10 {
            let (reply, _) = oneshot::channel();
            waiting.push(Pending {
                message: event(n, 10),
                reply,
            });
        }
        assert_eq!(take(&mut waiting, settings()).len(), 4);
        assert_eq!(waiting.len(), 6);
        for _ in 0..10 {
            let (reply, _) = oneshot::channel();
            waiting.push(Pending {
                message: event(0, 300),
                reply,
            });
        }
        waiting.drain(..6);
        assert_eq!(
            take(&mut waiting, settings()).len(),
            3,
            "bytes bound the message"
        );
    }

    #[tokio::test]
    async fn a_lone_event_goes_alone_and_concurrent_ones_share_messages() {
        let memory = Arc::new(Memory::default());
        let coalescer = Arc::new(Coalescer::new(
            Arc::clone(&memory) as Arc<dyn Broker>,
            "sendrealm.events".into(),
            settings(),
        ));
        coalescer.publish("proj_1", event(0, 1)).await.unwrap();
        let sent = memory.messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].subject, "sendrealm.events.proj_1.e0.x", "format 1");

        let all =
            futures::future::join_all((1..=9).map(|n| coalescer.publish("proj_1", event(n, 1))));
        assert!(all.await.iter().all(Result::is_ok));
        let sent = memory.messages();
        let bundles: Vec<&Outgoing> = sent
            .iter()
            .filter(|m| m.subject == "sendrealm.events.proj_1._bundle")
            .collect();
        assert!(!bundles.is_empty(), "concurrent events share messages");
        let events: usize = 1 + sent
            .iter()
            .skip(1)
            .map(|m| {
                if m.subject.ends_with("._bundle") {
                    bundle::decode(&m.payload).unwrap().len()
                } else {
                    1
                }
            })
            .sum::<usize>();
        assert_eq!(events, 10, "every event in exactly one message");
        assert!(sent.len() < 10);
    }

    #[tokio::test]
    async fn a_failed_message_fails_each_of_its_events() {
        let memory = Arc::new(Memory::default());
        memory.set_down(true);
        let coalescer = Arc::new(Coalescer::new(
            Arc::clone(&memory) as Arc<dyn Broker>,
            "sendrealm.events".into(),
            settings(),
        ));
        let all =
            futures::future::join_all((0..5).map(|n| coalescer.publish("proj_1", event(n, 1))));
        for result in all.await {
            assert_eq!(result, Err(PublishError::Unavailable));
        }
        assert!(memory.messages().is_empty());
    }
}
