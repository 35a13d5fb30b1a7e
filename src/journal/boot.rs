//! Which boot of the machine this is. A line the journal wrote without an fsync is in the
//! page cache once `write` returns: a killed process leaves it in the file, a machine that
//! stops (power cut, kernel panic) may not. Records of one boot read back in the same boot
//! are therefore all there; read back after a reboot, the unsynced ones may be missing.

use std::sync::OnceLock;

/// The kernel's random id of the current boot (`/proc/sys/kernel/random/boot_id`), or `None`
/// where it cannot be read: then no boot counts as this one, which is the cautious answer.
pub(crate) fn boot_id() -> Option<&'static str> {
    static BOOT: OnceLock<Option<String>> = OnceLock::new();
    BOOT.get_or_init(|| {
        let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let id = id.trim();
        (!id.is_empty()).then(|| id.to_string())
    })
    .as_deref()
}
