//! What can be known without running is refused before anything runs: a rotation whose
//! verify could only fail (an unknown filter, a URL without a scheme, an impossible status)
//! exits 2 with the file and line, leaves the env file byte-identical and restarts nothing,
//! where it used to edit the file, restart, retry, and roll back.

mod common;

use common::Test;

const ENV: &[u8] = b"# production\nJWT_SECRET=old-jwt-value-0123456789\n";

/// The restart driver leaves a mark for every restart it performs.
const CONFIG: &str = "vars:\n  env_file: .env.prod\n  api_url: http://127.0.0.1:9\nrestart:\n  run: 'echo \"restart {{ services | join(\",\") }}\" >> restarts.log'\n";

/// A JWT rotation whose last step is `verify`, with the verify's body given.
fn rotation(verify: &str) -> String {
    format!(
        "name: jwt-rotation\nsecret: {{ id: jwt, env: [JWT_SECRET], every: 90d, impact: sessions }}\nsteps:\n  - id: new\n    generate: {{ bytes: 32, encoding: base64 }}\n  - id: write\n    needs: [new]\n    env: {{ set: {{ JWT_SECRET: \"{{{{ steps.new.value }}}}\" }} }}\n  - id: restart\n    needs: [write]\n    restart: [api]\n  - id: health\n    needs: [restart]\n    verify:\n{verify}"
    )
}

fn project(verify: &str, args: &[&str]) -> Test {
    let test = Test::new()
        .file("runbook.yaml", CONFIG)
        .file("runbooks/jwt.yaml", &rotation(verify))
        .args(args);
    test.write(".env.prod", ENV);
    test
}

/// Runs `run jwt-rotation --yes` and proves it was refused with `expected` at `line` and
/// changed nothing.
#[track_caller]
fn refused_without_side_effect(verify: &str, expected: &str, line: u32) {
    let test = project(verify, &["run", "jwt-rotation", "--yes"]);
    let run = test.run();
    run.expect_code(2);
    assert!(run.stderr.contains(expected), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("jwt.yaml:{line}:")),
        "the diagnostic names file and line:\n{}",
        run.stderr
    );
    assert_eq!(test.read(".env.prod"), ENV, "the env file is untouched");
    assert!(
        !test.path().join("restarts.log").exists(),
        "nothing was restarted"
    );
    assert!(
        !test.path().join(".runbook/runs").exists(),
        "no run was started"
    );
    for other in [
        &["plan", "jwt-rotation"][..],
        &["run", "jwt-rotation", "--dry-run"],
    ] {
        let run = project(verify, other).run();
        run.expect_code(2);
        assert!(run.stderr.contains(expected), "{other:?}: {}", run.stderr);
    }
}

#[test]
fn unknown_filter_in_a_verify_is_refused_before_the_env_edit() {
    refused_without_side_effect(
        "      http: { url: \"{{ vars.api_url | base32 }}/health\" }\n",
        "unknown filter `base32`",
        15,
    );
}

#[test]
fn verify_url_without_a_scheme_after_rendering_vars_is_refused_before_the_env_edit() {
    let test = project(
        "      http: { url: \"{{ vars.api_url }}/health\" }\n",
        &[
            "run",
            "jwt-rotation",
            "--yes",
            "--var",
            "api_url=localhost:8080",
        ],
    );
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("`localhost:8080/health` has no `http://` or `https://` in front"),
        "{}",
        run.stderr
    );
    assert_eq!(test.read(".env.prod"), ENV);
    assert!(!test.path().join("restarts.log").exists());
}

#[test]
fn impossible_http_status_is_refused_before_the_env_edit() {
    refused_without_side_effect(
        "      http: { url: \"{{ vars.api_url }}/health\", status: 2000 }\n",
        "`status: 2000` is not an HTTP status (100 to 599)",
        15,
    );
}

#[test]
fn zero_timeout_is_refused_before_the_env_edit() {
    refused_without_side_effect(
        "      exec: { run: \"true\" }\n      timeout: 0ms\n",
        "a timeout of `0ms` would fail every attempt at once",
        16,
    );
}

#[test]
fn a_url_known_only_at_run_time_is_not_judged_early() {
    // The URL comes from a step's output, so it can only be checked when it exists.
    let verify = "      http: { url: \"{{ steps.new.value }}\" }\n";
    let run = project(verify, &["validate"]).run();
    run.expect_code(0);
}

#[test]
fn jobs_zero_is_a_usage_error() {
    let test = project(
        "      exec: { run: \"true\" }\n",
        &["run", "jwt-rotation", "--jobs", "0"],
    );
    let run = test.run();
    run.expect_code(2);
    assert!(run.stderr.contains("--jobs"), "{}", run.stderr);
    assert_eq!(test.read(".env.prod"), ENV);
}

#[test]
fn a_zero_restart_driver_timeout_is_refused_before_the_env_edit() {
    let test = project(
        "      exec: { run: \"true\" }\n",
        &["run", "jwt-rotation", "--yes"],
    )
    .file(
        "runbook.yaml",
        &CONFIG.replace("restart:\n", "restart:\n  timeout: 0s\n"),
    );
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("restart driver: a timeout of `0s` would fail every restart"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("runbook.yaml:5:"), "{}", run.stderr);
    assert_eq!(test.read(".env.prod"), ENV);
    assert!(!test.path().join("restarts.log").exists());
}

#[test]
fn a_header_with_a_line_break_is_refused_before_the_env_edit() {
    refused_without_side_effect(
        "      http:\n        url: \"{{ vars.api_url }}/health\"\n        headers: { X-Check: \"a\\nb\" }\n",
        "header `X-Check` has a line break in its value",
        17,
    );
}
