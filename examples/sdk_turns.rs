//! The floor of the sandbox path, for `bench/run.sh sandbox`: N send/expect turns against an
//! echo bot in a sandbox, driven by a minimal client of the microsandbox SDK (one streaming
//! exec, its stdin sink, its event stream), with nothing of sandmux in between.
//!
//! ```text
//! MSB_HOME=... sdk_turns SANDBOX N
//! ```

use std::time::Instant;

use microsandbox::{ExecEvent, Sandbox};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(name), Some(n)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: sdk_turns SANDBOX N");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(err) = runtime.block_on(turns(name, n)) {
        eprintln!("sdk_turns: {err}");
        std::process::exit(1);
    }
}

async fn turns(name: &str, n: usize) -> Result<(), String> {
    let sandbox = Sandbox::get(name)
        .await
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut handle = sandbox
        .exec_stream_with("sh", |o| {
            o.args(["-c", "while read -r l; do echo ack:$l; done"])
                .stdin_pipe()
        })
        .await
        .map_err(|e| e.to_string())?;
    let stdin = handle.take_stdin().ok_or("no stdin")?;
    let started = Instant::now();
    let mut pending = Vec::new();
    for i in 0..n {
        stdin
            .write(format!("turn{i}\n").into_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let want = format!("ack:turn{i}\n");
        loop {
            if let Some(at) = memchr::memmem::find(&pending, want.as_bytes()) {
                pending.drain(..at + want.len());
                break;
            }
            match handle.recv().await {
                Some(ExecEvent::Stdout(bytes)) => pending.extend_from_slice(&bytes),
                Some(ExecEvent::Exited { code }) => return Err(format!("exited {code}")),
                Some(_) => {}
                None => return Err("the exec stream ended".into()),
            }
        }
    }
    let elapsed = started.elapsed();
    stdin.close().await.map_err(|e| e.to_string())?;
    while let Some(event) = handle.recv().await {
        if matches!(event, ExecEvent::Exited { .. } | ExecEvent::Failed(_)) {
            break;
        }
    }
    eprintln!(
        "{n} turns in {:.1} ms ({:.1} µs a turn)",
        elapsed.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1e6 / n as f64
    );
    Ok(())
}
