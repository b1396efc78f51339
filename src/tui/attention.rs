//! What needs you: a session that is not focused gets an attention mark when it starts
//! awaiting input, fails, or exits non-zero, and sandmux can ring the terminal bell and send
//! a desktop notification for it (both opt-in).
//!
//! The bell and the notification are sandmux's own bytes, built here from plain text: a
//! session name (`[A-Za-z0-9_.-]`) and one of a few fixed phrases. No byte of session output
//! is ever part of them, and [`safe`] keeps even those texts to characters that cannot end or
//! start an escape sequence.

use crate::engine::ExitStatus;

/// Why a session needs you.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attention {
    /// It started awaiting input (a prompt showed, or a stream-json turn ended).
    AwaitingInput,
    /// An agent asks permission to use a tool.
    AwaitingApproval,
    /// It could not start, or broke off.
    Failed,
    /// It exited with a status other than 0.
    Exited(ExitStatus),
}

impl Attention {
    /// What happened, as the status line and notifications say it.
    pub fn describe(&self) -> String {
        match self {
            Attention::AwaitingInput => "awaiting input".to_string(),
            Attention::AwaitingApproval => "awaiting approval".to_string(),
            Attention::Failed => "failed".to_string(),
            Attention::Exited(status) => status.to_string(),
        }
    }

    /// Failures are red, a prompt is yellow.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Attention::AwaitingInput | Attention::AwaitingApproval)
    }
}

/// Which desktop-notification escape the terminal understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyStyle {
    /// `OSC 777 ; notify ; TITLE ; BODY` (rxvt-unicode, foot, Ghostty, VTE terminals).
    Osc777,
    /// `OSC 9 ; BODY` (iTerm2, WezTerm, kitty, Windows Terminal).
    Osc9,
}

impl NotifyStyle {
    /// The style the terminal in the environment understands: OSC 9 where the terminal is
    /// known to want it, OSC 777 otherwise. One style only, so no terminal shows two.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> NotifyStyle {
        let program = var("TERM_PROGRAM").unwrap_or_default();
        let term = var("TERM").unwrap_or_default();
        if matches!(program.as_str(), "iTerm.app" | "WezTerm")
            || term.contains("kitty")
            || var("WT_SESSION").is_some()
        {
            NotifyStyle::Osc9
        } else {
            NotifyStyle::Osc777
        }
    }
}

/// The opt-in alerts of the `[settings]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alerts {
    pub bell: bool,
    /// A desktop notification, in this style; `None` when off.
    pub notify: Option<NotifyStyle>,
}

impl Alerts {
    pub const OFF: Alerts = Alerts {
        bell: false,
        notify: None,
    };

    /// The bytes to write to the terminal when session `name` needs attention for `what`:
    /// BEL and/or one notification escape; empty when both are off.
    pub fn bytes(&self, name: &str, what: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if self.bell {
            out.push(0x07);
        }
        let (name, what) = (safe(name), safe(what));
        match self.notify {
            Some(NotifyStyle::Osc777) => {
                out.extend_from_slice(
                    format!("\x1b]777;notify;sandmux: {name};{name} {what}\x1b\\").as_bytes(),
                );
            }
            Some(NotifyStyle::Osc9) => {
                out.extend_from_slice(format!("\x1b]9;sandmux: {name} {what}\x1b\\").as_bytes());
            }
            None => {}
        }
        out
    }
}

/// Longest text that goes into a notification.
const MAX_TEXT: usize = 80;

/// `text` with every character that is not a letter, digit, space or one of `_.-()` made a
/// `?`: no control character, no `;` (the field separator) and no `\` can reach the
/// terminal inside a notification.
pub fn safe(text: &str) -> String {
    text.chars()
        .take(MAX_TEXT)
        .map(|c| {
            if c.is_ascii_alphanumeric() || " _.-()".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn nothing_is_written_unless_opted_in() {
        assert!(Alerts::OFF.bytes("agent-1", "awaiting input").is_empty());
    }

    #[test]
    fn the_bell_is_one_bel_of_sandmux_s_own() {
        let bell = Alerts {
            bell: true,
            notify: None,
        };
        assert_eq!(bell.bytes("agent-1", "failed"), b"\x07");
    }

    #[test]
    fn notifications_carry_the_name_and_what_happened() {
        let osc777 = Alerts {
            bell: false,
            notify: Some(NotifyStyle::Osc777),
        };
        assert_eq!(
            osc777.bytes("agent-1", "exited 3"),
            b"\x1b]777;notify;sandmux: agent-1;agent-1 exited 3\x1b\\"
        );
        let osc9 = Alerts {
            bell: true,
            notify: Some(NotifyStyle::Osc9),
        };
        assert_eq!(
            osc9.bytes("agent-1", "awaiting input"),
            b"\x07\x1b]9;sandmux: agent-1 awaiting input\x1b\\"
        );
    }

    #[test]
    fn no_text_can_break_out_of_a_notification() {
        let alerts = Alerts {
            bell: false,
            notify: Some(NotifyStyle::Osc777),
        };
        let bytes = alerts.bytes("a\x1b]0;owned\x07;b\\", "x\u{9b}31m\r\n;y");
        let framing = b"\x1b]777;notify;".len();
        let body = &bytes[framing..bytes.len() - 2];
        assert!(
            !body
                .iter()
                .any(|b| b.is_ascii_control() || *b >= 0x80 || *b == b'\\'),
            "{body:?}"
        );
        assert_eq!(body.iter().filter(|b| **b == b';').count(), 1);
        assert_eq!(safe(&"x".repeat(500)).len(), MAX_TEXT);
    }

    #[test]
    fn the_style_follows_the_terminal() {
        assert_eq!(NotifyStyle::from_env(env(&[])), NotifyStyle::Osc777);
        assert_eq!(
            NotifyStyle::from_env(env(&[("TERM_PROGRAM", "iTerm.app")])),
            NotifyStyle::Osc9
        );
        assert_eq!(
            NotifyStyle::from_env(env(&[("TERM", "xterm-kitty")])),
            NotifyStyle::Osc9
        );
        assert_eq!(
            NotifyStyle::from_env(env(&[("TERM", "foot")])),
            NotifyStyle::Osc777
        );
    }
}
