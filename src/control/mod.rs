//! The control socket: other programs drive and watch a running sandmux (the TUI,
//! `sandmux run`, `sandmux serve`) over a Unix socket speaking newline-delimited JSON
//! (docs/control-protocol.md). `sandmux ctl` is its command-line client.
//!
//! The socket is private to its user: it lives in a directory only the user can enter
//! (0700), the socket itself is 0600, and connections from another uid are refused (peer
//! credentials).

pub mod client;
mod ops;
pub mod protocol;
pub mod server;
mod wait;

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The directory of this user's sockets: `$XDG_RUNTIME_DIR/sandmux`, or a private
/// `sandmux-<uid>` in the temporary directory.
pub fn socket_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("sandmux"),
        None => std::env::temp_dir().join(format!("sandmux-{}", euid())),
    }
}

/// The default socket of this process: `<socket_dir>/<pid>.sock`.
pub fn default_socket() -> PathBuf {
    socket_dir().join(format!("{}.sock", std::process::id()))
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Makes sure `dir` exists, belongs to this user and is closed to everyone else (0700).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    if meta.uid() != euid() {
        return Err(io::Error::other(format!(
            "{} belongs to another user (uid {})",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Whether `dir` (an existing socket directory) can be trusted: a real directory of this
/// user that no one else may write to. One sentence saying why not otherwise. A directory
/// that does not exist holds no socket, and is fine.
pub fn trusted_dir(dir: &Path) -> Result<(), String> {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Err(format!(
            "{} is not a directory: not looking for sockets in it",
            dir.display()
        ));
    }
    if meta.uid() != euid() {
        return Err(format!(
            "{} belongs to another user (uid {}): not trusting its sockets (pass --socket, or set XDG_RUNTIME_DIR)",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} can be written by other users (mode {:o}): not trusting its sockets",
            dir.display(),
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

/// The live sandmux sockets in `dir` (those that accept a connection), oldest first.
pub fn live_sockets(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .filter(|p| std::os::unix::net::UnixStream::connect(p).is_ok())
        .map(|p| {
            let time = std::fs::metadata(&p)
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (time, p)
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_directory_is_made_private() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("s");
        private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let file = base.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(private_dir(&file).is_err());
    }
}
