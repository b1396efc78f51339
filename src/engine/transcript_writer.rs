//! The thread that writes transcripts to disk, off the engine's thread: the engine gathers
//! whole records into batches and hands each batch over a bounded queue; this thread writes
//! them. A full queue makes the engine wait (backpressure), never drops a record.
//!
//! A write that fails (a full disk) never leaves a torn record: the file is cut back to the
//! end of the last record written, so it stays valid JSONL. Records from then on are lost and
//! counted, and the engine is told once ([`Sink::take_failure`]); when writing works again, a
//! `transcript_gap` record says where the gap began and what was lost.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::json;

/// Batches that may wait for the writer before the engine has to.
const QUEUE: usize = 16;

/// One transcript's file, as the writer thread keeps it.
#[derive(Debug)]
pub(super) struct Sink {
    path: PathBuf,
    state: Mutex<FileState>,
    /// A failure sentence is waiting in `state` (read without taking the lock).
    failed: AtomicBool,
    /// Ever failed: some records are missing.
    incomplete: AtomicBool,
}

#[derive(Debug)]
struct FileState {
    file: File,
    /// The file's length after the last successful write.
    committed: u64,
    gap: Option<Gap>,
    failure: Option<String>,
}

/// What a failed write lost.
#[derive(Debug, Clone, Copy)]
struct Gap {
    from_t: u64,
    records: u64,
    bytes: u64,
}

impl Sink {
    pub(super) fn new(path: PathBuf, file: File, committed: u64) -> Arc<Sink> {
        Arc::new(Sink {
            path,
            state: Mutex::new(FileState {
                file,
                committed,
                gap: None,
                failure: None,
            }),
            failed: AtomicBool::new(false),
            incomplete: AtomicBool::new(false),
        })
    }

    pub(super) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The sentence about the first failed write, once.
    pub(super) fn take_failure(&self) -> Option<String> {
        if !self.failed.swap(false, Ordering::AcqRel) {
            return None;
        }
        self.state.lock().ok()?.failure.take()
    }

    pub(super) fn incomplete(&self) -> bool {
        self.incomplete.load(Ordering::Acquire)
    }

    /// Writes one batch of `records` whole records.
    fn write(&self, buf: &[u8], records: u64) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let state = &mut *state;
        let result = match state.gap {
            None => state.file.write_all(buf).map(|()| buf.len()),
            Some(gap) => {
                let mut batch = Vec::with_capacity(buf.len() + 128);
                let record = json!({
                    "t": super::transcript::now_ms(), "event": "transcript_gap",
                    "from_t": gap.from_t, "records_lost": gap.records, "bytes_lost": gap.bytes,
                });
                let _ = serde_json::to_writer(&mut batch, &record);
                batch.push(b'\n');
                batch.extend_from_slice(buf);
                state.file.write_all(&batch).map(|()| batch.len())
            }
        };
        match result {
            Ok(written) => {
                state.committed += written as u64;
                state.gap = None;
            }
            Err(err) => {
                // Cut a torn record off, so the file ends where its last whole record does.
                let _ = state.file.set_len(state.committed);
                let _ = state.file.seek(SeekFrom::Start(state.committed));
                let from_t = first_t(buf).unwrap_or_else(super::transcript::now_ms);
                let gap = state.gap.get_or_insert(Gap {
                    from_t,
                    records: 0,
                    bytes: 0,
                });
                gap.records += records;
                gap.bytes += buf.len() as u64;
                if !self.incomplete.swap(true, Ordering::AcqRel) {
                    state.failure = Some(format!(
                        "transcript {} could not be written ({err}): it is incomplete from {} on",
                        self.path.display(),
                        clock(gap.from_t)
                    ));
                    self.failed.store(true, Ordering::Release);
                }
            }
        }
    }
}

/// What the writer thread is asked to do.
enum Job {
    Write {
        sink: Arc<Sink>,
        buf: Vec<u8>,
        records: u64,
        /// Where the emptied buffer goes back, for the next batch.
        spare: Sender<Vec<u8>>,
    },
    /// Answer once every job before this one is done.
    Sync(Sender<()>),
}

/// The process's transcript writer thread, started on first use.
fn queue() -> &'static SyncSender<Job> {
    static QUEUE_TX: OnceLock<SyncSender<Job>> = OnceLock::new();
    QUEUE_TX.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("sandmux-transcripts".into())
            .spawn(move || run(rx));
        if let Err(err) = spawned {
            // Without a thread the queue has no reader: writes happen on the caller's thread
            // (see `hand_over`), so nothing is lost.
            tracing::warn!("no transcript writer thread ({err}): writing inline");
        }
        tx
    })
}

fn run(rx: Receiver<Job>) {
    for job in rx {
        match job {
            Job::Write {
                sink,
                mut buf,
                records,
                spare,
            } => {
                sink.write(&buf, records);
                buf.clear();
                let _ = spare.send(buf);
            }
            Job::Sync(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Hands a batch to the writer thread, waiting while its queue is full. Should the thread
/// be gone, the batch is written here instead.
pub(super) fn hand_over(sink: &Arc<Sink>, buf: Vec<u8>, records: u64, spare: &Sender<Vec<u8>>) {
    let job = Job::Write {
        sink: sink.clone(),
        buf,
        records,
        spare: spare.clone(),
    };
    if let Err(std::sync::mpsc::SendError(Job::Write {
        sink, buf, records, ..
    })) = queue().send(job)
    {
        sink.write(&buf, records);
    }
}

/// Waits until every batch handed over so far is written.
pub(super) fn sync() {
    let (tx, rx) = std::sync::mpsc::channel();
    if queue().send(Job::Sync(tx)).is_ok() {
        let _ = rx.recv();
    }
}

/// The `t` of the first record in `buf`.
fn first_t(buf: &[u8]) -> Option<u64> {
    let rest = buf.strip_prefix(b"{\"t\":")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// `HH:MM:SS.mmm` (UTC) of a millisecond timestamp, for messages.
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03} UTC",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        ms % 1000
    )
}
