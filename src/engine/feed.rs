//! The live feed of what happens in sessions, for subscribers (the control socket): every
//! line of output and input exactly once, in order, plus state and activity changes.
//!
//! A subscriber gives a sequence number to start from. The lines from there up to now are
//! sent first, then live items, so nothing is missed between a `read` and a `subscribe`.
//! Each subscriber has a bounded queue; one that falls behind gets a `lagged` item with the
//! sequence number to resume from, and its subscription ends (it subscribes again from
//! there). Nothing is done for sessions nobody subscribes to.

use base64::Engine as _;
use serde::Serialize;
use tokio::sync::mpsc;

use super::{Activity, LineEnd, Scrollback, SessionId, Stream};

/// One item of the feed, in the JSON form documented in docs/control-protocol.md.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FeedItem {
    /// A complete line (each line once): `end` is `newline`, `split` (at the line cap),
    /// `cut` (something else came before its newline) or `eof`.
    Line {
        session: String,
        seq: u64,
        stream: Stream,
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        data_b64: Option<String>,
        end: &'static str,
        /// For the piece of a line that something else cut into: the line's first piece.
        #[serde(skip_serializing_if = "Option::is_none")]
        head: Option<u64>,
    },
    /// The line still waiting for its newline (a prompt), as it is now; may repeat.
    Partial {
        session: String,
        seq: u64,
        stream: Stream,
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        data_b64: Option<String>,
    },
    /// The session's lifecycle state changed.
    State {
        session: String,
        state: &'static str,
        status: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
    },
    /// What the session is doing changed (awaiting input, working).
    Activity {
        session: String,
        activity: Activity,
    },
    /// A stream-json turn ended with the `result` line `seq`: what it cost (the growth of
    /// the running total), the session's total, and why it failed, if it did.
    TurnEnd {
        session: String,
        seq: u64,
        #[serde(flatten, skip_serializing_if = "Option::is_none")]
        summary: Option<crate::protocol::tracker::TurnSummary>,
    },
    /// An agent asks permission to use a tool (answer with `approve` or `deny`).
    Approval {
        session: String,
        #[serde(flatten)]
        approval: crate::protocol::control::Approval,
    },
    /// A permission request was answered, withdrawn or abandoned.
    ApprovalClosed {
        session: String,
        request_id: String,
        #[serde(flatten)]
        answer: crate::protocol::control::Answer,
    },
    /// Progress while starting, or a warning.
    Progress {
        session: String,
        message: String,
    },
    Warning {
        session: String,
        message: String,
    },
    Added {
        session: String,
    },
    Removed {
        session: String,
    },
    /// Lines `from..to` were evicted from the scrollback before they could be sent.
    Gap {
        session: String,
        from: u64,
        to: u64,
    },
    /// The subscriber fell behind: subscribe again from `resume_from`.
    Lagged {
        session: String,
        resume_from: u64,
    },
}

impl FeedItem {
    /// The exact bytes of a line or partial item.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        let (FeedItem::Line { text, data_b64, .. } | FeedItem::Partial { text, data_b64, .. }) =
            self
        else {
            return None;
        };
        Some(match data_b64 {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default(),
            None => text.as_bytes().to_vec(),
        })
    }

    /// A line as a feed item (`partial` when it is still open).
    pub fn line(session: &str, line: &super::Line<'_>) -> FeedItem {
        let (text, data_b64) = text_of(line.bytes);
        let session = session.to_string();
        let end = match line.end {
            LineEnd::Open => {
                return FeedItem::Partial {
                    session,
                    seq: line.seq,
                    stream: line.stream,
                    text,
                    data_b64,
                };
            }
            LineEnd::Newline => "newline",
            LineEnd::Split => "split",
            LineEnd::Cut => "cut",
            LineEnd::Eof => "eof",
        };
        FeedItem::Line {
            session,
            seq: line.seq,
            stream: line.stream,
            text,
            data_b64,
            end,
            head: (line.head != line.seq).then_some(line.head),
        }
    }
}

/// Text for JSON, with the exact bytes in base64 when they are not UTF-8 (as transcripts do).
pub fn text_of(bytes: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), None),
        Err(_) => (
            String::from_utf8_lossy(bytes).into_owned(),
            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        ),
    }
}

struct Subscriber {
    /// `None`: every session.
    session: Option<SessionId>,
    tx: mpsc::Sender<FeedItem>,
}

/// The subscribers and, per session, how far its lines have been published.
#[derive(Default)]
pub struct Feed {
    subscribers: Vec<Subscriber>,
    /// Per session: the first line not yet published as complete.
    published: Vec<u64>,
    /// Per session: the open line and its length when last published as partial.
    partial: Vec<Option<(u64, usize)>>,
}

impl Feed {
    /// Whether anyone listens to `id`.
    pub fn watched(&self, id: SessionId) -> bool {
        self.subscribers
            .iter()
            .any(|s| s.session.is_none_or(|w| w == id))
    }

    fn grow(&mut self, id: SessionId) {
        if self.published.len() <= id {
            self.published.resize(id + 1, 0);
            self.partial.resize(id + 1, None);
        }
    }

    /// Adds a subscriber to `id` (or every session) with a queue of `capacity`; `history`
    /// yields the catch-up items of each session (see [`Feed::history`]).
    pub fn subscribe(
        &mut self,
        session: Option<SessionId>,
        capacity: usize,
    ) -> (mpsc::Sender<FeedItem>, mpsc::Receiver<FeedItem>) {
        let (tx, rx) = mpsc::channel(capacity.max(2));
        self.subscribers.push(Subscriber {
            session,
            tx: tx.clone(),
        });
        (tx, rx)
    }

    /// The items that catch a new subscriber of `id` up from line `from`: a gap for what
    /// was evicted, the complete lines, and the open line. Afterwards live publishing starts
    /// where the history ended.
    pub fn history(
        &mut self,
        id: SessionId,
        name: &str,
        sb: &Scrollback,
        from: u64,
        already_watched: bool,
    ) -> Vec<FeedItem> {
        self.grow(id);
        if !already_watched {
            // Nobody listened: nothing was published; live items start from now.
            self.published[id] = first_unfinished(sb);
            self.partial[id] = None;
        }
        let upto = self.published[id];
        let mut items = Vec::new();
        let from = from.min(sb.end_seq());
        if from < sb.first_seq() {
            items.push(FeedItem::Gap {
                session: name.to_string(),
                from,
                to: sb.first_seq(),
            });
        }
        for seq in from.max(sb.first_seq())..sb.end_seq() {
            let Some(line) = sb.get(seq) else { break };
            if seq < upto || line.is_open() {
                items.push(FeedItem::line(name, &line));
            }
        }
        items
    }

    /// Publishes the lines of `id` that changed since the last call.
    pub fn publish_lines(&mut self, id: SessionId, name: &str, sb: &Scrollback) {
        if !self.watched(id) {
            return;
        }
        self.grow(id);
        let mut seq = self.published[id];
        if seq < sb.first_seq() {
            let gap = FeedItem::Gap {
                session: name.to_string(),
                from: seq,
                to: sb.first_seq(),
            };
            self.send(id, gap, seq);
            seq = sb.first_seq();
        }
        while seq < sb.end_seq() {
            let Some(line) = sb.get(seq) else { break };
            if line.is_open() {
                let now = (seq, line.bytes.len());
                if self.partial[id] != Some(now) {
                    self.partial[id] = Some(now);
                    self.send(id, FeedItem::line(name, &line), seq);
                }
                break;
            }
            self.send(id, FeedItem::line(name, &line), seq);
            seq += 1;
        }
        self.published[id] = seq;
    }

    /// Publishes an item about `id` (state, activity, ...).
    pub fn publish(&mut self, id: SessionId, item: FeedItem) {
        if self.watched(id) {
            self.grow(id);
            let resume = self.published[id];
            self.send(id, item, resume);
        }
    }

    /// Sends to every subscriber of `id`; one whose queue is (nearly) full gets `lagged`
    /// with `resume` and is dropped, as is one that went away.
    fn send(&mut self, id: SessionId, item: FeedItem, resume: u64) {
        let session_name = match &item {
            FeedItem::Line { session, .. }
            | FeedItem::Partial { session, .. }
            | FeedItem::State { session, .. }
            | FeedItem::Activity { session, .. }
            | FeedItem::TurnEnd { session, .. }
            | FeedItem::Progress { session, .. }
            | FeedItem::Warning { session, .. }
            | FeedItem::Added { session }
            | FeedItem::Removed { session }
            | FeedItem::Gap { session, .. }
            | FeedItem::Lagged { session, .. }
            | FeedItem::Approval { session, .. }
            | FeedItem::ApprovalClosed { session, .. } => session.clone(),
        };
        let droppable = matches!(item, FeedItem::Partial { .. });
        self.subscribers.retain(|sub| {
            if sub.session.is_some_and(|w| w != id) {
                return true;
            }
            if sub.tx.is_closed() {
                return false;
            }
            if sub.tx.capacity() <= 1 {
                if droppable && sub.tx.capacity() == 1 {
                    return true;
                }
                let _ = sub.tx.try_send(FeedItem::Lagged {
                    session: session_name.clone(),
                    resume_from: resume,
                });
                return false;
            }
            sub.tx.try_send(item.clone()).is_ok()
        });
    }
}

/// The first line of `sb` that is not complete yet (the open line, or the end).
fn first_unfinished(sb: &Scrollback) -> u64 {
    match sb.end_seq().checked_sub(1).and_then(|last| sb.get(last)) {
        Some(line) if line.is_open() => line.seq,
        _ => sb.end_seq(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ScrollbackLimits;

    fn seqs(rx: &mut mpsc::Receiver<FeedItem>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(item) = rx.try_recv() {
            out.push(match item {
                FeedItem::Line { seq, text, .. } => format!("{seq}:{text}"),
                FeedItem::Partial { seq, text, .. } => format!("{seq}~{text}"),
                FeedItem::Lagged { resume_from, .. } => format!("lagged@{resume_from}"),
                FeedItem::Gap { from, to, .. } => format!("gap {from}..{to}"),
                other => format!("{other:?}"),
            });
        }
        out
    }

    #[test]
    fn history_then_live_lines_each_exactly_once() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        let mut feed = Feed::default();
        sb.push(Stream::Stdout, b"a\nb\npro");
        let watched = feed.watched(0);
        let (tx, mut rx) = feed.subscribe(Some(0), 100);
        for item in feed.history(0, "s", &sb, 1, watched) {
            tx.try_send(item).unwrap();
        }
        sb.push(Stream::Stdout, b"mpt> ");
        feed.publish_lines(0, "s", &sb);
        sb.push(Stream::Stdin, b"x\n");
        feed.publish_lines(0, "s", &sb);
        sb.push(Stream::Stdout, b"c\n");
        feed.publish_lines(0, "s", &sb);
        assert_eq!(
            seqs(&mut rx),
            ["1:b", "2~pro", "2~prompt> ", "2:prompt> ", "3:x", "4:c"]
        );
    }

    #[test]
    fn a_slow_subscriber_is_told_where_to_resume_and_dropped() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        let mut feed = Feed::default();
        let (_tx, mut rx) = feed.subscribe(Some(0), 4);
        feed.history(0, "s", &sb, 0, false);
        for i in 0..10 {
            sb.push(Stream::Stdout, format!("{i}\n").as_bytes());
            feed.publish_lines(0, "s", &sb);
        }
        assert_eq!(seqs(&mut rx), ["0:0", "1:1", "2:2", "lagged@3"]);
        assert!(!feed.watched(0));
    }

    #[test]
    fn evicted_history_is_reported_as_a_gap() {
        let limits = ScrollbackLimits {
            max_lines: 2,
            ..ScrollbackLimits::default()
        };
        let mut sb = Scrollback::new(limits);
        for i in 0..5 {
            sb.push(Stream::Stdout, format!("{i}\n").as_bytes());
        }
        sb.trim();
        let mut feed = Feed::default();
        let items = feed.history(0, "s", &sb, 0, false);
        assert_eq!(
            items[0],
            FeedItem::Gap {
                session: "s".into(),
                from: 0,
                to: 3
            }
        );
        assert_eq!(items.len(), 3);
    }
}
