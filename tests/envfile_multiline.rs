//! Env files that Docker Compose and python-dotenv accept — quoted values spanning lines, bare
//! `export NAME` lines — are edited through the real binary without disturbing a byte of what
//! the run does not change, rolled back byte for byte, and only really ambiguous text is
//! refused, naming its line and no value.

mod common;

use common::Test;

/// A PEM-like multi-line value, a single-quoted one with a blank line and a comment, a bare
/// `export`, CRLF on some lines: everything a rotation of `TOKEN` must leave byte-exact.
const ENV: &str = "# deployment\nexport PATH\nTLS_KEY=\"-----BEGIN KEY-----\r\nMIIEv\\\"QIBADAN\r\n-----END KEY-----\"\r\nNOTE='first line\n\nthird line'  # kept\nTOKEN=old-token-value-123456\nMULTI=\"old line one\nold line two\"\nLAST=1\n";

fn rotation(key: &str, verify: &str) -> String {
    format!(
        "name: token-rotation\nsecret: {{ id: token, env: [{key}], every: 90d, impact: none }}\nsteps:\n  - id: new\n    generate: {{ bytes: 16, encoding: hex }}\n  - id: write\n    needs: [new]\n    env: {{ set: {{ {key}: \"{{{{ steps.new.value }}}}\" }} }}\n  - id: check\n    needs: [write]\n    verify:\n      exec: {{ run: \"{verify}\" }}\n"
    )
}

fn project(key: &str, verify: &str) -> Test {
    Test::new()
        .file("runbooks/token.yaml", &rotation(key, verify))
        .file(".env.prod", ENV)
}

fn env(test: &Test) -> String {
    String::from_utf8(test.read(".env.prod")).expect("utf-8")
}

#[test]
fn editing_a_key_keeps_multi_line_values_and_bare_exports_byte_exact() {
    let test = project("TOKEN", "true").args(&["run", "token-rotation", "--yes"]);
    test.run().expect_code(0);
    let after = env(&test);
    let token_line = after
        .lines()
        .find(|line| line.starts_with("TOKEN="))
        .expect("TOKEN line");
    let new = &token_line["TOKEN=".len()..];
    assert_eq!(new.len(), 32, "a 16-byte hex value was written");
    assert_eq!(after, ENV.replace("old-token-value-123456", new));
}

#[test]
fn a_multi_line_value_is_replaced_whole_and_rolled_back_byte_for_byte() {
    // The verify sees the new one-line value in place of both old lines, then fails, so the
    // rollback must bring the two lines back exactly.
    let test = project(
        "MULTI",
        "grep -q '^MULTI=.[0-9a-f]*.$' .env.prod && ! grep -q 'old line' .env.prod && touch seen && false",
    )
    .args(&["run", "token-rotation", "--yes"]);
    test.run().expect_code(1);
    assert!(
        test.path().join("seen").exists(),
        "the edit was made and checked"
    );
    assert_eq!(env(&test), ENV);
}

#[test]
fn a_quote_that_an_unrelated_line_closes_is_refused_naming_the_line() {
    let test = Test::new()
        .file("runbooks/token.yaml", &rotation("TOKEN", "true"))
        .file(
            ".env.prod",
            "TOKEN=old-token-value-123456\nBROKEN=\"opened-secret-text\nOTHER=\"x\"\n",
        )
        .args(&["run", "token-rotation", "--yes"]);
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("line 2") && run.stderr.contains("`BROKEN`"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("opened-secret-text"), "no value shown");
    assert!(
        !test.path().join(".runbook/runs").exists(),
        "nothing was started"
    );
}

#[test]
fn a_quote_never_closed_is_refused_naming_the_line() {
    let test = Test::new()
        .file("runbooks/token.yaml", &rotation("TOKEN", "true"))
        .file(
            ".env.prod",
            "A=1\nTOKEN=old-token-value-123456\nOPEN='never closed\nB=2\n",
        )
        .args(&["run", "token-rotation", "--yes"]);
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("line 3") && run.stderr.contains("unterminated quote"),
        "{}",
        run.stderr
    );
}
