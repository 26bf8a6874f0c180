//! How far this aggregator has pulled each region's messages: with the region's last
//! sequence, its backlog at the hub.

use std::collections::HashMap;
use std::sync::Mutex;

/// The furthest message of each region this aggregator has pulled, by the region's own
/// sequence (sourced messages carry it in `Nats-Stream-Source`).
#[derive(Debug, Default)]
pub struct Progress(Mutex<HashMap<String, u64>>);

impl Progress {
    /// Notes a pulled message (a no-op for one published at the hub).
    pub fn note(&self, headers: Option<&async_nats::HeaderMap>) {
        let Some(value) = headers.and_then(|h| h.get("Nats-Stream-Source")) else {
            return;
        };
        if let Some((region, sequence)) = origin(value.as_str())
            && let Ok(mut seen) = self.0.lock()
        {
            let held = seen.entry(region.to_owned()).or_default();
            *held = (*held).max(sequence);
        }
    }

    /// The furthest sequence pulled from `region`, if any yet.
    pub fn seen(&self, region: &str) -> Option<u64> {
        self.0.lock().ok()?.get(region).copied()
    }
}

/// The region and its stream's sequence, from a `Nats-Stream-Source` header:
/// `<stream>:<hash> <sequence> > > <origin subject> …`, the subject being the region's.
fn origin(header: &str) -> Option<(&str, u64)> {
    let mut fields = header.split_whitespace();
    fields.next()?;
    let sequence = fields.next()?.parse().ok()?;
    let region = fields
        .find_map(|f| f.strip_prefix("sendrealm.regions."))?
        .split('.')
        .next()
        .filter(|r| !r.is_empty())?;
    Some((region, sequence))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sourced_message_names_its_region_and_sequence() {
        assert_eq!(
            origin(
                "SENDREALM_REGION:a1b2c3 57 > > sendrealm.regions.eu-1.events.proj_1.order.done 9"
            ),
            Some(("eu-1", 57))
        );
        assert_eq!(
            origin("SENDREALM_REGION:a1b2c3 57 > > sendrealm.events.proj_1.x"),
            None
        );
        assert_eq!(
            origin("SENDREALM_REGION:a1b2c3 x > > sendrealm.regions.eu.events.p.x"),
            None
        );
        assert_eq!(origin(""), None);
        let progress = Progress::default();
        let mut headers = async_nats::HeaderMap::new();
        for sequence in [5, 9, 7] {
            headers.insert(
                "Nats-Stream-Source",
                format!("S:h {sequence} > > sendrealm.regions.us.events.p.e").as_str(),
            );
            progress.note(Some(&headers));
        }
        progress.note(None);
        assert_eq!(progress.seen("us"), Some(9));
        assert_eq!(progress.seen("eu"), None);
    }
}
