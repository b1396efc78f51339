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
    timeline: Arc<Vec<Entry>>,
    names: Arc<Vec<String>>,
    sinks: Arc<Mutex<HashMap<usize, EventSink>>>,
}

impl Player {
    /// The player of `transcripts`; a pause longer than `max_gap` between two records plays
    /// as `max_gap`.
    pub fn new(transcripts: &[Transcript], clock: Clock, max_gap: Option<Duration>) -> Player {
        let first = transcripts
            .iter()
            .filter_map(|t| t.records.first().map(|r| r.t))
            .min()
            .unwrap_or(0);
        let mut timeline = Vec::new();
        for (session, t) in transcripts.iter().enumerate() {
            if t.started().is_none()
                && let Some(r) = t.records.first()
            {
                timeline.push(Entry {
                    at_ms: r.t.saturating_sub(first),
                    session,
                    event: BackendEvent::Started { pid: None },
                });
            }
            // A clock that stepped back never reorders a session's own records.
            let mut at_ms = 0;
            for r in &t.records {
                at_ms = r.t.saturating_sub(first).max(at_ms);
                if let Some(event) = event_of(&r.kind) {
                    timeline.push(Entry {
                        at_ms,
                        session,
                        event,
                    });
                }
            }
        }
        // Stable: records of one transcript keep their order.
        timeline.sort_by_key(|e| e.at_ms);
        if let Some(max) = max_gap {
            let max = max.as_millis() as u64;
            let (mut previous, mut cut) = (0, 0);
            for entry in &mut timeline {
                let gap = entry.at_ms - previous;
                previous = entry.at_ms;
                cut += gap.saturating_sub(max);
                entry.at_ms -= cut;
            }
        }
        clock.with(|s| s.total_ms = timeline.last().map_or(0, |e| e.at_ms));
        Player {
            clock,
            timeline: Arc::new(timeline),
            names: Arc::new(transcripts.iter().map(|t| t.name.clone()).collect()),
            sinks: Arc::new(Mutex::new(HashMap::new())),
        }
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
            let (clock, timeline, names, sinks) = (
                self.clock.clone(),
                self.timeline.clone(),
                self.names.clone(),
                self.sinks.clone(),
            );
            tokio::spawn(play(clock, timeline, names, sinks));
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
    timeline: Arc<Vec<Entry>>,
    names: Arc<Vec<String>>,
    sinks: Arc<Mutex<HashMap<usize, EventSink>>>,
) {
    let last_of: HashMap<usize, usize> = timeline
        .iter()
        .enumerate()
        .map(|(i, e)| (e.session, i))
        .collect();
    // Whether the step being played has played something yet.
    let mut step_played = false;
    for (index, entry) in timeline.iter().enumerate() {
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
        let last = last_of.get(&entry.session) == Some(&index);
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
