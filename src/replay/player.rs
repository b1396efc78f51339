//! Plays transcripts back through the engine: a backend whose sessions replay their records
//! (output, the input that was sent, start and exit) on the [`Clock`], so that a replay shows
//! exactly what the live run showed, with every view, search and filter of a live session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use super::clock::{Clock, Speed};
use crate::engine::{
    Backend, BackendEvent, Control, EventSink, ExitStatus, Program, Protocol, SessionSpec, Stream,
};
use crate::history::{RecordKind, Transcript};

/// One thing to play: when (ms after the first record), for which session, what.
#[derive(Debug, Clone)]
struct Entry {
    at_ms: u64,
    session: usize,
    event: BackendEvent,
}

impl Entry {
    /// Input that was sent (where a step ends).
    fn is_input(&self) -> bool {
        matches!(
            self.event,
            BackendEvent::Output {
                stream: Stream::Stdin,
                ..
            }
        )
    }
}

/// The sessions to add to the engine for `transcripts` (one each, named after the file).
pub fn specs(transcripts: &[Transcript]) -> Vec<SessionSpec> {
    transcripts
        .iter()
        .map(|t| {
            let mut spec = SessionSpec::local(t.name.clone(), Vec::new());
            spec.program = Program::Argv(t.command().unwrap_or_else(|| vec!["(replay)".into()]));
            if t.is_stream_json() {
                spec.protocol = Protocol::StreamJson;
            }
            spec
        })
        .collect()
}

/// The backend of a replay: register it as the engine's `local` backend.
pub struct Player {
    clock: Clock,
    transcripts: Arc<Vec<Transcript>>,
    max_gap: Option<Duration>,
    names: Arc<Vec<String>>,
    sinks: Arc<Mutex<HashMap<usize, EventSink>>>,
}

impl Player {
    /// The player of `transcripts`; a pause longer than `max_gap` between two records plays
    /// as `max_gap`. Every record is read once here (so a bad one is reported before the
    /// replay starts, and the clock knows the length), then again as it plays: memory stays
    /// in proportion to one record per transcript, whatever their size.
    pub fn new(
        transcripts: &[Transcript],
        clock: Clock,
        max_gap: Option<Duration>,
    ) -> Result<Player, String> {
        let mut total = 0;
        for next in Merge::open(transcripts, max_gap)? {
            total = next?.0.at_ms;
        }
        clock.with(|s| {
            s.total_ms = total;
            s.max_gap_ms = max_gap.map(|g| g.as_millis() as u64);
        });
        Ok(Player {
            clock,
            transcripts: Arc::new(transcripts.to_vec()),
            max_gap,
            names: Arc::new(transcripts.iter().map(|t| t.name.clone()).collect()),
            sinks: Arc::new(Mutex::new(HashMap::new())),
        })
    }
}

/// The records of several transcripts merged into one timeline, read as they are taken:
/// ordered by time (a session's own records never reordered, even where its clock stepped
/// back), ties in the order the transcripts were given, long pauses cut to the max gap.
/// Each entry comes with whether it is its session's last.
struct Merge {
    sources: Vec<Source>,
    first: u64,
    max_gap: Option<u64>,
    previous: u64,
    cut: u64,
}

struct Source {
    records: Option<crate::history::reader::Records>,
    /// The next entry, looked at ahead.
    next: Option<Entry>,
    /// An entry read ahead of the synthetic start that goes before it.
    stash: Option<Entry>,
    at_ms: u64,
    /// A transcript without a `started` record starts at its first record.
    needs_start: bool,
}

impl Merge {
    fn open(transcripts: &[Transcript], max_gap: Option<Duration>) -> Result<Merge, String> {
        let first = transcripts
            .iter()
            .filter_map(Transcript::first_t)
            .min()
            .unwrap_or(0);
        let mut sources = Vec::new();
        for t in transcripts {
            sources.push(Source {
                records: Some(t.records()?),
                next: None,
                stash: None,
                at_ms: 0,
                needs_start: t.started().is_none(),
            });
        }
        let mut merge = Merge {
            sources,
            first,
            max_gap: max_gap.map(|g| g.as_millis() as u64),
            previous: 0,
            cut: 0,
        };
        for index in 0..merge.sources.len() {
            merge.refill(index)?;
        }
        Ok(merge)
    }

    /// Looks one entry ahead in source `index`.
    fn refill(&mut self, index: usize) -> Result<(), String> {
        let first = self.first;
        let source = &mut self.sources[index];
        source.next = source.stash.take();
        if source.next.is_some() {
            return Ok(());
        }
        while let Some(records) = source.records.as_mut() {
            let Some(record) = records.next() else {
                source.records = None;
                break;
            };
            let record = record?;
            source.at_ms = record.t.saturating_sub(first).max(source.at_ms);
            let at_ms = source.at_ms;
            let start = std::mem::take(&mut source.needs_start).then_some(Entry {
                at_ms,
                session: index,
                event: BackendEvent::Started { pid: None },
            });
            let entry = event_of(&record.kind).map(|event| Entry {
                at_ms,
                session: index,
                event,
            });
            match (start, entry) {
                (Some(start), entry) => {
                    source.next = Some(start);
                    source.stash = entry;
                    break;
                }
                (None, Some(entry)) => {
                    source.next = Some(entry);
                    break;
                }
                (None, None) => {}
            }
        }
        Ok(())
    }
}

impl Iterator for Merge {
    type Item = Result<(Entry, bool), String>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = (0..self.sources.len())
            .filter_map(|i| self.sources[i].next.as_ref().map(|n| (n.at_ms, i)))
            .min()?
            .1;
        let mut entry = self.sources[index].next.take()?;
        if let Err(err) = self.refill(index) {
            return Some(Err(err));
        }
        let last = self.sources[index].next.is_none();
        let gap = entry.at_ms.saturating_sub(self.previous);
        self.previous = self.previous.max(entry.at_ms);
        if let Some(max) = self.max_gap {
            self.cut += gap.saturating_sub(max);
        }
        entry.at_ms = entry.at_ms.saturating_sub(self.cut);
        Some(Ok((entry, last)))
    }
}

/// The backend event a record plays as (none for records that show nothing).
fn event_of(kind: &RecordKind) -> Option<BackendEvent> {
    let text = |fields: &serde_json::Map<String, Value>, key: &str| {
        fields
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Some(match kind {
        RecordKind::Data { stream, bytes } => BackendEvent::Output {
            stream: *stream,
            data: bytes.clone(),
        },
        RecordKind::Event { name, fields } => match name.as_str() {
            "started" => BackendEvent::Started {
                pid: fields.get("pid").and_then(Value::as_u64).map(|p| p as u32),
            },
            "progress" => BackendEvent::Progress(text(fields, "message")),
            "warning" => BackendEvent::Warning(text(fields, "message")),
            "exited" => BackendEvent::Exited(ExitStatus {
                code: fields.get("code").and_then(Value::as_i64).map(|c| c as i32),
                signal: fields
                    .get("signal")
                    .and_then(Value::as_i64)
                    .map(|s| s as i32),
            }),
            "failed" => BackendEvent::Failed(text(fields, "reason")),
            "transcript_gap" => BackendEvent::Warning(format!(
                "the transcript lost {} records here",
                fields
                    .get("records_lost")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            )),
            "restart" => BackendEvent::Warning("the session was restarted here".into()),
            _ => return None,
        },
    })
}

impl Backend for Player {
    fn launch(
        &self,
        spec: &SessionSpec,
        mut controls: mpsc::UnboundedReceiver<Control>,
        events: EventSink,
    ) {
        let Some(index) = self.names.iter().position(|n| *n == spec.name) else {
            let events = events.clone();
            tokio::spawn(async move {
                events
                    .send(BackendEvent::Failed(
                        "no transcript for this session".into(),
                    ))
                    .await;
            });
            return;
        };
        // Nothing is sent to a replay; stopping it ends it.
        let stop_sink = events.clone();
        let sinks = self.sinks.clone();
        tokio::spawn(async move {
            while let Some(control) = controls.recv().await {
                if let Control::Stop { .. } = control {
                    break;
                }
            }
            let removed = sinks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&index);
            if removed.is_some() {
                stop_sink
                    .send(BackendEvent::Failed("the replay was stopped".into()))
                    .await;
            }
        });
        let ready = {
            let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
            sinks.insert(index, events);
            sinks.len() == self.names.len()
        };
        if ready {
            let (clock, names, sinks) =
                (self.clock.clone(), self.names.clone(), self.sinks.clone());
            match Merge::open(&self.transcripts, self.max_gap) {
                Ok(timeline) => {
                    tokio::spawn(play(clock, timeline, names, sinks));
                }
                Err(err) => tracing::error!("replay: {err}"),
            }
        }
    }
}

/// What the player does before the next record.
enum Wait {
    Go,
    Forever,
    For(Duration),
}

/// Plays the timeline on the clock.
async fn play(
    clock: Clock,
    timeline: Merge,
    names: Arc<Vec<String>>,
    sinks: Arc<Mutex<HashMap<usize, EventSink>>>,
) {
    // Whether the step being played has played something yet.
    let mut step_played = false;
    for next in timeline {
        let (entry, last) = match next {
            Ok(next) => next,
            Err(err) => {
                // The file changed since it was read at the start: the replay ends here.
                tracing::error!("replay: {err}");
                break;
            }
        };
        loop {
            let changed = clock.changed.notified();
            let wait = clock.with(|s| {
                if let Some(name) = &s.step {
                    // A step ends before its session's next input, once it played something.
                    if step_played && entry.is_input() && names[entry.session] == *name {
                        s.step = None;
                        step_played = false;
                        return Wait::Forever;
                    }
                    return Wait::Go;
                }
                step_played = false;
                match (s.paused, s.speed) {
                    (true, _) => Wait::Forever,
                    (false, Speed::All) => Wait::Go,
                    (false, Speed::Factor(f)) => {
                        let ahead = entry.at_ms as f64 - s.now_ms();
                        if ahead > 0.0 {
                            Wait::For(
                                Duration::try_from_secs_f64(ahead / 1000.0 / f)
                                    .unwrap_or(Duration::from_secs(3600)),
                            )
                        } else {
                            Wait::Go
                        }
                    }
                }
            });
            match wait {
                Wait::Go => break,
                Wait::Forever => changed.await,
                Wait::For(wait) => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = changed => {}
                    }
                }
            }
        }
        let terminal = matches!(
            entry.event,
            BackendEvent::Exited(_) | BackendEvent::Failed(_)
        );
        let sink = {
            let mut sinks = sinks.lock().unwrap_or_else(|p| p.into_inner());
            // After its terminal event a session gets nothing more, not even the stop's.
            if terminal {
                sinks.remove(&entry.session)
            } else {
                sinks.get(&entry.session).cloned()
            }
        };
        if let Some(sink) = sink {
            sink.send(entry.event.clone()).await;
        }
        clock.with(|s| {
            s.played(entry.at_ms);
            if let Some(name) = &s.step {
                // Only what shows counts: a step from the start plays up to the first input
                // only when there was output before it.
                step_played |= matches!(entry.event, BackendEvent::Output { .. });
                // The step's session has nothing more to play: the step ends here.
                if last && names[entry.session] == *name {
                    s.step = None;
                }
            }
        });
    }
    clock.with(|s| s.done = true);
}
