//! Every example a newcomer is shown runs as shown: the examples of each `--help`, and the
//! code blocks of README.md and docs/ marked `tested` (` ```sh tested`, ` ```toml tested`,
//! ` ```console tested`), against real programs, the real Claude Code CLI included.

mod common;

use std::path::Path;

use common::world::{Kind, World, as_run, kind_of};

/// The example command lines of `sandmux ARGS --help`: the indented lines after `Examples:`,
/// each without the description after two or more blanks.
fn help_examples(args: &[&str]) -> Vec<String> {
    let out = common::sandmux().args(args).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    let Some((_, examples)) = help.split_once("\nExamples:\n") else {
        return Vec::new();
    };
    examples
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let l = l.trim();
            match l.find("  ") {
                Some(at) => l[..at].to_string(),
                None => l.to_string(),
            }
        })
        .collect()
}

/// What an example needs first: a permission request to answer, a turn to interrupt.
fn before(world: &World, line: &str) {
    let setup = if line.contains("ctl approve") {
        "sandmux ctl wait agent --turn --timeout 60s; sandmux ctl send agent 'run: touch allowed' && sandmux ctl wait agent --activity awaiting_approval --timeout 60s"
    } else if line.contains("ctl deny") {
        "sandmux ctl wait agent --turn --timeout 60s; sandmux ctl send agent 'run: touch denied' && sandmux ctl wait agent --activity awaiting_approval --timeout 60s"
    } else if line.contains("ctl interrupt") {
        "sandmux ctl send agent slow && sandmux ctl wait agent --expect-json '/subtype == \"init\"' --timeout 60s"
    } else {
        return;
    };
    let out = world.sh(setup);
    assert!(out.status.success(), "before `{line}`: {out:?}");
}

#[test]
fn every_help_example_runs_as_shown() {
    let mut world = World::new();
    let mut ran = 0;
    for args in [
        &[][..],
        &["run"],
        &["diff"],
        &["replay"],
        &["report", "merge"],
        &["serve"],
        &["ctl"],
    ] {
        let examples = help_examples(args);
        assert!(
            !examples.is_empty(),
            "`sandmux {}` has examples",
            args.join(" ")
        );
        for line in examples {
            before(&world, &line);
            let kind = kind_of(&line);
            world.check(&line, &kind);
            ran += 1;
        }
    }
    assert!(ran >= 30, "only {ran} examples ran");
}

/// The fenced blocks of a Markdown file whose info string has the word `tested`:
/// (language, first line number, text).
fn tested_blocks(path: &Path) -> Vec<(String, usize, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut blocks = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        if let Some(info) = line.strip_prefix("```") {
            match open.take() {
                Some(block) => blocks.push(block),
                None => {
                    let words: Vec<&str> = info.split_whitespace().collect();
                    let lang = words.first().copied().unwrap_or("");
                    let lang = match words.contains(&"tested") {
                        true => lang.to_string(),
                        false => format!("untested {lang}"),
                    };
                    open = Some((lang, n + 2, String::new()));
                }
            }
        } else if let Some((_, _, body)) = open.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    blocks
        .into_iter()
        .filter(|(lang, _, _)| !lang.starts_with("untested"))
        .collect()
}

/// `$ COMMAND` lines with the output they show; `...` stands for any lines, and durations
/// such as `(4ms)` for any duration.
fn check_console(world: &mut World, place: &str, body: &str) {
    let mut sessions: Vec<(String, Vec<String>)> = Vec::new();
    for line in body.lines() {
        match line.strip_prefix("$ ") {
            Some(command) => sessions.push((as_run(command), Vec::new())),
            None => sessions.last_mut().unwrap().1.push(line.to_string()),
        }
    }
    let duration = regex::Regex::new(r"\(\d+(ms|s)\)").unwrap();
    for (command, expected) in sessions {
        let out = world.sh(&command);
        assert_eq!(out.status.code(), Some(0), "{place}: `{command}`: {out:?}");
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        let normal = |l: &str| duration.replace_all(l, "(T)").to_string();
        let shown: Vec<String> = shown.lines().map(normal).collect();
        let mut at = 0;
        let mut skipping = false;
        for want in expected.iter().map(|l| normal(l)) {
            if want == "..." {
                skipping = true;
                continue;
            }
            let found = shown[at..].iter().position(|l| *l == want);
            match found {
                Some(0) => at += 1,
                Some(k) if skipping => at += k + 1,
                _ => panic!(
                    "{place}: `{command}` does not show `{want}` where the docs do:\n{}",
                    shown.join("\n")
                ),
            }
            skipping = false;
        }
    }
}

#[test]
fn the_readme_and_docs_blocks_marked_tested_run_as_shown() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut world = World::new();
    let mut ran = 0;
    for file in &files {
        let name = file.strip_prefix(root).unwrap().display().to_string();
        let blocks = tested_blocks(file);
        if name == "README.md" {
            assert!(blocks.len() >= 3, "the README's commands are marked tested");
        }
        for (lang, line, body) in blocks {
            let place = format!("{name}:{line}");
            match lang.as_str() {
                "sh" => {
                    for command in body
                        .lines()
                        .map(as_run)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    {
                        let kind = kind_of(&command);
                        before(&world, &command);
                        world.check(&command, &kind);
                        if kind != Kind::Skip {
                            ran += 1;
                        }
                    }
                }
                "toml" => {
                    // A config as shown loads: its sessions start (or fail to, for want of a
                    // sandbox), and it is never refused as invalid (exit 2).
                    std::fs::write(world.dir().join("block.toml"), &body).unwrap();
                    std::fs::write(world.dir().join("noop.smx"), "sleep 1ms\n").unwrap();
                    let out = world.sh("sandmux run noop.smx --config block.toml");
                    assert_ne!(
                        out.status.code(),
                        Some(2),
                        "{place}: the config is refused: {out:?}"
                    );
                    ran += 1;
                }
                "console" => {
                    check_console(&mut world, &place, &body);
                    ran += 1;
                }
                other => panic!("{place}: a `{other}` block cannot be tested"),
            }
        }
    }
    assert!(ran >= 10, "only {ran} blocks and commands ran");
}

/// The anchor GitHub gives a heading: lower case, spaces as `-`, most punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_link_of_the_readme_and_docs_leads_somewhere() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let link = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let mut files = vec![root.join("README.md"), root.join("bench/README.md")];
    files.extend(
        std::fs::read_dir(root.join("docs"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for caps in link.captures_iter(&text) {
            let target = &caps[1];
            if target.starts_with("http") {
                continue;
            }
            let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
            let dest = match path {
                "" => file.clone(),
                path => file.parent().unwrap().join(path),
            };
            assert!(
                dest.exists(),
                "{}: `{target}` leads nowhere",
                file.display()
            );
            if !fragment.is_empty() {
                let headings = std::fs::read_to_string(&dest).unwrap();
                let found = headings
                    .lines()
                    .filter_map(|l| {
                        l.trim_start_matches('#')
                            .strip_prefix(' ')
                            .filter(|_| l.starts_with('#'))
                    })
                    .any(|h| anchor(h) == fragment);
                assert!(found, "{}: no heading for `{target}`", file.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} links");
}
