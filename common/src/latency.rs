//! HDR latency histograms that many threads record into without waiting for each other,
//! exported as Prometheus summaries (quantiles, `_sum`, `_count`).
//!
//! Each thread records into its own shard (a mutex nobody else takes, except a scrape
//! merging the shards), so recording costs one uncontended lock and an array increment.
//! Values are microseconds with two significant digits (1 % precision), which keeps a
//! histogram to a few tens of kilobytes.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Shards per histogram; threads beyond this share shards (still rarely contended).
const SHARDS: usize = 16;
/// Largest recordable value: one day, in microseconds (end-to-end lag after an outage).
const MAX_MICROS: u64 = 86_400_000_000;
/// Quantiles exported.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

fn shard_index() -> usize {
    SHARD.with(|cell| {
        let mut index = cell.get();
        if index == usize::MAX {
            index = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
            cell.set(index);
        }
        index
    })
}

struct Shard {
    histogram: Histogram<u32>,
    sum_micros: u64,
}

/// A latency (or size) distribution recorded from many threads.
pub struct Recorder {
    shards: Box<[Mutex<Shard>]>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// A merged view of a [`Recorder`].
#[derive(Debug, Clone)]
pub struct Snapshot {
    histogram: Histogram<u32>,
    sum_micros: u64,
}

impl Recorder {
    /// An empty recorder for values from 1 µs to one day.
    pub fn new() -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    histogram: new_histogram(),
                    sum_micros: 0,
                })
            })
            .collect();
        Recorder { shards }
    }

    /// Records a duration.
    pub fn record(&self, elapsed: Duration) {
        self.record_value(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }

    /// Records a raw value (microseconds, or a count for size distributions).
    pub fn record_value(&self, value: u64) {
        if let Ok(mut shard) = self.shards[shard_index()].lock() {
            shard
                .histogram
                .saturating_record(value.clamp(1, MAX_MICROS));
            shard.sum_micros = shard.sum_micros.saturating_add(value);
        }
    }

    /// Merges the shards.
    pub fn snapshot(&self) -> Snapshot {
        let mut histogram = new_histogram();
        let mut sum_micros = 0u64;
        for shard in self.shards.iter() {
            if let Ok(shard) = shard.lock() {
                let _ = histogram.add(&shard.histogram);
                sum_micros = sum_micros.saturating_add(shard.sum_micros);
            }
        }
        Snapshot {
            histogram,
            sum_micros,
        }
    }
}

fn new_histogram() -> Histogram<u32> {
    // Bounds are constants within hdrhistogram's limits, so this cannot fail.
    Histogram::new_with_bounds(1, MAX_MICROS, 2).expect("valid histogram bounds")
}

impl Snapshot {
    /// Number of values.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Sum of values (exact, not from buckets).
    pub fn sum(&self) -> u64 {
        self.sum_micros
    }

    /// Mean value, 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.count() == 0 {
            0.0
        } else {
            self.sum_micros as f64 / self.count() as f64
        }
    }

    /// Value at a quantile (0 when empty).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count() == 0 {
            0
        } else {
            self.histogram.value_at_quantile(q)
        }
    }

    /// Largest value.
    pub fn max(&self) -> u64 {
        self.histogram.max()
    }
}

/// Writes `# HELP` and `# TYPE summary` for a metric family.
pub fn write_summary_header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} summary");
}

/// Writes one summary series. `unit_divisor` turns recorded values into the exported
/// unit: 1e6 for microseconds → seconds, 1.0 for counts.
pub fn write_summary(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    snapshot: &Snapshot,
    unit_divisor: f64,
) {
    let labels_text: String = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join(",");
    let sep = if labels_text.is_empty() { "" } else { "," };
    for q in QUANTILES {
        let value = snapshot.quantile(q) as f64 / unit_divisor;
        let _ = writeln!(out, "{name}{{{labels_text}{sep}quantile=\"{q}\"}} {value}");
    }
    let braces = if labels_text.is_empty() {
        String::new()
    } else {
        format!("{{{labels_text}}}")
    };
    let _ = writeln!(
        out,
        "{name}_sum{braces} {}",
        snapshot.sum() as f64 / unit_divisor
    );
    let _ = writeln!(out, "{name}_count{braces} {}", snapshot.count());
}

/// Microseconds per second, the divisor for latency summaries.
pub const MICROS_PER_SEC: f64 = 1_000_000.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_shards_from_threads() {
        let recorder = std::sync::Arc::new(Recorder::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let recorder = std::sync::Arc::clone(&recorder);
                std::thread::spawn(move || {
                    for i in 1..=1000u64 {
                        recorder.record_value(i * (t + 1));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let snapshot = recorder.snapshot();
        assert_eq!(snapshot.count(), 4000);
        assert_eq!(snapshot.sum(), 500_500 * (1 + 2 + 3 + 4));
        let p50 = snapshot.quantile(0.5);
        // The exact median of the four ramps is about 960; 1 % precision.
        assert!((940..=980).contains(&p50), "{p50}");
    }

    #[test]
    fn renders_a_prometheus_summary() {
        let recorder = Recorder::new();
        recorder.record(Duration::from_millis(2));
        let mut out = String::new();
        write_summary_header(&mut out, "x_seconds", "Test.");
        write_summary(
            &mut out,
            "x_seconds",
            &[("route", "events")],
            &recorder.snapshot(),
            MICROS_PER_SEC,
        );
        assert!(
            out.contains("x_seconds{route=\"events\",quantile=\"0.99\"} 0.002"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_sum{route=\"events\"} 0.002"),
            "{out}"
        );
        assert!(out.contains("x_seconds_count{route=\"events\"} 1"), "{out}");
    }
}
