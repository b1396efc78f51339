//! A session spec written back as a script's `session` step, so that a recorded script starts
//! the same program with the same keys.

use crate::engine::{BackendSpec, Permissions, Program, Protocol, SessionSpec};

/// `session NAME [key=value ...]: COMMAND LINE` for `spec` (a comment saying why not when a
/// word of its command holds a control character, which one script line cannot carry).
pub fn session_step(spec: &SessionSpec) -> String {
    if let Program::Argv(argv) = &spec.program
        && argv.iter().any(|w| w.chars().any(char::is_control))
    {
        return format!(
            "# session {}: its command holds a control character, which a script line cannot carry: declare it by hand",
            spec.name
        );
    }
    let mut keys: Vec<String> = Vec::new();
    let mut key = |k: &str, v: &str| keys.push(format!("{k}={}", value(v)));
    if let Some(cwd) = &spec.cwd {
        key("cwd", &cwd.to_string_lossy());
    }
    for (name, v) in &spec.env {
        key(&format!("env.{name}"), v);
    }
    if let BackendSpec::Microsandbox(sandbox) = &spec.backend {
        key("sandbox", &sandbox.sandbox);
        if let Some(image) = &sandbox.image {
            key("image", image);
        }
        if let Some(cpus) = sandbox.cpus {
            key("cpus", &cpus.to_string());
        }
        if let Some(memory) = sandbox.memory_mib {
            key("memory", &format!("{memory}M"));
        }
        if sandbox.keep {
            key("keep", "true");
        }
        if let Some(user) = &sandbox.user {
            key("user", user);
        }
    }
    if spec.protocol != Protocol::Raw {
        key("protocol", spec.protocol.as_str());
    }
    if let Some(view) = spec.view {
        key("view", view.as_str());
    }
    if let Some(prompt) = &spec.prompt {
        key("prompt", prompt);
    }
    if let Some(group) = &spec.group {
        key("group", group);
    }
    if spec.permissions != Permissions::Ask {
        key("permissions", spec.permissions.as_str());
    }
    let command = match &spec.program {
        Program::Argv(argv) => {
            let words: Vec<String> = argv.iter().map(|a| word(a)).collect();
            words.join(" ")
        }
        Program::Shell(line) => {
            key("shell", line);
            String::new()
        }
    };
    let keys = keys.join(" ");
    let head = if keys.is_empty() {
        spec.name.clone()
    } else {
        format!("{} {keys}", spec.name)
    };
    if command.is_empty() {
        format!("session {head}")
    } else {
        format!("session {head}: {command}")
    }
}

/// A key's value: bare when it has no blank, quote, colon or `#`; quoted otherwise.
fn value(v: &str) -> String {
    let plain = !v.is_empty()
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"\\:#".contains(c));
    if plain {
        v.to_string()
    } else {
        crate::text::quote(v.as_bytes())
    }
}

/// One word of the command line: bare when it is plain, else in single quotes as a whole
/// (a `'` in it written `'\''`), as a shell would split it back.
fn word(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if plain {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_declaration;

    #[test]
    fn a_written_step_declares_the_same_session() {
        let specs = [
            "echo: sed -u \"s/^/ack: /\"",
            "py cwd=/tmp env.A=\"x y\" env.B=1: python3 -i -u -q",
            "agent protocol=stream-json view=chat group=agents: sandmux demo-agent --delay-ms 5",
            "p prompt=\"^> $\": sh -c 'printf \"> \"; read x'",
            "sh shell=\"echo hi | tr a-z A-Z\"",
            "box sandbox=dev image=alpine cpus=2 memory=512M keep=true user=root: cat",
            "q: printf '%s\\n' \"it's\" '#x' ''",
        ];
        for text in specs {
            let spec = parse_declaration(text).unwrap().finish(None).unwrap();
            let step = session_step(&spec);
            let again = parse_declaration(step.strip_prefix("session ").unwrap())
                .unwrap_or_else(|e| panic!("{step}: {e:?}"))
                .finish(None)
                .unwrap();
            assert_eq!(again, spec, "{step}");
        }
    }
}
