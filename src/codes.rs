//! Every diagnostic code `runbook` prints beside an error (`runbook::check::cycle`), in one
//! table with what it reports. Scripts may match on these codes, so they are documented: the
//! README's "Error codes" table equals this one, and every code the source uses is listed
//! here (tests/codes.rs checks both).

/// `(code, what it reports)`, grouped by the stage that reports it.
pub const CODES: &[(&str, &str)] = &[
    (
        "runbook::usage::args",
        "a command line clap refuses, under `--format json`",
    ),
    (
        "runbook::usage::schema",
        "`schema` asked for an unknown schema",
    ),
    (
        "runbook::config::io",
        "the working directory cannot be read",
    ),
    (
        "runbook::config::missing",
        "the `--config` file does not exist",
    ),
    (
        "runbook::load::io",
        "a runbook, config or directory cannot be read",
    ),
    (
        "runbook::load::dangling_link",
        "a runbook path that is a symbolic link to nothing",
    ),
    ("runbook::load::empty", "an empty file"),
    ("runbook::load::too_large", "a file over 1 MiB"),
    (
        "runbook::load::limit",
        "too many aliases, nesting too deep, several documents",
    ),
    ("runbook::load::not_utf8", "a file that is not UTF-8"),
    ("runbook::load::yaml", "YAML syntax"),
    (
        "runbook::load::unknown_key",
        "an unknown key (with \"did you mean\")",
    ),
    ("runbook::load::missing_key", "a required key is missing"),
    ("runbook::load::wrong_type", "a value of the wrong type"),
    ("runbook::load::duplicate_key", "a key given twice"),
    (
        "runbook::check::name",
        "a runbook name that is not `[a-z0-9-]+`",
    ),
    ("runbook::check::no_steps", "a runbook without steps"),
    (
        "runbook::check::step_id",
        "a step id that is not `[a-z0-9-]+`",
    ),
    ("runbook::check::duplicate_id", "two steps with one id"),
    ("runbook::check::no_kind", "a step with no kind"),
    (
        "runbook::check::two_kinds",
        "a step with more than one kind",
    ),
    ("runbook::check::backoff", "a `backoff` of 0"),
    (
        "runbook::check::generate",
        "a `generate` body that is incomplete or out of range",
    ),
    (
        "runbook::check::verify",
        "a `verify` without exactly one check",
    ),
    ("runbook::check::env", "an `env` edit that changes nothing"),
    (
        "runbook::check::file_mode",
        "a file `mode` that is not octal permission bits",
    ),
    ("runbook::check::restart", "a `restart` naming no service"),
    (
        "runbook::check::rotate",
        "a `rotate` step inside a rotation runbook",
    ),
    (
        "runbook::check::rollback",
        "a `rollback` without exactly one body",
    ),
    (
        "runbook::check::resume_hint",
        "`idempotent` or `check` on a step that is not `exec`",
    ),
    (
        "runbook::check::phase",
        "`phase: retire` without an `overlap`, an `overlap` with nothing to retire, or an activate step needing a retire step",
    ),
    (
        "runbook::check::public",
        "`public` naming a variable the secret does not own",
    ),
    (
        "runbook::check::secret_env",
        "a secret that owns no variable",
    ),
    (
        "runbook::check::unknown_needs",
        "`needs` naming an unknown step",
    ),
    (
        "runbook::check::cycle",
        "steps that need each other, with the full path",
    ),
    (
        "runbook::check::template_syntax",
        "a template that does not parse",
    ),
    (
        "runbook::check::undefined",
        "a template reading an undefined name, or a step output before the step runs",
    ),
    (
        "runbook::check::unknown_filter",
        "a template using a filter or test that does not exist",
    ),
    (
        "runbook::check::value",
        "a value that cannot work: an HTTP status, URL, port, zero timeout, empty command, env key or input name",
    ),
    (
        "runbook::check::secret_in_argv",
        "a secret that would appear on a command line",
    ),
    (
        "runbook::check::var_template",
        "a var whose template does not render",
    ),
    (
        "runbook::check::duplicate_runbook",
        "two runbooks with one name",
    ),
    (
        "runbook::check::duplicate_secret",
        "two runbooks owning one secret id or env name",
    ),
    (
        "runbook::check::unknown_secret",
        "`implies`, `conflicts` or `rotate` naming an unknown secret",
    ),
    (
        "runbook::check::on",
        "`on:` naming no host or group of the inventory",
    ),
    (
        "runbook::check::serial",
        "a `serial` or `max_fail` that is not a number of hosts or a percentage, a `serial` of no host, or either without `on:`",
    ),
    (
        "runbook::inventory::group",
        "a group listing a host or child group that nothing defines",
    ),
    (
        "runbook::inventory::host",
        "a host whose connection variables cannot work (a port that is not a number, an unclosed quote)",
    ),
    (
        "runbook::inventory::limit",
        "a `--limit` that selects no host",
    ),
    (
        "runbook::inventory::password",
        "a host or group setting a password variable (`ansible_password`, `ansible_ssh_pass`, `ansible_become_password`, ...): runbook logs in with keys only; the value is never shown",
    ),
    (
        "runbook::plan::request",
        "an unknown runbook, or a `--secret` the runbook cannot take",
    ),
    (
        "runbook::plan::unknown_secret",
        "a `--secret` no runbook owns (the valid ids listed)",
    ),
    (
        "runbook::plan::conflict",
        "two conflicting secrets in one run",
    ),
    (
        "runbook::plan::cycle",
        "steps of several runbooks that would need each other",
    ),
    (
        "runbook::run::preflight",
        "an input, env file, key or file owner a run needs and lacks",
    ),
    (
        "runbook::retire::not_pending",
        "`retire` for a secret that no run is waiting to retire",
    ),
    (
        "runbook::retire::not_due",
        "`retire` before the overlap has passed, without `--now`",
    ),
    (
        "runbook::state::io",
        "the state directory, lock or journal cannot be written",
    ),
    (
        "runbook::recover::state",
        "a run that cannot be resumed or aborted as asked",
    ),
];

/// What the documented exit codes mean, in the README's words.
pub const EXIT_CODES: &[(u8, &str)] = &[
    (crate::exit::DONE, "done"),
    (
        crate::exit::FAILED,
        "a step failed and everything was rolled back (the system is as before)",
    ),
    (
        crate::exit::INVALID,
        "invalid input or usage; nothing was done",
    ),
    (
        crate::exit::NEEDS_OPERATOR,
        "the run needs an operator (rollback incomplete, incident paused, manual step awaiting)",
    ),
    (
        crate::exit::LOCKED,
        "another run holds the lock, or an unfinished run or a pending retire must finish first",
    ),
    (
        crate::exit::INTERRUPTED,
        "interrupted (state journaled, resumable)",
    ),
];
