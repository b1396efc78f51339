//! What backends report, applied to the engine's state: output into scrollback and
//! transcript, lifecycle changes, and the feed items subscribers see.

use serde_json::json;
use tokio::time::Instant;

use super::backend::{BackendEvent, Envelope};
use super::feed::FeedItem;
use super::requests::state_word;
use super::state::Session;
use super::{Engine, Event, Protocol, SessionId, SessionState};

impl Engine {
    /// Applies one backend event; returns the event front ends see (none for late events of
    /// an earlier generation, which only reach the transcript).
    pub(super) fn ingest(&mut self, envelope: Envelope) -> Option<Event> {
        let Envelope {
            session: id,
            generation,
            event,
        } = envelope;
        let session = self.sessions.get_mut(id).filter(|s| !s.removed)?;
        let current = generation == session.generation;
        let event = match event {
            BackendEvent::Output { stream, data } => {
                session.record_data(stream.as_str(), &data);
                if !current {
                    return None;
                }
                let before = session.activity_key();
                session.scrollback.push(stream, &data);
                session.last_output = Some(Instant::now());
                let noticed = session.notice_output();
                let turn_ends = self.act_on(id, noticed);
                self.publish_output(id, before, &turn_ends);
                return Some(Event::Output {
                    session: id,
                    stream,
                    bytes: data.len(),
                });
            }
            BackendEvent::Progress(message) => {
                if !current {
                    return None;
                }
                session.record_event("progress", json!({"message": message}));
                session.state = SessionState::Starting {
                    progress: Some(message.clone()),
                };
                Event::Progress {
                    session: id,
                    message,
                }
            }
            BackendEvent::Started { pid } => {
                let command = session.spec.program.argv();
                let mut fields = json!({"pid": pid, "command": command});
                if session.spec.protocol != Protocol::Raw {
                    fields["protocol"] = json!(session.spec.protocol.as_str());
                }
                session.record_event("started", fields);
                if !current {
                    return None;
                }
                session.state = SessionState::Running { pid };
                // An agent in stream-json mode waits for its first turn.
                session.awaiting_input = session.spec.protocol == Protocol::StreamJson;
                session.turn_in_flight = false;
                session.scan_seq = session.scrollback.end_seq();
                self.agent_restarted(id);
                Event::Started { session: id }
            }
            BackendEvent::Stdin(report) => {
                if !current {
                    return None;
                }
                match report {
                    Ok(n) => {
                        session.delivered(n);
                        return None;
                    }
                    Err(why) => {
                        let message = format!("input not delivered: {why}");
                        session.record_event("warning", json!({"message": message}));
                        session.undeliverable(&why);
                        session.stdin_closed = true;
                        session.push_warning(message.clone());
                        Event::Warning {
                            session: id,
                            message,
                        }
                    }
                }
            }
            BackendEvent::Warning(message) => {
                session.record_event("warning", json!({"message": message}));
                if !current {
                    return None;
                }
                session.push_warning(message.clone());
                Event::Warning {
                    session: id,
                    message,
                }
            }
            BackendEvent::Exited(status) => {
                session.record_event("exited", Session::exit_fields(status));
                if !current {
                    return None;
                }
                if session.restart_at.is_some() {
                    return self.restart_now(id);
                }
                session.scrollback.close_streams();
                session.undeliverable(&format!("the session {status} before reading it"));
                session.state = SessionState::Exited(status);
                session.controls = None;
                self.agent_ended(id);
                Event::Exited {
                    session: id,
                    status,
                }
            }
            BackendEvent::Failed(reason) => {
                session.record_event("failed", json!({"reason": reason}));
                if !current {
                    return None;
                }
                if session.restart_at.is_some() {
                    return self.restart_now(id);
                }
                session.scrollback.close_streams();
                session.undeliverable("the session failed before reading it");
                session.state = SessionState::Failed {
                    reason: reason.clone(),
                };
                session.controls = None;
                self.agent_ended(id);
                Event::Failed {
                    session: id,
                    reason,
                }
            }
        };
        self.publish_event(&event);
        Some(event)
    }

    /// The old program of a restart has ended (its end is in the transcript): the new one
    /// starts.
    fn restart_now(&mut self, id: SessionId) -> Option<Event> {
        self.sessions[id].scrollback.close_streams();
        self.launch(id);
        let event = Event::Progress {
            session: id,
            message: "restarting".into(),
        };
        self.publish_event(&event);
        Some(event)
    }

    /// Feeds subscribers the lines of `id` that changed, the turns that ended and a change
    /// of activity (`before`: the session's [`Session::activity_key`] before the change).
    pub(super) fn publish_output(
        &mut self,
        id: SessionId,
        before: (bool, bool, bool),
        turn_ends: &[u64],
    ) {
        self.check_waits(id);
        if !self.feed.watched(id) {
            return;
        }
        let session = &self.sessions[id];
        let name = session.spec.name.clone();
        self.feed.publish_lines(id, &name, &session.scrollback);
        for &seq in turn_ends {
            let summary = match session.agent.tracker.note(seq) {
                Some(crate::protocol::tracker::Note::Turn(summary)) => Some(summary.clone()),
                _ => None,
            };
            let item = FeedItem::TurnEnd {
                session: name.clone(),
                seq,
                summary,
            };
            self.feed.publish(id, item);
        }
        let session = &self.sessions[id];
        if before != session.activity_key() {
            let activity = session.activity(Instant::now());
            self.feed.publish(
                id,
                FeedItem::Activity {
                    session: name,
                    activity,
                },
            );
        }
    }

    /// Feeds subscribers what a lifecycle event says.
    pub(super) fn publish_event(&mut self, event: &Event) {
        let Some(id) = event.session() else {
            return;
        };
        self.check_waits(id);
        if !self.feed.watched(id) {
            return;
        }
        let session = &self.sessions[id];
        let name = session.spec.name.clone();
        // Closing the streams at the end may have finished an open line.
        self.feed.publish_lines(id, &name, &session.scrollback);
        let item = match event {
            Event::Progress { message, .. } => FeedItem::Progress {
                session: name,
                message: message.clone(),
            },
            Event::Warning { message, .. } => FeedItem::Warning {
                session: name,
                message: message.clone(),
            },
            Event::Added { .. } => FeedItem::Added { session: name },
            Event::Removed { .. } => FeedItem::Removed { session: name },
            Event::Started { .. } | Event::Exited { .. } | Event::Failed { .. } => {
                FeedItem::State {
                    session: name,
                    state: state_word(&session.state),
                    status: session.state.to_string(),
                    exit_code: match &session.state {
                        SessionState::Exited(status) => Some(status.shell_code()),
                        _ => None,
                    },
                }
            }
            Event::TranscriptFailed { message, .. } => FeedItem::Warning {
                session: name,
                message: message.clone(),
            },
            Event::Approval { .. } | Event::ApprovalClosed { .. } => {
                let Some(item) = Engine::approval_item(name.clone(), event) else {
                    return;
                };
                self.feed.publish(id, item);
                // Waiting for an answer, or no longer: the activity changed with it.
                let activity = self.sessions[id].activity(Instant::now());
                self.feed.publish(
                    id,
                    FeedItem::Activity {
                        session: name,
                        activity,
                    },
                );
                return;
            }
            Event::Output { .. } | Event::StopRequested => return,
        };
        self.feed.publish(id, item);
    }
}
