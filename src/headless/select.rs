//! Which scripts a run takes: files and directories (their `*.smx`, recursively, sorted),
//! then `--filter` and `--skip` on the script's name, then this machine's `--shard`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use regex::Regex;

use super::script::Job;

/// At most this many scripts are found in one run; more is refused (exit 2).
pub const MAX_SCRIPTS: usize = 100_000;
/// Directories deeper than this below an argument are not searched (refused, exit 2).
pub const MAX_DEPTH: usize = 64;

/// `--shard K/N`: the K-th of N slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("--shard takes K/N with 1 <= K <= N (such as 2/3), not `{text}`");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }

    /// Whether the script at `index` of the selected ones (in their sorted order) is this
    /// shard's: they are dealt out in turn, so the shards differ in size by one at most.
    pub fn takes(self, index: usize) -> bool {
        index % self.n == self.k - 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// `SUBSTRING` or `/REGEX/`, matched against a script's name.
#[derive(Debug, Clone)]
pub enum Filter {
    Text(String),
    Regex(Regex),
}

impl Filter {
    pub fn parse(flag: &str, text: &str) -> Result<Filter, String> {
        match text.strip_prefix('/').and_then(|t| t.strip_suffix('/')) {
            Some(re) if text.len() >= 2 => Regex::new(re).map(Filter::Regex).map_err(|err| {
                let why = crate::text::regex_error(&err);
                format!("{flag} {text}: not a regular expression: {why}")
            }),
            _ => Ok(Filter::Text(text.to_string())),
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            Filter::Text(text) => name.contains(text.as_str()),
            Filter::Regex(re) => re.is_match(name),
        }
    }
}

/// The scripts found, and what became of the others.
#[derive(Debug, Default)]
pub struct Selection {
    pub jobs: Vec<Job>,
    /// Found but left out by --filter or --skip.
    pub filtered_out: usize,
    /// Selected, but another shard's.
    pub other_shards: usize,
    /// Several scripts, or a directory: each script's files go below its own path.
    pub suite: bool,
}

/// Finds the scripts of `paths` (a lone file is run as it always was).
pub fn find(paths: &[PathBuf]) -> Result<Selection, String> {
    let suite = paths.len() > 1 || paths.iter().any(|p| p.is_dir());
    let mut jobs = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = jobs.len();
            walk(path, path, 0, &mut jobs)?;
            if jobs.len() == before {
                return Err(format!(
                    "sandmux: there are no scripts (*.smx) in {}",
                    path.display()
                ));
            }
        } else if path.exists() || !suite {
            // A missing lone script gets its own sentence when it is read.
            let rel = path
                .file_name()
                .map(|n| PathBuf::from(n).with_extension(""))
                .unwrap_or_else(|| PathBuf::from("script"));
            jobs.push(Job {
                path: path.clone(),
                name: path.display().to_string(),
                rel: suite.then_some(rel),
            });
        } else {
            return Err(format!(
                "sandmux: there is no script or directory {}",
                path.display()
            ));
        }
        if jobs.len() > MAX_SCRIPTS {
            return Err(format!(
                "sandmux: more than {MAX_SCRIPTS} scripts: run them in shards (--shard K/N) or in several runs"
            ));
        }
    }
    // The same file named twice runs once; two files with one name would share transcripts.
    let mut seen = HashSet::new();
    jobs.retain(|job| seen.insert(std::fs::canonicalize(&job.path).unwrap_or(job.path.clone())));
    let mut owners: HashMap<&Path, &str> = HashMap::new();
    for job in &jobs {
        if let Some(rel) = &job.rel
            && let Some(other) = owners.insert(rel, &job.name)
        {
            return Err(format!(
                "sandmux: {other} and {} would share transcripts and golden files ({}/): rename one or run them apart",
                job.name,
                rel.display()
            ));
        }
    }
    Ok(Selection {
        jobs,
        suite,
        ..Selection::default()
    })
}

fn walk(root: &Path, dir: &Path, depth: usize, jobs: &mut Vec<Job>) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "sandmux: {} is more than {MAX_DEPTH} directories deep",
            dir.display()
        ));
    }
    let cannot = |err: std::io::Error| format!("sandmux: cannot read {}: {err}", dir.display());
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(cannot)?
        .collect::<Result<_, _>>()
        .map_err(cannot)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let kind = entry.file_type().map_err(cannot)?;
        // Links to directories are not followed (no loops); links to scripts are.
        if kind.is_dir() && !hidden {
            walk(root, &path, depth + 1, jobs)?;
        } else if !hidden
            && path.extension().is_some_and(|e| e == "smx")
            && std::fs::metadata(&path).is_ok_and(|m| m.is_file())
        {
            let rel = path.strip_prefix(root).unwrap_or(&path).with_extension("");
            jobs.push(Job {
                name: path.display().to_string(),
                path,
                rel: Some(rel),
            });
            if jobs.len() > MAX_SCRIPTS {
                return Ok(());
            }
        }
    }
    Ok(())
}

impl Selection {
    /// Keeps the scripts a filter takes (any of them, when there are filters) and no skip
    /// takes, then this shard's slice of those.
    pub fn narrow(&mut self, filters: &[Filter], skips: &[Filter], shard: Option<Shard>) {
        let before = self.jobs.len();
        self.jobs.retain(|job| {
            (filters.is_empty() || filters.iter().any(|f| f.matches(&job.name)))
                && !skips.iter().any(|f| f.matches(&job.name))
        });
        self.filtered_out = before - self.jobs.len();
        if let Some(shard) = shard {
            let selected = self.jobs.len();
            let mut index = 0;
            self.jobs.retain(|_| {
                index += 1;
                shard.takes(index - 1)
            });
            self.other_shards = selected - self.jobs.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        dir
    }

    #[test]
    fn a_directory_means_its_scripts_recursively_in_sorted_order() {
        let dir = tree(&["b.smx", "a/z.smx", "a/y.smx", "notes.txt", ".hidden/x.smx"]);
        let found = find(&[dir.path().to_path_buf()]).unwrap();
        let rels: Vec<_> = found
            .jobs
            .iter()
            .map(|j| j.rel.clone().unwrap().display().to_string())
            .collect();
        assert_eq!(rels, ["a/y", "a/z", "b"]);
        assert!(found.suite);
        let lone = find(&[dir.path().join("b.smx")]).unwrap();
        assert!(!lone.suite && lone.jobs[0].rel.is_none());
    }

    #[test]
    fn shards_together_take_each_script_once() {
        let dir = tree(&[
            "1.smx", "2.smx", "3.smx", "4.smx", "5.smx", "6.smx", "7.smx",
        ]);
        let mut all = Vec::new();
        for k in 1..=3 {
            let mut found = find(&[dir.path().to_path_buf()]).unwrap();
            found.narrow(&[], &[], Some(Shard { k, n: 3 }));
            assert!(found.jobs.len() >= 2 && found.jobs.len() <= 3);
            all.extend(found.jobs.into_iter().map(|j| j.name));
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 7);
    }

    #[test]
    fn filters_skips_and_bad_arguments() {
        let dir = tree(&["agents/login.smx", "agents/logout.smx", "repl/py.smx"]);
        let mut found = find(&[dir.path().to_path_buf()]).unwrap();
        let f = [Filter::parse("--filter", "agents/").unwrap()];
        let s = [Filter::parse("--skip", "/logo.t/").unwrap()];
        found.narrow(&f, &s, None);
        assert_eq!(found.jobs.len(), 1);
        assert!(found.jobs[0].name.ends_with("agents/login.smx"));
        assert_eq!(found.filtered_out, 2);
        assert!(Filter::parse("--filter", "/(/").is_err());
        for bad in ["0/3", "4/3", "x", "1/0", "1"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let empty = tempfile::tempdir().unwrap();
        let err = find(&[empty.path().to_path_buf()]).unwrap_err();
        assert!(err.contains("no scripts (*.smx)"), "{err}");
        let clash = tree(&["a/x.smx", "b/x.smx"]);
        let err = find(&[clash.path().join("a"), clash.path().join("b")]).unwrap_err();
        assert!(err.contains("would share transcripts"), "{err}");
    }
}
