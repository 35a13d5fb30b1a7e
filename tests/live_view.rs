//! The live view on a real terminal: a pseudo-terminal of a known width (util-linux `script`
//! gives the run one), where a footer wider than the terminal would wrap and leave stale
//! lines behind at each redraw.

mod common;

use std::time::{Duration, Instant};

use common::{Test, binary};

fn wait_for(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two steps with long ids that run at once, each until `release` exists.
fn two_long_steps() -> String {
    let mut runbook = String::from("name: wide\nsteps:\n");
    for n in ["one", "two"] {
        runbook.push_str(&format!(
            "  - id: a-step-whose-id-is-much-longer-than-a-narrow-terminal-{n}\n    exec: {{ run: 'touch started-{n}; while [ ! -e release ]; do sleep 0.05; done' }}\n"
        ));
    }
    runbook
}

#[test]
fn the_running_footer_is_cut_to_the_terminal_width() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(std::env::var("CI").is_err(), "CI needs util-linux `script`");
        eprintln!("SKIPPED: no `script` to give the run a pseudo-terminal");
        return;
    }
    let test = Test::new().file("runbooks/wide.yaml", &two_long_steps());
    let inner = format!(
        "stty cols 40 rows 20; exec '{}' run wide --yes --jobs 2 --color never",
        binary().display()
    );
    let child = std::process::Command::new("script")
        .current_dir(test.path())
        .env("NO_COLOR", "1")
        .env_remove("COLUMNS")
        .args(["-qec", &inner, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&test.path().join("started-one"));
    wait_for(&test.path().join("started-two"));
    test.write("release", b"");
    let output = child.wait_with_output().unwrap();
    let raw = String::from_utf8_lossy(&output.stdout).replace("\x1b[K", "");
    assert_eq!(output.status.code(), Some(0), "{raw}");
    assert!(raw.contains("running: "), "a footer was shown: {raw}");
    for segment in raw.split(['\r', '\n']) {
        assert!(
            segment.chars().count() < 40 || !segment.contains("running: "),
            "a footer wider than the 40-column terminal: {segment:?}"
        );
    }
}
