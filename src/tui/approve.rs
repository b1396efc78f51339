//! Answering an agent's permission request where the user is: while the focused session
//! waits for an approval and its editor is empty, `y` allows once, `a` allows the tool for
//! the rest of the session, `n` denies, and `m` asks for a message to deny with (typed in
//! the editor, Enter sends it, Esc gives up).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::App;
use super::attention::Attention;
use crate::engine::{Command, Engine, Pick};
use crate::text::printable;

impl App {
    /// Marks every unfocused pane whose agent waits for a permission answer (also one the
    /// user moved away from with the request still open).
    pub fn notice_approvals(&mut self, engine: &Engine) {
        for index in 0..self.panes.len() {
            let waiting = engine
                .session(self.panes[index].session)
                .is_some_and(|s| !s.agent.pending().is_empty());
            if waiting && self.panes[index].attention.is_none() {
                self.raise(index, Attention::AwaitingApproval);
            }
        }
    }

    /// Handles a key meant for the focused session's oldest pending approval; false when
    /// the key is not one (it goes on to the editor and the bindings).
    pub(super) fn on_approval_key(&mut self, key: KeyEvent, engine: &mut Engine) -> bool {
        let Some(pane) = self.panes.get(self.focus) else {
            return false;
        };
        let id = pane.session;
        let Some(approval) = engine
            .session(id)
            .and_then(|s| s.agent.pending().first())
            .cloned()
        else {
            if let Some(pane) = self.focused() {
                pane.set_deny_prompt(false);
            }
            return false;
        };
        let pick = Pick {
            request_id: Some(approval.request_id.clone()),
            tool: Some(approval.tool.clone()),
            input: None,
        };
        let tool = printable(approval.tool.as_bytes());
        if self.panes[self.focus].deny_prompt {
            match key.code {
                KeyCode::Enter => {
                    let message = self.panes[self.focus].take_line();
                    self.panes[self.focus].set_deny_prompt(false);
                    self.command(
                        engine,
                        Command::Deny {
                            session: id,
                            pick,
                            message: Some(message),
                        },
                    );
                    self.set_status(format!("{tool}: denied"));
                    return true;
                }
                KeyCode::Esc => {
                    self.panes[self.focus].set_deny_prompt(false);
                    self.set_status("not denied: the request still waits");
                    return true;
                }
                _ => return false,
            }
        }
        let plain = (key.modifiers - KeyModifiers::SHIFT).is_empty();
        if !plain || !self.panes[self.focus].line().is_empty() {
            return false;
        }
        let KeyCode::Char(c) = key.code else {
            return false;
        };
        let (command, said) = match c.to_ascii_lowercase() {
            'y' => (
                Command::Approve {
                    session: id,
                    pick,
                    always: false,
                },
                format!("{tool}: allowed once"),
            ),
            'a' => (
                Command::Approve {
                    session: id,
                    pick,
                    always: true,
                },
                format!("{tool}: allowed for the rest of the session"),
            ),
            'n' => (
                Command::Deny {
                    session: id,
                    pick,
                    message: None,
                },
                format!("{tool}: denied"),
            ),
            'm' => {
                self.panes[self.focus].set_deny_prompt(true);
                self.set_status("why deny? type it, Enter denies, Esc goes back");
                return true;
            }
            _ => return false,
        };
        self.command(engine, command);
        self.set_status(said);
        true
    }
}
