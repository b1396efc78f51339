//! The catalog rows that make the SDK see a running sandbox: a `sandbox` row with status
//! Running and the configuration the SDK itself builds for the image, and a `run` row owned
//! by this process's pid (the SDK checks that pid is alive).

use std::path::Path;
use std::time::Duration;

use microsandbox_db::DbWriteConnection;
use microsandbox_db::entity::run::{self, RunStatus, TerminationReason};
use microsandbox_db::entity::sandbox::{self, SandboxStatus};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::{Home, Result};

/// The rows this runtime owns.
pub struct Catalog {
    db: DbWriteConnection,
    sandbox_id: i32,
    run_id: i32,
}

impl Catalog {
    /// Creates the sandbox `name` (built from `rootfs` by the SDK's own builder) as Running,
    /// with a run owned by this process.
    pub async fn mark_running(home: &Home, name: &str, rootfs: &Path) -> Result<Catalog> {
        // Let the SDK create and migrate the catalog, exactly as it would for a real sandbox.
        microsandbox::Sandbox::list()
            .await
            .map_err(|e| format!("open the microsandbox catalog: {e}"))?;
        let config = microsandbox::Sandbox::builder(name)
            .image(rootfs.display().to_string().as_str())
            .build()
            .await
            .map_err(|e| format!("sandbox config for {name}: {e}"))?;
        let config = serde_json::to_string(&config).map_err(|e| e.to_string())?;

        let db =
            DbWriteConnection::open(&home.db(), Duration::from_secs(10), Duration::from_secs(10))
                .await
                .map_err(|e| format!("open {}: {e}", home.db().display()))?;
        let existing = sandbox::Entity::find()
            .filter(sandbox::Column::Name.eq(name))
            .one(db.inner())
            .await
            .map_err(|e| e.to_string())?;
        if existing.is_some() {
            return Err(format!(
                "a sandbox named {name} already exists in this home"
            ));
        }
        let now = chrono::Utc::now().naive_utc();
        let row = sandbox::ActiveModel {
            name: Set(name.to_string()),
            config: Set(config),
            status: Set(SandboxStatus::Running),
            ephemeral: Set(false),
            created_at: Set(Some(now)),
            updated_at: Set(Some(now)),
            ..Default::default()
        }
        .insert(db.inner())
        .await
        .map_err(|e| format!("insert the sandbox row: {e}"))?;
        let run = run::ActiveModel {
            sandbox_id: Set(row.id),
            pid: Set(Some(std::process::id() as i32)),
            status: Set(RunStatus::Running),
            started_at: Set(Some(now)),
            ..Default::default()
        }
        .insert(db.inner())
        .await
        .map_err(|e| format!("insert the run row: {e}"))?;
        Ok(Catalog {
            db,
            sandbox_id: row.id,
            run_id: run.id,
        })
    }

    /// Marks the run terminated and the sandbox stopped (best effort).
    pub async fn mark_stopped(&self) {
        let now = chrono::Utc::now().naive_utc();
        let run = run::ActiveModel {
            id: Set(self.run_id),
            status: Set(RunStatus::Terminated),
            termination_reason: Set(Some(TerminationReason::ShutdownRequested)),
            terminated_at: Set(Some(now)),
            ..Default::default()
        };
        if let Err(err) = run.update(self.db.inner()).await {
            eprintln!("msb_test_runtime: mark the run terminated: {err}");
        }
        let sandbox = sandbox::ActiveModel {
            id: Set(self.sandbox_id),
            status: Set(SandboxStatus::Stopped),
            updated_at: Set(Some(now)),
            ..Default::default()
        };
        if let Err(err) = sandbox.update(self.db.inner()).await {
            eprintln!("msb_test_runtime: mark the sandbox stopped: {err}");
        }
    }
}
