//! `sandmux run --golden DIR [--update]`: each session's transcript compared with
//! `DIR/NAME.jsonl` as `sandmux diff` compares them, or written there with `--update`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::Transcript;
use super::diff::Comparison;
use super::turns::Ignore;

/// What became of one session's golden transcript.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub session: String,
    /// `same`, `differs`, `missing`, `updated` or `error`.
    pub status: &'static str,
    /// What to tell: the divergence, or why nothing could be compared (plain text).
    pub message: Option<String>,
    /// The message as shown on a terminal (in colour where asked for).
    pub shown: Option<String>,
    /// The divergence as JSON (as `sandmux diff --json` gives it).
    pub divergence: Option<Value>,
}

impl Outcome {
    pub fn failed(&self) -> bool {
        !matches!(self.status, "same" | "updated")
    }

    pub fn json(&self) -> Value {
        json!({"session": self.session, "status": self.status, "message": self.message, "divergence": self.divergence})
    }
}

/// Writes a copy of `from` at `to` through a new file renamed over `to`: a symbolic link at
/// `to` is replaced, never followed (its target is not written).
fn replace_with_copy(from: &Path, to: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::OpenOptionsExt;
    let (mut source, _) =
        crate::input_file::open_regular(from, "the transcript").map_err(std::io::Error::other)?;
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = to.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp)?;
    let copied = std::io::copy(&mut source, &mut out).and_then(|n| out.sync_all().map(|()| n));
    match copied.and_then(|n| std::fs::rename(&temp, to).map(|()| n)) {
        Ok(n) => Ok(n),
        Err(err) => {
            let _ = std::fs::remove_file(&temp);
            Err(err)
        }
    }
}

/// Compares (or with `update` writes) the transcripts `(session, path)` against `dir`;
/// `scratch`: the transcripts are in a directory removed after the run.
pub fn check(
    dir: &Path,
    transcripts: &[(String, PathBuf)],
    update: bool,
    ignore: &Ignore,
    colour: bool,
    scratch: bool,
) -> Vec<Outcome> {
    transcripts
        .iter()
        .map(|(session, path)| {
            let golden = dir.join(format!("{session}.jsonl"));
            let outcome = |status, message: Option<String>, divergence| Outcome {
                session: session.clone(),
                status,
                shown: message.clone(),
                message,
                divergence,
            };
            if update {
                let written = std::fs::create_dir_all(dir).and_then(|()| replace_with_copy(path, &golden));
                return match written {
                    Ok(_) => outcome("updated", Some(format!("wrote {}", golden.display())), None),
                    Err(err) => outcome(
                        "error",
                        Some(format!("cannot write the golden transcript {}: {err}", golden.display())),
                        None,
                    ),
                };
            }
            if !golden.exists() {
                return outcome(
                    "missing",
                    Some(format!(
                        "no golden transcript {} for session `{session}`: run with --update to write it",
                        golden.display()
                    )),
                    None,
                );
            }
            let (expected, actual) = match (Transcript::load(&golden), Transcript::load(path)) {
                (Ok(e), Ok(mut a)) => {
                    if scratch {
                        // The run's own transcripts are gone once it ends: name them for what they are.
                        a.label = format!("(this run) {session}.jsonl");
                    }
                    (e, a)
                }
                (Err(err), _) | (_, Err(err)) => return outcome("error", Some(err), None),
            };
            let comparison = match Comparison::new(&expected, &actual, ignore) {
                Ok(comparison) => comparison,
                Err(err) => return outcome("error", Some(err), None),
            };
            match comparison.divergence {
                None => outcome("same", None, None),
                Some(_) => Outcome {
                    shown: Some(comparison.text(colour)),
                    ..outcome("differs", Some(comparison.text(false)), Some(comparison.json()))
                },
            }
        })
        .collect()
}
