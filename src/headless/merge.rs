//! `sandmux report merge`: the reports of a suite's shards (JUnit or JSON) as one, with the
//! totals and the verdict worked out again, and a loud note where shards are missing or a
//! script ran twice.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use quick_xml::events::Event;
use serde_json::{Value, json};

/// A report larger than this is refused (exit 2).
pub const MAX_REPORT: u64 = 512 << 20;

enum Kind {
    Junit,
    Json,
}

/// Merges `inputs` into `output` (stdout when `None`); returns the exit status.
pub fn run(inputs: &[PathBuf], output: Option<&Path>) -> i32 {
    match merge(inputs) {
        Ok((text, summary, warnings)) => {
            for warning in warnings {
                crate::say!("sandmux: WARNING: {warning}");
            }
            let written = match output {
                Some(path) => std::fs::write(path, &text)
                    .map_err(|err| format!("sandmux: cannot write {}: {err}", path.display())),
                None => {
                    crate::out!("{}", text.trim_end());
                    Ok(())
                }
            };
            match written {
                Ok(()) => {
                    crate::say!("{summary}");
                    0
                }
                Err(message) => {
                    crate::say!("{message}");
                    1
                }
            }
        }
        Err(message) => {
            crate::say!("{message}");
            super::EXIT_INVALID
        }
    }
}

fn merge(inputs: &[PathBuf]) -> Result<(String, String, Vec<String>), String> {
    let mut texts = Vec::new();
    let mut kind = None;
    for path in inputs {
        let text = crate::input_file::read_text(path, "the report", MAX_REPORT)
            .map_err(|err| err.sentence(path, "the report"))?;
        let this = match text.trim_start().chars().next() {
            Some('<') => Kind::Junit,
            Some('{') => Kind::Json,
            _ => {
                return Err(format!(
                    "sandmux: {}: neither a JUnit (XML) nor a JSON report",
                    path.display()
                ));
            }
        };
        match (&kind, &this) {
            (None, _) | (Some(Kind::Junit), Kind::Junit) | (Some(Kind::Json), Kind::Json) => {}
            _ => {
                return Err(format!(
                    "sandmux: {} is not the same kind of report as {}: merge JUnit with JUnit and JSON with JSON",
                    path.display(),
                    inputs[0].display()
                ));
            }
        }
        kind = Some(this);
        texts.push((path.as_path(), text));
    }
    match kind {
        Some(Kind::Junit) => merge_junit(&texts),
        Some(Kind::Json) => merge_json(&texts),
        None => Err("sandmux: report merge takes one or more reports".into()),
    }
}

/// `FILE:LINE:COL` of a byte offset.
fn position(path: &Path, text: &str, offset: usize) -> String {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let (line, col) = crate::input_file::line_col(&text[..end]);
    format!("{}:{line}:{col}", path.display())
}

/// One `<testsuite>` element, as it was written, on lines of its own.
fn push_suite(suites: &mut String, element: &str) {
    suites.push_str("  ");
    suites.push_str(element);
    suites.push('\n');
}

#[derive(Default)]
struct Totals {
    tests: u64,
    failures: u64,
    errors: u64,
    skipped: u64,
    time: f64,
}

fn merge_junit(texts: &[(&Path, String)]) -> Result<(String, String, Vec<String>), String> {
    let mut suites = String::new();
    let mut totals = Totals::default();
    let mut names: HashMap<String, &Path> = HashMap::new();
    let mut warnings = Vec::new();
    let mut count = 0;
    for (path, text) in texts {
        let mut reader = quick_xml::Reader::from_str(text);
        // Depth of the next element; where the <testsuite> being copied began, and its depth.
        let mut depth = 0usize;
        let mut open: Option<(usize, usize)> = None;
        loop {
            let at = reader.buffer_position() as usize;
            let bad = |what: String| format!("sandmux: {}: {what}", position(path, text, at));
            let event = reader
                .read_event()
                .map_err(|err| bad(format!("not a JUnit report: {err}")))?;
            let (element, empty) = match &event {
                Event::Start(e) => (Some(e), false),
                Event::Empty(e) => (Some(e), true),
                Event::End(_) => {
                    depth = depth.saturating_sub(1);
                    if let Some((start, d)) = open
                        && d == depth
                    {
                        push_suite(&mut suites, &text[start..reader.buffer_position() as usize]);
                        open = None;
                    }
                    continue;
                }
                Event::Eof => break,
                _ => (None, false),
            };
            let Some(e) = element else { continue };
            if e.name().0 == "testsuite" && open.is_none() && depth <= 1 {
                count += 1;
                for attr in e.attributes() {
                    let attr = attr.map_err(|err| bad(format!("a bad attribute: {err}")))?;
                    let value = attr
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|err| bad(format!("a bad attribute: {err}")))?;
                    let number = || value.trim().parse::<f64>().unwrap_or(0.0);
                    match attr.key.0 {
                        "tests" => totals.tests += number() as u64,
                        "failures" => totals.failures += number() as u64,
                        "errors" => totals.errors += number() as u64,
                        "skipped" => totals.skipped += number() as u64,
                        "time" => totals.time += number(),
                        "name" => {
                            if let Some(other) = names.insert(value.to_string(), path) {
                                warnings.push(format!(
                                    "{value} is in both {} and {}: did two shards run it?",
                                    other.display(),
                                    path.display()
                                ));
                            }
                        }
                        _ => {}
                    }
                }
                if empty {
                    push_suite(&mut suites, &text[at..reader.buffer_position() as usize]);
                } else {
                    open = Some((at, depth));
                }
            }
            if !empty {
                depth += 1;
            }
        }
        if open.is_some() || depth != 0 {
            return Err(format!(
                "sandmux: {}: not a JUnit report: it ends inside an element",
                position(path, text, text.len())
            ));
        }
    }
    if count == 0 {
        return Err("sandmux: the JUnit reports hold no <testsuite>".into());
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"sandmux\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">\n",
        totals.tests, totals.failures, totals.errors, totals.time
    ));
    out.push_str(&suites);
    out.push_str("</testsuites>\n");
    let summary = format!(
        "merged {} reports: {count} test suites, {} tests, {} failures, {} errors, {} skipped",
        texts.len(),
        totals.tests,
        totals.failures,
        totals.errors,
        totals.skipped
    );
    Ok((out, summary, warnings))
}

fn merge_json(texts: &[(&Path, String)]) -> Result<(String, String, Vec<String>), String> {
    let mut scripts: Vec<Value> = Vec::new();
    let mut warnings = Vec::new();
    let mut shards: HashMap<usize, BTreeSet<usize>> = HashMap::new();
    let mut owners: HashMap<String, &Path> = HashMap::new();
    let mut duration = 0.0;
    let mut filtered_out = 0;
    for (path, text) in texts {
        let value: Value = serde_json::from_str(text).map_err(|err| {
            let (line, col) = (err.line(), err.column());
            format!(
                "sandmux: {}:{line}:{col}: not a JSON report: {err}",
                path.display()
            )
        })?;
        let these: Vec<Value> = match (&value["scripts"], &value["script"]) {
            (Value::Array(list), _) => list.clone(),
            (_, Value::String(_)) => vec![value.clone()],
            _ => {
                return Err(format!(
                    "sandmux: {}: not a sandmux report (no \"scripts\" or \"script\")",
                    path.display()
                ));
            }
        };
        duration += value["duration_ms"].as_f64().unwrap_or(0.0);
        filtered_out = filtered_out.max(value["filtered_out"].as_u64().unwrap_or(0));
        if let Some(shard) = value["shard"].as_str()
            && let Ok(s) = super::select::Shard::parse(shard)
        {
            shards.entry(s.n).or_default().insert(s.k);
        }
        for script in these {
            let name = script["script"].as_str().unwrap_or("").to_string();
            if let Some(other) = owners.insert(name.clone(), path) {
                warnings.push(format!(
                    "{name} is in both {} and {}: did two shards run it?",
                    other.display(),
                    path.display()
                ));
            }
            scripts.push(script);
        }
    }
    for (n, ks) in &shards {
        let missing: Vec<String> = (1..=*n)
            .filter(|k| !ks.contains(k))
            .map(|k| format!("{k}/{n}"))
            .collect();
        if !missing.is_empty() {
            warnings.push(format!(
                "no report of shard {}: its scripts are not in the merged report",
                missing.join(", ")
            ));
        }
    }
    let status = |s: &Value| s["status"].as_str().unwrap_or("failed").to_string();
    let count = |want: &str| scripts.iter().filter(|s| status(s) == want).count();
    let (passed, failed, skipped) = (count("passed"), count("failed"), count("skipped"));
    let interrupted = count("interrupted");
    let codes: Vec<i64> = scripts
        .iter()
        .map(|s| s["exit_code"].as_i64().unwrap_or(1))
        .collect();
    let code = if interrupted > 0 {
        codes
            .iter()
            .copied()
            .filter(|c| *c > 128)
            .max()
            .unwrap_or(130)
    } else if codes.contains(&2) {
        2
    } else if failed > 0 || skipped > 0 && codes.iter().any(|c| *c != 0) {
        1
    } else if codes.contains(&3) {
        3
    } else {
        0
    };
    let overall = match (code, interrupted) {
        (0, _) => "passed",
        (_, 0) => "failed",
        _ => "interrupted",
    };
    let merged = json!({
        "status": overall,
        "exit_code": code,
        "duration_ms": duration,
        "scripts_total": scripts.len(),
        "passed": passed,
        "failed": failed,
        "skipped": skipped,
        "interrupted": interrupted,
        "filtered_out": filtered_out,
        "shard": Value::Null,
        "merged_from": texts.iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>(),
        "scripts": scripts,
    });
    let summary = format!(
        "merged {} reports: {} scripts: {passed} passed, {failed} failed, {skipped} skipped, {interrupted} interrupted ({overall})",
        texts.len(),
        merged["scripts_total"],
    );
    Ok((merged.to_string(), summary, warnings))
}
