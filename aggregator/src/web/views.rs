//! What the pages show of catalog entries: plain strings and numbers ready for a template,
//! built from stored rows. Nothing here is a payload value: examples are the redacted
//! ones the catalog keeps.

use crate::catalog::FlagStatus;
use crate::catalog::time::format_ms;
use crate::store::CatalogRow;

/// A time as pages show it: `2026-12-03 08:01:02 UTC`.
pub fn when(ms: i64) -> String {
    let text = format_ms(ms);
    format!("{} {} UTC", &text[..10], &text[11..19])
}

/// `?event=…&source=…` style query strings, percent-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        out.push_str(&encode(value));
    }
    out
}

/// Percent-encodes everything but unreserved characters (for paths and queries).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One row of a catalog list.
#[derive(Debug, Clone)]
pub struct EntryRow {
    /// Project id (backoffice lists).
    pub project_id: String,
    /// Event name.
    pub event: String,
    /// `api` or `system`.
    pub source: String,
    /// Events seen.
    pub count: i64,
    /// First seen.
    pub first_seen: String,
    /// Last seen.
    pub last_seen: String,
    /// Drift records ever made.
    pub drift_count: i64,
    /// The latest drift's time, or empty.
    pub drift_last: String,
    /// Flags waiting for the owner.
    pub pii_pending: usize,
    /// Flags the owner confirmed.
    pub pii_confirmed: usize,
    /// The event page (path and query, encoded).
    pub href: String,
}

impl EntryRow {
    /// The row of a stored entry; `base` is the event pages' path prefix.
    pub fn of(row: &CatalogRow, base: &str) -> Self {
        let flags = &row.entry.pii.flags;
        let count = |status| flags.iter().filter(|f| f.status == status).count();
        EntryRow {
            project_id: row.key.project_id.clone(),
            event: row.key.event.clone(),
            source: row.key.source.clone(),
            count: row.count,
            first_seen: when(row.first_seen_at),
            last_seen: when(row.last_seen_at),
            drift_count: row.drift_count,
            drift_last: row.drift_last_at.map(when).unwrap_or_default(),
            pii_pending: count(FlagStatus::Detected),
            pii_confirmed: count(FlagStatus::Confirmed),
            href: format!(
                "{base}/{}{}",
                encode(&row.key.event),
                query(&[("source", &row.key.source)])
            ),
        }
    }
}

/// One path of an event's schema.
#[derive(Debug, Clone)]
pub struct FieldRow {
    /// `payload.items[].sku`.
    pub path: String,
    /// `string ×12, integer ×3`.
    pub types: String,
    /// `email ×12`, or empty.
    pub formats: String,
    /// Share of the entry's events carrying it, `87 %`.
    pub seen: String,
    /// Whether more than one non-null type was seen (a type flip).
    pub mixed: bool,
    /// Last seen.
    pub last_seen: String,
}

/// One drift record.
#[derive(Debug, Clone)]
pub struct DriftRow {
    /// When it was found.
    pub at: String,
    /// `field_added`, `field_missing`, `type_changed`.
    pub kind: String,
    /// The path.
    pub path: String,
    /// `integer → string`, or empty.
    pub change: String,
    /// The redacted example, pretty JSON, or empty.
    pub example: String,
}

/// One PII flag.
#[derive(Debug, Clone)]
pub struct FlagRow {
    /// The path.
    pub path: String,
    /// The category.
    pub category: String,
    /// `key` or `value`.
    pub matched_on: String,
    /// The detector.
    pub detector: String,
    /// `detected`, `confirmed`, `dismissed`.
    pub status: String,
    /// First raised.
    pub first_seen: String,
}

/// One redacted example.
#[derive(Debug, Clone)]
pub struct ExampleRow {
    /// The event id.
    pub event_id: String,
    /// Received.
    pub received_at: String,
    /// The redacted payload, pretty JSON.
    pub payload: String,
}

/// One bar of the volume chart (SVG units).
#[derive(Debug, Clone)]
pub struct Bar {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Height.
    pub height: u32,
    /// `2026-12-03: 120 events`.
    pub label: String,
}

/// Width of one bar slot in the chart.
pub const BAR_SLOT: u32 = 12;
/// Fewest days the chart spans.
const MIN_CHART_DAYS: i64 = 14;
/// Height of the chart's drawing area.
pub const CHART_HEIGHT: u32 = 80;

/// Everything an event page shows of an entry.
#[derive(Debug, Clone)]
pub struct EntryDetail {
    /// The list row (counts, times, PII counts).
    pub summary: EntryRow,
    /// Schema paths.
    pub fields: Vec<FieldRow>,
    /// Whether a bound cut part of some payload.
    pub truncated: bool,
    /// Drift records, newest first.
    pub drift: Vec<DriftRow>,
    /// PII flags, pending first.
    pub flags: Vec<FlagRow>,
    /// Redacted examples, newest first.
    pub examples: Vec<ExampleRow>,
    /// Daily volume bars, oldest first.
    pub bars: Vec<Bar>,
    /// The chart's width.
    pub chart_width: u32,
    /// `30 days: 1 204 events, peak 310 on 2026-12-01`.
    pub chart_caption: String,
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn tally(counts: &std::collections::BTreeMap<String, u64>) -> String {
    let mut pairs: Vec<(&String, &u64)> = counts.iter().collect();
    pairs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    pairs
        .iter()
        .map(|(name, n)| format!("{name} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl EntryDetail {
    /// The detail of a stored entry; `base` is the event pages' path prefix.
    pub fn of(row: &CatalogRow, base: &str) -> Self {
        let entry = &row.entry;
        let events = entry.events().max(1);
        let fields = entry
            .fields
            .iter()
            .map(|(path, f)| FieldRow {
                path: path.clone(),
                types: tally(&f.types),
                formats: tally(&f.formats),
                seen: format!("{} %", (f.count * 100).div_ceil(events).min(100)),
                mixed: f.types.keys().filter(|t| t.as_str() != "null").count() > 1,
                last_seen: when(f.last_seen_at),
            })
            .collect();
        let drift = entry
            .drift
            .records
            .iter()
            .rev()
            .map(|r| DriftRow {
                at: when(r.first_seen_at),
                kind: serde_json::to_value(r.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                path: r.path.clone(),
                change: match (&r.from, &r.to) {
                    (Some(from), Some(to)) => format!("{from} → {to}"),
                    _ => String::new(),
                },
                example: r.example.as_ref().map(pretty).unwrap_or_default(),
            })
            .collect();
        let mut flags: Vec<FlagRow> = entry
            .pii
            .flags
            .iter()
            .map(|f| FlagRow {
                path: f.path.clone(),
                category: f.category.clone(),
                matched_on: f.matched_on.as_str().to_owned(),
                detector: f.detector.clone(),
                status: serde_json::to_value(f.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                first_seen: when(f.first_seen_at),
            })
            .collect();
        flags.sort_by_key(|f| (f.status != "detected", f.path.clone()));
        let examples = entry
            .examples
            .iter()
            .rev()
            .map(|e| ExampleRow {
                event_id: e.event_id.clone(),
                received_at: when(e.received_at),
                payload: pretty(&e.payload),
            })
            .collect();
        let (bars, chart_width, chart_caption) = chart(entry.daily_volume());
        EntryDetail {
            summary: EntryRow::of(row, base),
            fields,
            truncated: entry.truncated(),
            drift,
            flags,
            examples,
            bars,
            chart_width,
            chart_caption,
        }
    }
}

/// Bars for daily counts: one slot per day from the first to the last day with events.
fn chart(days: &[(i64, u64)]) -> (Vec<Bar>, u32, String) {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return (Vec::new(), 0, String::new());
    };
    // At least two weeks wide, so one busy day does not fill the whole chart.
    let start = first.0.min(last.0 - (MIN_CHART_DAYS - 1));
    let peak = days.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    let day_name = |day: i64| format_ms(day * 86_400_000)[..10].to_owned();
    let bars = days
        .iter()
        .map(|(day, n)| {
            let height = ((*n * u64::from(CHART_HEIGHT)).div_ceil(peak)) as u32;
            Bar {
                x: ((day - start) as u32) * BAR_SLOT,
                y: CHART_HEIGHT - height,
                height,
                label: format!("{}: {n} events", day_name(*day)),
            }
        })
        .collect();
    let total: u64 = days.iter().map(|(_, n)| n).sum();
    let peak_day = days
        .iter()
        .max_by_key(|(d, n)| (*n, -d))
        .map(|(d, _)| day_name(*d))
        .unwrap_or_default();
    let span = (last.0 - start + 1) as u32;
    let caption = format!(
        "{} to {}: {total} events, at most {peak} a day ({peak_day})",
        day_name(start),
        day_name(last.0)
    );
    (bars, span * BAR_SLOT, caption)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_encoded_and_skip_empty_values() {
        assert_eq!(
            query(&[("event", "a b&<c>"), ("source", ""), ("pii", "true")]),
            "?event=a%20b%26%3Cc%3E&pii=true"
        );
        assert_eq!(query(&[]), "");
        assert_eq!(encode("order.completed"), "order.completed");
    }

    #[test]
    fn times_read_as_utc() {
        assert_eq!(when(0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn chart_scales_bars_to_the_peak_and_leaves_gaps_for_quiet_days() {
        let (bars, width, caption) = chart(&[(20, 5), (22, 10)]);
        assert_eq!(
            width,
            14 * BAR_SLOT,
            "two weeks at least, ending on the last day"
        );
        assert_eq!(bars.len(), 2);
        assert_eq!(
            (bars[0].x, bars[0].height),
            (11 * BAR_SLOT, CHART_HEIGHT / 2)
        );
        assert_eq!(
            (bars[1].x, bars[1].height, bars[1].y),
            (13 * BAR_SLOT, CHART_HEIGHT, 0)
        );
        let (_, width, _) = chart(&[(1, 1), (30, 1)]);
        assert_eq!(width, 30 * BAR_SLOT);
        assert!(caption.contains("15 events"), "{caption}");
        assert!(chart(&[]).0.is_empty());
    }
}
