//! The thread folds run on: one per process, at the lowest CPU priority.
//!
//! Folding (parsing, schemas, PII detection, redaction) is the catalog's CPU-heavy part,
//! tens of milliseconds for a pass of thousands of events. On a blocking-pool thread it
//! competed on equal terms with the consumer's threads, and a pass showed as a stall in
//! the commits beside it. At nice 19 it takes only the CPU the consumer leaves; when the
//! machine is busy the catalog falls behind for a while (its queue keeps every event)
//! instead of the events' end-to-end latency growing.

use std::sync::OnceLock;
use std::sync::mpsc;

type Job = Box<dyn FnOnce() + Send>;

/// The lowest priority a thread can ask for without privileges.
const NICE: i32 = 19;

fn jobs() -> Option<&'static mpsc::Sender<Job>> {
    static JOBS: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    JOBS.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("catalog-fold".into())
            .spawn(move || {
                // On Linux a priority set for "this process" (no pid) applies to the calling
                // thread only.
                if let Err(error) = rustix::process::setpriority_process(None, NICE) {
                    tracing::debug!(%error, "Cannot lower the catalog fold's priority.");
                }
                for job in receiver {
                    // A fold that panics fails its own pass only.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .ok()
            .map(|_| sender)
    })
    .as_ref()
}

/// Why a fold did not return.
#[derive(Debug, thiserror::Error)]
#[error("the catalog fold thread stopped")]
pub struct Stopped;

/// Runs `work` on the fold thread (on the blocking pool if that thread cannot be started)
/// and returns its result.
pub async fn run<T, F>(work: F) -> Result<T, Stopped>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let Some(jobs) = jobs() else {
        return tokio::task::spawn_blocking(work).await.map_err(|_| Stopped);
    };
    let (reply, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = reply.send(work());
    });
    jobs.send(job).map_err(|_| Stopped)?;
    result.await.map_err(|_| Stopped)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn work_runs_on_the_fold_thread_and_returns() {
        let name = super::run(|| std::thread::current().name().map(str::to_owned))
            .await
            .ok()
            .flatten();
        assert_eq!(name.as_deref(), Some("catalog-fold"));
    }
}
