//! One sentence, with a remedy, for every way a sandbox session can fail to start or break.

use microsandbox::MicrosandboxError;
use microsandbox::protocol::exec::{ExecFailed, ExecFailureKind};

use super::SDK_VERSION;

/// One sentence for an exec that could not start.
pub fn describe_exec_failure(
    failed: &ExecFailed,
    program: &str,
    cwd: Option<&str>,
    user: Option<&str>,
) -> String {
    let detail = if failed.message.is_empty() {
        String::new()
    } else {
        format!(" ({})", failed.message)
    };
    match failed.kind {
        ExecFailureKind::NotFound => format!("command not found in the sandbox: {program}"),
        ExecFailureKind::PermissionDenied => {
            format!("cannot run {program} in the sandbox: permission denied{detail}")
        }
        ExecFailureKind::NotExecutable => {
            format!("cannot run {program} in the sandbox: not an executable{detail}")
        }
        ExecFailureKind::BadCwd => format!(
            "working directory {} does not exist in the sandbox{detail}",
            cwd.unwrap_or("(default)")
        ),
        ExecFailureKind::ResourceLimit => format!(
            "the sandbox refused another exec{detail}: at most 128 execs run at once in one sandbox; stop some sessions or use a second sandbox"
        ),
        ExecFailureKind::UserSetupFailed => format!(
            "cannot run as user {} in the sandbox{detail}",
            user.unwrap_or("(default)")
        ),
        ExecFailureKind::OutOfMemory => {
            format!(
                "the sandbox ran out of memory starting {program}{detail}: give it more `memory`"
            )
        }
        ExecFailureKind::BadArgs | ExecFailureKind::PtySetupFailed | ExecFailureKind::Other => {
            format!("cannot run {program} in the sandbox: {}", failed.message)
        }
    }
}

/// One sentence, with a remedy, for an SDK error about sandbox `name`.
pub fn describe_error(err: &MicrosandboxError, name: &str) -> String {
    match err {
        MicrosandboxError::RuntimeNotInstalled(_) => format!(
            "the microsandbox runtime is not installed (no msb found through MSB_PATH, MSB_HOME or ~/.microsandbox): install it with `pip install microsandbox=={SDK_VERSION}` and run `sandmux doctor`"
        ),
        MicrosandboxError::RuntimeIncomplete(detail)
        | MicrosandboxError::LibkrunfwNotFound(detail) => format!(
            "the microsandbox runtime is incomplete ({detail}): reinstall it (`pip install microsandbox=={SDK_VERSION}`) and run `sandmux doctor`"
        ),
        MicrosandboxError::Runtime(detail)
            if detail.contains("before agent relay became available") =>
        {
            could_not_boot(name, detail)
        }
        MicrosandboxError::Runtime(detail)
            if detail.contains("launch contract") || detail.contains("upgrade required") =>
        {
            format!(
                "the installed microsandbox runtime does not match this sandmux (built for {SDK_VERSION}): {detail}; install `pip install microsandbox=={SDK_VERSION}` and run `sandmux doctor`"
            )
        }
        MicrosandboxError::BootStart { name, err }
            if err.message.contains("before agent relay") =>
        {
            could_not_boot(name, &err.message)
        }
        MicrosandboxError::BootStart { name, err } => format!(
            "sandbox `{name}` failed to boot: {}; see `msb logs --source system {name}` and run `sandmux doctor`",
            err.message
        ),
        MicrosandboxError::SandboxNotFound(_) => format!(
            "sandbox `{name}` does not exist: create it (`msb create`), or give the session an `image` so sandmux creates it"
        ),
        MicrosandboxError::SandboxNotRunning(detail) => {
            format!("sandbox {detail}: start it with `msb start {name}`")
        }
        MicrosandboxError::ExecTimeout(after) => format!("the exec timed out after {after:?}"),
        MicrosandboxError::AgentClient(detail) => format!(
            "cannot talk to the agent in sandbox `{name}`: {detail}; see `msb logs --source system {name}`"
        ),
        MicrosandboxError::CloudHttp {
            status, message, ..
        } => format!(
            "the microsandbox cloud answered HTTP {status}: {message} (check MSB_API_KEY and MSB_API_URL)"
        ),
        MicrosandboxError::InvalidConfig(detail) => {
            format!("invalid sandbox configuration for `{name}`: {detail}")
        }
        MicrosandboxError::ImageNotFound(image) => {
            format!("image {image} not found for sandbox `{name}`")
        }
        other => format!("sandbox `{name}`: {other}"),
    }
}

/// A VM that exited before its agent came up: almost always no usable KVM.
fn could_not_boot(name: &str, detail: &str) -> String {
    format!(
        "sandbox `{name}` could not boot: its VM exited before the agent came up ({detail}); this machine may not run VMs (no usable KVM?): run `sandmux doctor`, and see `msb logs --source system {name}`"
    )
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn failed(kind: ExecFailureKind, message: &str) -> ExecFailed {
        ExecFailed {
            kind,
            errno: None,
            errno_name: None,
            message: message.into(),
            stage: None,
        }
    }

    #[test]
    fn exec_failures_are_one_sentence_each() {
        let f = |kind| {
            describe_exec_failure(
                &failed(kind, "detail"),
                "nosuch",
                Some("/work"),
                Some("bob"),
            )
        };
        assert_eq!(
            f(ExecFailureKind::NotFound),
            "command not found in the sandbox: nosuch"
        );
        assert!(f(ExecFailureKind::BadCwd).starts_with("working directory /work does not exist"));
        assert!(f(ExecFailureKind::ResourceLimit).contains("at most 128 execs"));
        assert!(f(ExecFailureKind::UserSetupFailed).contains("user bob"));
        assert!(f(ExecFailureKind::PermissionDenied).contains("permission denied"));
        assert!(f(ExecFailureKind::OutOfMemory).contains("memory"));
        assert!(f(ExecFailureKind::Other).contains("detail"));
    }

    #[test]
    fn sdk_errors_come_with_a_remedy() {
        let e = describe_error(&MicrosandboxError::RuntimeNotInstalled("x".into()), "dev");
        assert!(
            e.starts_with("the microsandbox runtime is not installed"),
            "{e}"
        );
        assert!(e.contains("pip install microsandbox==0.7.11"), "{e}");
        let e = describe_error(
            &MicrosandboxError::Runtime(
                "sandbox process exited (exit status: 1) before agent relay became available"
                    .into(),
            ),
            "dev",
        );
        assert!(e.starts_with("sandbox `dev` could not boot"), "{e}");
        assert!(e.contains("msb logs --source system dev"), "{e}");
        let e = describe_error(
            &MicrosandboxError::Runtime(
                "no tested sandbox launch contract for runtime 0.6.1".into(),
            ),
            "dev",
        );
        assert!(e.contains("does not match this sandmux"), "{e}");
        let e = describe_error(&MicrosandboxError::SandboxNotFound("dev".into()), "dev");
        assert!(e.contains("give the session an `image`"), "{e}");
        let e = describe_error(
            &MicrosandboxError::CloudHttp {
                status: 401,
                code: None,
                message: "bad key".into(),
            },
            "dev",
        );
        assert!(e.contains("HTTP 401") && e.contains("MSB_API_KEY"), "{e}");
    }
}
