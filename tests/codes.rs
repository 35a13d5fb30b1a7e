//! The README's tables of exit codes, error codes and failure kinds equal the ones the binary
//! is built from, and the diagnostic codes the source uses are exactly those of the table.

mod common;

use common::repo;
use runbook::codes::{CODES, EXIT_CODES};
use runbook::failure::ErrorKind;

/// The rows of the first table under `heading`, each a list of trimmed cells without
/// backticks; the header row and the separator are left out.
fn table(heading: &str) -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let (_, after) = readme
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no `{heading}`"));
    after
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| {
            row.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().replace('`', ""))
                .collect()
        })
        .collect()
}

#[test]
fn readme_error_codes_equal_the_code_table() {
    let documented = table("## Error codes");
    let built: Vec<Vec<String>> = CODES
        .iter()
        .map(|(code, meaning)| vec![(*code).to_string(), meaning.replace('`', "")])
        .collect();
    assert_eq!(documented, built);
}

#[test]
fn readme_exit_codes_equal_the_exit_table() {
    let documented = table("## Exit codes");
    let built: Vec<Vec<String>> = EXIT_CODES
        .iter()
        .map(|(code, meaning)| vec![code.to_string(), (*meaning).to_string()])
        .collect();
    assert_eq!(documented, built);
}

#[test]
fn readme_failure_kinds_equal_the_kinds_and_their_retry_rule() {
    let documented: Vec<(String, String)> = table("## Why a step failed")
        .into_iter()
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
    let built: Vec<(String, String)> = ErrorKind::ALL
        .iter()
        .map(|kind| {
            let retried = if kind.is_retryable() { "yes" } else { "no" };
            (kind.name().to_string(), retried.to_string())
        })
        .collect();
    assert_eq!(documented, built);
}

/// Every `"runbook::..."` string literal under `dir`, with the file it is in.
fn codes_used(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            codes_used(&path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("codes.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for piece in text.split("\"runbook::").skip(1) {
            let code: String = piece
                .chars()
                .take_while(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == ':'
                })
                .collect();
            out.push((format!("runbook::{code}"), path.display().to_string()));
        }
    }
}

#[test]
fn every_code_the_source_uses_is_in_the_table() {
    let mut used = Vec::new();
    codes_used(&repo().join("src"), &mut used);
    assert!(used.len() > 20, "the scan found the codes: {used:?}");
    let missing: Vec<&(String, String)> = used
        .iter()
        .filter(|(code, _)| !CODES.iter().any(|(listed, _)| listed == code))
        .collect();
    assert!(
        missing.is_empty(),
        "codes missing from src/codes.rs and the README: {missing:?}"
    );
    let unused: Vec<&str> = CODES
        .iter()
        .map(|(code, _)| *code)
        .filter(|code| !used.iter().any(|(used, _)| used == code))
        .collect();
    assert!(unused.is_empty(), "codes listed but never used: {unused:?}");
}
