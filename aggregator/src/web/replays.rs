//! The backoffice's bulk replays of dead letters: their progress, followed by the page
//! that started them (kept in this aggregator's memory; the records themselves are marked
//! in the database as each replay happens).

use std::collections::HashMap;
use std::sync::Mutex;

/// A bulk replay's progress.
#[derive(Debug, Clone, Default)]
pub struct ReplayJob {
    /// The project.
    pub project_id: String,
    /// Records to replay.
    pub total: usize,
    /// Replayed so far.
    pub replayed: usize,
    /// Failed so far.
    pub failed: usize,
    /// Done.
    pub finished: bool,
    /// The latest failure, or empty.
    pub last_error: String,
}

impl ReplayJob {
    /// A job about to start.
    pub fn new(project_id: &str, total: usize) -> Self {
        ReplayJob {
            project_id: project_id.to_owned(),
            total,
            finished: total == 0,
            ..ReplayJob::default()
        }
    }
}

/// The bulk replays this aggregator runs or ran (the latest ones).
#[derive(Debug, Default)]
pub struct Replays(Mutex<HashMap<String, ReplayJob>>);

/// Replays remembered for their progress pages.
const REPLAYS_KEPT: usize = 100;

impl Replays {
    /// Starts following a job.
    pub fn insert(&self, id: &str, job: ReplayJob) {
        let mut jobs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if jobs.len() >= REPLAYS_KEPT {
            jobs.retain(|_, j| !j.finished);
        }
        jobs.insert(id.to_owned(), job);
    }

    /// Changes a job.
    pub fn update(&self, id: &str, change: impl FnOnce(&mut ReplayJob)) {
        let mut jobs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(job) = jobs.get_mut(id) {
            change(job);
        }
    }

    /// A job's progress.
    pub fn get(&self, id: &str) -> Option<ReplayJob> {
        let jobs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        jobs.get(id).cloned()
    }
}

/// A new random job id.
pub fn new_job_id() -> String {
    let mut bytes = [0u8; 8];
    // Ids only need to be distinct on this aggregator; a failure leaves a fixed id.
    let _ = getrandom::fill(&mut bytes);
    format!("rpl_{}", hex::encode(bytes))
}
