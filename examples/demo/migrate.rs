//! Owns `demo-migrate`: the demo deployment's re-encryption migration, standing in for the
//! platform's `npx tsx scripts/re-encrypt-secrets.ts` behind the shipped
//! `app-encryption-key-rotation` and `mfa-encryption-key-rotation` runbooks.
//!
//! The data file and its sealing scheme are `sealed.rs`'s, shared with the demo service.
//!
//! Keys come from the environment only, under the names the runbooks pass them in; nothing
//! this program prints ever holds a key or a plaintext.

#[path = "sealed.rs"]
mod sealed;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use sealed::{Key, Line};

const USAGE: &str = "\
usage: demo-migrate --data PATH [--mfa] [--dry-run]   re-encrypt every record from the old key to the new one
       demo-migrate --data PATH [--mfa] --verify      exit 0 iff every record opens under the new key
       demo-migrate --data PATH [--mfa] --init COUNT  create PATH with COUNT random records under the new key

Keys come from the environment only: OLD_ENCRYPTION_KEY (old) and APP_ENCRYPTION_KEY (new), or
with --mfa OLD_MFA_ENCRYPTION_KEY and MFA_ENCRYPTION_KEY (64 hex characters each).
Prints one JSON object; exits 1 when its `errors` is non-empty, 2 on a usage or I/O error.";

/// The environment names the shipped runbooks pass the keys in.
struct KeyNames {
    old: &'static str,
    new: &'static str,
    /// The platform decodes MFA_ENCRYPTION_KEY from hex as a 32-byte AES key, so a
    /// key that the real API would refuse is refused here too.
    hex32: bool,
}

const APP_KEYS: KeyNames = KeyNames {
    old: "OLD_ENCRYPTION_KEY",
    new: "APP_ENCRYPTION_KEY",
    hex32: false,
};
const MFA_KEYS: KeyNames = KeyNames {
    old: "OLD_MFA_ENCRYPTION_KEY",
    new: "MFA_ENCRYPTION_KEY",
    hex32: true,
};

enum Mode {
    Migrate { dry_run: bool },
    Verify,
    Init(usize),
}

struct Args {
    data: PathBuf,
    keys: &'static KeyNames,
    mode: Mode,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("demo-migrate: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(report) => {
            println!("{report}");
            let failed = report["errors"].as_array().is_some_and(|e| !e.is_empty());
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(message) => {
            eprintln!("demo-migrate: {message}");
            ExitCode::from(2)
        }
    }
}

/// Returns `None` for `--help`.
fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let (mut data, mut keys, mut mode) = (None, &APP_KEYS, None);
    let set_mode = |new: Mode, mode: &mut Option<Mode>| match mode.replace(new) {
        None => Ok(()),
        Some(_) => Err("--dry-run, --verify and --init exclude each other".to_owned()),
    };
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--data" => data = Some(PathBuf::from(argv.next().ok_or("--data needs a path")?)),
            "--mfa" => keys = &MFA_KEYS,
            "--dry-run" => set_mode(Mode::Migrate { dry_run: true }, &mut mode)?,
            "--verify" => set_mode(Mode::Verify, &mut mode)?,
            "--init" => {
                let text = argv.next().ok_or("--init needs a record count")?;
                let count = text
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--init: `{text}` is not a positive count"))?;
                set_mode(Mode::Init(count), &mut mode)?;
            }
            _ => return Err(format!("unknown argument `{arg}`")),
        }
    }
    Ok(Some(Args {
        data: data.ok_or("--data is required")?,
        keys,
        mode: mode.unwrap_or(Mode::Migrate { dry_run: false }),
    }))
}

/// Reads the key in `name`; errors name the variable, never its value.
fn key_from_env(name: &str, hex32: bool) -> Result<Key, String> {
    let raw = std::env::var_os(name)
        .map(OsString::into_vec)
        .filter(|raw| !raw.is_empty())
        .ok_or_else(|| format!("{name} is not set in the environment"))?;
    Key::from_env_value(&raw, hex32).ok_or_else(|| format!("{name} is not 64 hex characters"))
}

fn run(args: &Args) -> Result<Value, String> {
    let new = key_from_env(args.keys.new, args.keys.hex32)?;
    let shown = args.data.display();
    if let Mode::Init(count) = args.mode {
        return init(args, &new, count);
    }
    let text =
        std::fs::read_to_string(&args.data).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut lines = sealed::parse(&text);
    let mut errors = Vec::new();
    let (mut scanned, mut changed, mut unchanged) = (0, 0, 0);
    let old = match args.mode {
        Mode::Migrate { .. } => Some(key_from_env(args.keys.old, args.keys.hex32)?),
        _ => None,
    };
    for (index, line) in lines.iter_mut().enumerate() {
        let number = index + 1;
        let record = match line {
            Line::Kept(_) => continue,
            Line::Malformed(why) => {
                scanned += 1;
                errors.push(json!({ "line": number, "id": null, "error": why }));
                continue;
            }
            Line::Record(record) => record,
        };
        scanned += 1;
        // Already under the new key: a cut-off migration can simply run again.
        if new.open(record).is_some() {
            unchanged += 1;
            continue;
        }
        let opened = old.as_ref().and_then(|old| old.open(record));
        match opened {
            Some(plaintext) => {
                *record = new.seal(&record.id, &plaintext)?;
                changed += 1;
            }
            None => {
                let error = match old {
                    Some(_) => "opens under neither the old nor the new key".to_owned(),
                    None => format!("does not open under {}", args.keys.new),
                };
                errors.push(json!({ "line": number, "id": record.id, "error": error }));
            }
        }
    }
    if let Mode::Verify = args.mode {
        return Ok(json!({ "scanned": scanned, "verified": unchanged, "errors": errors }));
    }
    let dry_run = matches!(args.mode, Mode::Migrate { dry_run: true });
    // All or nothing: a run with any error leaves the file exactly as it found it, so the
    // records stay under the keys they were under and the operator's rollback is simple.
    let written = !dry_run && errors.is_empty() && changed > 0;
    if written {
        runbook::atomic::write_atomic(&args.data, sealed::render(&lines)?.as_bytes(), None)
            .map_err(|e| format!("cannot write {shown}: {e}"))?;
    }
    // `changed` counts what this run re-encrypted, or would have: `written` says whether the
    // file now holds it (false for a dry run, a run with errors, or nothing to change).
    Ok(json!({
        "scanned": scanned,
        "changed": changed,
        "unchanged": unchanged,
        "errors": errors,
        "dry_run": dry_run,
        "written": written,
    }))
}

/// Creates the data file with `count` random values, so a deployment's data matches its key.
fn init(args: &Args, key: &Key, count: usize) -> Result<Value, String> {
    let shown = args.data.display();
    if args.data.exists() {
        return Err(format!("{shown} exists: --init never overwrites data"));
    }
    let kind = if args.keys.hex32 {
        "totp-secret"
    } else {
        "integration-credential"
    };
    let mut lines = vec![Line::Kept(format!(
        "# demo-migrate data: one sealed record a line, under {}. Never edit the values by hand.",
        args.keys.new
    ))];
    for number in 1..=count {
        let mut plaintext = [0u8; 20];
        rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut plaintext)
            .map_err(|e| format!("the system random generator failed: {e}"))?;
        let id = format!("user-{number:04}/{kind}");
        lines.push(Line::Record(key.seal(&id, &plaintext)?));
    }
    runbook::atomic::write_atomic(&args.data, sealed::render(&lines)?.as_bytes(), None)
        .map_err(|e| format!("cannot write {shown}: {e}"))?;
    Ok(json!({ "created": count, "errors": [] }))
}
