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
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// What the item holds in memory, about (its text and a fixed share for the rest).
    pub fn weight(&self) -> usize {
        let text = match self {
            FeedItem::Line { text, data_b64, .. } | FeedItem::Partial { text, data_b64, .. } => {
                text.len() + data_b64.as_ref().map_or(0, String::len)
            }
            FeedItem::Warning { message, .. } | FeedItem::Progress { message, .. } => message.len(),
            FeedItem::Approval { approval, .. } => approval.summary.len() * 2,
            _ => 0,
        };
        text + 96
    }

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

/// The most bytes of items queued for one subscriber (at least one item always fits): one
/// that falls further behind gets `lagged`, so a client that stops reading costs bounded
/// memory whatever the lines' size.
pub const MAX_QUEUED_BYTES: usize = 2 << 20;

struct Subscriber {
    /// `None`: every session.
    session: Option<SessionId>,
    tx: mpsc::Sender<FeedItem>,
    /// Bytes of the items in the queue (the receiver takes them off as it takes items).
    queued: Arc<AtomicUsize>,
}

/// The receiving end of a subscription: it counts what it takes off the queue.
pub struct FeedReceiver {
    rx: mpsc::Receiver<FeedItem>,
    queued: Arc<AtomicUsize>,
}

impl FeedReceiver {
    pub async fn recv(&mut self) -> Option<FeedItem> {
        let item = self.rx.recv().await?;
        self.queued.fetch_sub(item.weight(), Ordering::Relaxed);
        Some(item)
    }

    pub fn try_recv(&mut self) -> Result<FeedItem, mpsc::error::TryRecvError> {
        let item = self.rx.try_recv()?;
        self.queued.fetch_sub(item.weight(), Ordering::Relaxed);
        Ok(item)
    }
}

/// The sending end a new subscription's history goes through (counted like live items).
pub struct FeedSender {
    tx: mpsc::Sender<FeedItem>,
    queued: Arc<AtomicUsize>,
}

impl FeedSender {
    /// Queues a catch-up item; false when the queue is full (by count or by bytes).
    pub fn try_send(&self, item: FeedItem) -> bool {
        let weight = item.weight();
        let queued = self.queued.load(Ordering::Relaxed);
        if queued > 0 && queued + weight > MAX_QUEUED_BYTES {
            return false;
        }
        if self.tx.try_send(item).is_err() {
            return false;
        }
        self.queued.fetch_add(weight, Ordering::Relaxed);
        true
    }

    /// Queues an item whatever the bytes queued (the last word of a cut catch-up).
    pub fn try_send_always(&self, item: FeedItem) -> bool {
        let weight = item.weight();
        let sent = self.tx.try_send(item).is_ok();
        if sent {
            self.queued.fetch_add(weight, Ordering::Relaxed);
        }
        sent
    }
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

    /// Adds a subscriber to `id` (or every session) with a queue of `capacity` items (and
    /// at most [`MAX_QUEUED_BYTES`]); `history` yields the catch-up items of each session
    /// (see [`Feed::history`]).
    pub fn subscribe(
        &mut self,
        session: Option<SessionId>,
        capacity: usize,
    ) -> (FeedSender, FeedReceiver) {
        let (tx, rx) = mpsc::channel(capacity.max(2));
        let queued = Arc::new(AtomicUsize::new(0));
        self.subscribers.push(Subscriber {
            session,
            tx: tx.clone(),
            queued: Arc::clone(&queued),
        });
        (
            FeedSender {
                tx,
                queued: Arc::clone(&queued),
            },
            FeedReceiver { rx, queued },
        )
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
                let len = line.bytes.len();
                let due = match self.partial[id] {
                    Some((at, sent)) if at == seq => partial_due(sent, len),
                    _ => true,
                };
                if due {
                    self.partial[id] = Some((seq, len));
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
        let weight = item.weight();
        self.subscribers.retain(|sub| {
            if sub.session.is_some_and(|w| w != id) {
                return true;
            }
            if sub.tx.is_closed() {
                return false;
            }
            let queued = sub.queued.load(Ordering::Relaxed);
            let over_bytes = queued > 0 && queued + weight > MAX_QUEUED_BYTES;
            if sub.tx.capacity() <= 1 || over_bytes {
                if droppable && sub.tx.capacity() >= 1 {
                    // A partial line is shown again whole later: skipping one loses nothing.
                    return true;
                }
                let lagged = FeedItem::Lagged {
                    session: session_name.clone(),
                    resume_from: resume,
                };
                sub.queued.fetch_add(lagged.weight(), Ordering::Relaxed);
                let _ = sub.tx.try_send(lagged);
                return false;
            }
            if sub.tx.try_send(item.clone()).is_ok() {
                sub.queued.fetch_add(weight, Ordering::Relaxed);
                true
            } else {
                false
            }
        });
    }
}

/// Open lines up to this long are published at every change (a prompt as it is typed).
pub const PARTIAL_SMALL: usize = 1024;

/// Whether an open line that was last published at `sent` bytes and has `len` now is
/// published again: at every change while it is small, then when it has doubled. A long
/// line arriving in small pieces so costs its subscribers at most about twice its size,
/// not the square of it; the whole line always follows as a `line`.
fn partial_due(sent: usize, len: usize) -> bool {
    len != sent && (len <= PARTIAL_SMALL || len >= sent.saturating_mul(2))
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

    fn seqs(rx: &mut FeedReceiver) -> Vec<String> {
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
            assert!(tx.try_send(item));
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
    fn a_long_line_in_small_pieces_costs_its_subscriber_linear_bytes() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        let mut feed = Feed::default();
        let (_tx, mut rx) = feed.subscribe(Some(0), 100_000);
        feed.history(0, "s", &sb, 0, false);
        let piece = [b'x'; 200];
        for _ in 0..5000 {
            sb.push(Stream::Stdout, &piece);
            feed.publish_lines(0, "s", &sb);
        }
        sb.push(Stream::Stdout, b"\n");
        feed.publish_lines(0, "s", &sb);
        let mut bytes = 0;
        let mut items = 0;
        while let Ok(item) = rx.try_recv() {
            bytes += item.bytes().map_or(0, |b| b.len());
            items += 1;
        }
        // 1 MB line: at most about 3 MB of partials and the line itself.
        assert!(bytes < 4_000_000, "{bytes} bytes in {items} items");
        assert!(items < 30, "{items}");
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
