//! Who runs `runbook`: the name the journal, the audit log and the reports record.

/// Who ran this: the invoking user behind sudo when there is one.
pub(crate) fn operator() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| user_name(rustix::process::getuid().as_raw()))
}

/// The account name of a uid from /etc/passwd, for runs started without `USER` (cron,
/// systemd, containers).
fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}
