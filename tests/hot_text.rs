//! `src/hot_text.ld` reaches only the release link (build.rs), which no test builds. So that a
//! script the linker rejects, or one that no longer moves anything, fails here rather than in
//! the next release build, this links a small program named like the crate with it: the
//! program's `main` matches the script's pattern for `runbook::main`, its `zz` matches none.
//! rustc emits a crate's functions in the order of their symbol names, so linked plainly `zz`
//! (`_ZN7runbook2zz…`) comes before `main` (`_ZN7runbook4main…`); linked with the script,
//! `main` is moved ahead of it.

use std::path::Path;
use std::process::Command;

const PROGRAM: &str = r#"
#[inline(never)]
fn zz(n: usize) -> usize {
    n.wrapping_mul(31) ^ 7
}

fn main() {
    std::process::exit(if zz(std::env::args().count()) == 0 { 1 } else { 0 });
}
"#;

/// Builds the program, runs it, and returns the addresses of its `main` and `zz`.
fn link(dir: &Path, name: &str, script: Option<&Path>) -> (u64, u64) {
    let source = dir.join("main.rs");
    std::fs::write(&source, PROGRAM).unwrap();
    let out = dir.join(name);
    let mut rustc = Command::new("rustc");
    rustc.args([
        "--edition",
        "2024",
        "--crate-name",
        "runbook",
        "-C",
        "opt-level=1",
    ]);
    if let Some(script) = script {
        rustc
            .args(["-C", "link-arg=-T", "-C"])
            .arg(format!("link-arg={}", script.display()));
    }
    let built = rustc.arg(&source).arg("-o").arg(&out).output().unwrap();
    assert!(
        built.status.success(),
        "rustc: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    assert!(
        Command::new(&out).status().unwrap().success(),
        "{name} does not run"
    );

    let listing = Command::new("nm").arg(&out).output().unwrap();
    assert!(listing.status.success(), "nm {name}");
    let listing = String::from_utf8(listing.stdout).unwrap();
    let address = |function: &str| {
        listing
            .lines()
            .find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let symbol = fields.last()?;
                let ours =
                    symbol.starts_with(&format!("_ZN7runbook{}{function}17h", function.len()));
                ours.then(|| u64::from_str_radix(fields[0], 16).unwrap())
            })
            .unwrap_or_else(|| panic!("no runbook::{function} in {name}:\n{listing}"))
    };
    (address("main"), address("zz"))
}

#[test]
fn the_release_link_script_is_accepted_and_moves_the_listed_functions_first() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/hot_text.ld");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(
        text.contains("*(.text*._ZN7runbook4main17h*)"),
        "the script no longer lists runbook::main; regenerate it with benches/hot_text.sh"
    );
    let dir = tempfile::tempdir().unwrap();

    let (main, zz) = link(dir.path(), "plain", None);
    assert!(
        zz < main,
        "linked plainly, rustc no longer emits functions by name; choose another control"
    );

    let (main, zz) = link(dir.path(), "ordered", Some(&script));
    assert!(main < zz, "the script did not move runbook::main ahead");
}
