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
    /// What to tell: the divergence, or why nothing could be compared.
    pub message: Option<String>,
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
                message,
                divergence,
            };
            if update {
                let written = std::fs::create_dir_all(dir).and_then(|()| std::fs::copy(path, &golden));
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
                        a.path = PathBuf::from(format!("(this run) {session}.jsonl"));
                    }
                    (e, a)
                }
                (Err(err), _) | (_, Err(err)) => return outcome("error", Some(err), None),
            };
            let comparison = Comparison::new(&expected, &actual, ignore);
            match comparison.divergence {
                None => outcome("same", None, None),
                Some(_) => outcome(
                    "differs",
                    Some(comparison.text(colour)),
                    Some(comparison.json()),
                ),
            }
        })
        .collect()
}
