//! The state directory (`.runbook/`, mode 0700): run records, keys, and the lock.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Creates the state directory with mode 0700 (it holds pending secrets and backups).
pub fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))
}
