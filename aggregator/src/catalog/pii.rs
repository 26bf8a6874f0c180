//! PII flags per (path, category), weak-signal tallies, and sticky owner decisions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::entry::{FlagStatus, NoSuchFlag};
use super::time;

/// Weak-detector hits a path needs before it is flagged.
pub const WEAK_MIN_HITS: u64 = 3;

/// Which signal raised a flag, weakest first (the derived order is the strength order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MatchedOn {
    /// The key name alone.
    #[serde(rename = "key")]
    Key,
    /// A validated value alone.
    #[serde(rename = "value")]
    Value,
    /// Both the key name and a validated value.
    #[serde(rename = "key+value")]
    KeyValue,
}

impl MatchedOn {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedOn::Key => "key",
            MatchedOn::Value => "value",
            MatchedOn::KeyValue => "key+value",
        }
    }
}

/// One PII flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// The schema path.
    pub path: String,
    /// The category (`email`, `phone`, `card`, `bank_account`, `national_id`, `ip`, `name`, `address`, `date_of_birth`, `secret`).
    pub category: String,
    /// The strongest signal seen.
    pub matched_on: MatchedOn,
    /// The detector behind that signal, so the UI can explain the flag.
    pub detector: String,
    /// When the flag was first raised (unix ms).
    pub first_seen_at: i64,
    /// The owner's decision.
    pub status: FlagStatus,
}

/// All PII state of an entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pii {
    /// Flags in the order they were raised.
    pub flags: Vec<Flag>,
    /// Weak-detector hits per path and category, waiting for repetition.
    pub weak_hits: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Pii {
    /// Raises or strengthens the flag (path, category). A stronger signal is new evidence and
    /// reopens a dismissed flag; an equal or weaker one leaves the owner's decision alone.
    pub fn raise(
        &mut self,
        path: &str,
        category: &str,
        matched_on: MatchedOn,
        detector: &str,
        at: i64,
    ) {
        match self
            .flags
            .iter_mut()
            .find(|f| f.path == path && f.category == category)
        {
            Some(flag) if matched_on > flag.matched_on => {
                flag.matched_on = matched_on;
                flag.detector = detector.to_string();
                if flag.status == FlagStatus::Dismissed {
                    flag.status = FlagStatus::Detected;
                }
            }
            Some(_) => {}
            None => self.flags.push(Flag {
                path: path.to_string(),
                category: category.to_string(),
                matched_on,
                detector: detector.to_string(),
                first_seen_at: at,
                status: FlagStatus::Detected,
            }),
        }
    }

    /// Counts one weak hit.
    pub fn tally(&mut self, path: &str, category: &str) {
        let hits = self.weak_hits.entry(path.to_string()).or_default();
        *hits.entry(category.to_string()).or_insert(0) += 1;
    }

    /// Flags the weak categories at `path` that reached the repetition rule: at least
    /// [`WEAK_MIN_HITS`] hits and at least half of the `non_null` values seen there.
    pub fn promote(&mut self, path: &str, non_null: u64, at: i64) {
        let Some(hits) = self.weak_hits.get(path) else {
            return;
        };
        let due: Vec<String> = hits
            .iter()
            .filter(|(_, n)| **n >= WEAK_MIN_HITS && **n * 2 >= non_null)
            .map(|(c, _)| c.clone())
            .collect();
        for category in due {
            self.raise(
                path,
                &category,
                MatchedOn::Value,
                weak_detector(&category),
                at,
            );
        }
    }

    /// Sets the owner status of every flag at `path`.
    pub fn decide(&mut self, path: &str, status: FlagStatus) -> Result<(), NoSuchFlag> {
        let mut found = false;
        for flag in self.flags.iter_mut().filter(|f| f.path == path) {
            flag.status = status;
            found = true;
        }
        if found { Ok(()) } else { Err(NoSuchFlag) }
    }

    /// Whether any flag is not dismissed.
    pub fn likely(&self) -> bool {
        self.flags.iter().any(|f| f.status != FlagStatus::Dismissed)
    }

    /// The API form: `{"likely", "flags": [{path, category, matched_on, status, detector, first_seen_at}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let flags: Vec<serde_json::Value> = self
            .flags
            .iter()
            .map(|f| {
                serde_json::json!({
                    "path": f.path,
                    "category": f.category,
                    "matched_on": f.matched_on.as_str(),
                    "status": f.status,
                    "detector": f.detector,
                    "first_seen_at": time::format_ms(f.first_seen_at),
                })
            })
            .collect();
        serde_json::json!({ "likely": self.likely(), "flags": flags })
    }
}

/// The detector name of a weak category's value signal.
fn weak_detector(category: &str) -> &'static str {
    match category {
        "phone" => "phone_e164",
        "national_id" => "ssn_delimited",
        "ip" => "ip_parse",
        _ => "value_repeated",
    }
}

#[cfg(test)]
mod tests;
