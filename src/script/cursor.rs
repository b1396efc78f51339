//! A position in one line of a script, and the small readers the step parser is made of:
//! words, quoted strings, `/regex/` literals, errors at a column.

use std::fmt;

/// A parse error at a position of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

/// A position in one line of the script.
pub struct Cursor<'a> {
    pub line: &'a str,
    pub line_no: usize,
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(line: &'a str, line_no: usize) -> Self {
        Cursor {
            line,
            line_no,
            pos: 0,
        }
    }

    pub fn col(&self) -> usize {
        self.line[..self.pos].chars().count() + 1
    }

    pub fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.col(), message)
    }

    pub fn error_at(&self, col: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line_no,
            col,
            message: message.into(),
        }
    }

    pub fn peek(&self) -> Option<char> {
        self.line[self.pos..].chars().next()
    }

    pub fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.line.len()
    }

    /// At the end of the line or at a trailing `# comment`.
    pub fn at_step_end(&self) -> bool {
        self.at_end() || self.peek() == Some('#')
    }

    pub fn end_of_step(&mut self) -> Result<(), ParseError> {
        self.skip_ws();
        if self.at_step_end() {
            Ok(())
        } else {
            let extra = self.rest().trim_end().to_string();
            Err(self.error(format!("unexpected `{extra}` at the end of the step")))
        }
    }

    pub fn skip_ws(&mut self) {
        self.take_while(char::is_whitespace);
    }

    pub fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !keep(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.line[start..self.pos]
    }

    pub fn word(&mut self) -> &'a str {
        self.take_while(|c| !c.is_whitespace())
    }

    pub fn rest(&mut self) -> &'a str {
        let rest = &self.line[self.pos..];
        self.pos = self.line.len();
        rest
    }

    /// A double-quoted string with escapes `\n \t \r \0 \e \\ \" \xNN`.
    pub fn quoted(&mut self) -> Result<Vec<u8>, ParseError> {
        let start = self.pos;
        match crate::text::unquote(&self.line[start..]) {
            Ok((bytes, used)) => {
                self.pos += used;
                Ok(bytes)
            }
            Err((at, why)) => {
                self.pos = start + at;
                Err(self.error(why))
            }
        }
    }

    /// A `/regex/`: `\/` stands for a slash, every other escape is the regex's own.
    pub fn regex_literal(&mut self) -> Result<String, ParseError> {
        let open_col = self.col();
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error_at(open_col, "unclosed regex: add the closing `/`")),
                Some('/') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('/') => out.push('/'),
                    Some(c) => {
                        out.push('\\');
                        out.push(c);
                    }
                    None => {
                        return Err(self.error_at(open_col, "unclosed regex: add the closing `/`"));
                    }
                },
                Some(c) => out.push(c),
            }
        }
    }
}
