//! Property-based fuzzing of every parser that reads operator text: env files (parsing is
//! lossless; an edit changes only its entry), runbook YAML, durations and templates (with the
//! quoting filters checked against the real `sh`). A short run stands in the suite; set
//! `PROPTEST_CASES=100000` for a long one. proptest shrinks a failure to a minimal input and
//! records its seed under `proptest-regressions/` so it is replayed first.

use std::path::Path;

use proptest::prelude::*;
use runbook::envfile::EnvFile;
use runbook::model::{HumanDuration, Runbook};

/// The standing run's number of cases, unless `PROPTEST_CASES` asks for another (an explicit
/// count in the config would otherwise override the variable).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Env files

/// One line (or several, for a quoted value spanning lines) of a plausible env file, hostile
/// pieces included: quotes, escapes, `#`, `export`, CR, BOM-free unicode, junk.
fn env_piece() -> impl Strategy<Value = String> {
    let key = "[A-Z_][A-Z0-9_]{0,6}";
    let value = "[a-zA-Z0-9 #'\"\\\\$=.é-]{0,12}";
    prop_oneof![
        Just(String::new()),
        "# [a-z '\"=#]{0,10}".prop_map(|c| c),
        (key, value).prop_map(|(k, v)| format!("{k}={v}")),
        (key, value).prop_map(|(k, v)| format!("export {k}={v}")),
        (key, "[a-z0-9 #\"]{0,8}").prop_map(|(k, v)| format!("{k}='{v}'")),
        (key, "[a-z0-9 #'\\\\]{0,8}").prop_map(|(k, v)| format!("{k}=\"{v}\"  # c")),
        (key, "[a-z0-9 ]{0,6}", "[a-z0-9 ]{0,6}").prop_map(|(k, a, b)| format!("{k}=\"{a}\n{b}\"")),
        (key, "[a-z0-9 ]{0,6}", "[a-z0-9 ]{0,6}")
            .prop_map(|(k, a, b)| format!("{k}='{a}\r\n\n{b}'")),
        key.prop_map(|k| format!("export {k}")),
        "[a-z-]{1,8}".prop_map(|flag| flag),
        "[ -~]{0,12}".prop_map(|junk| junk),
    ]
}

fn env_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((env_piece(), prop_oneof!["\n", "\r\n"]), 0..12),
        any::<bool>(),
    )
        .prop_map(|(lines, final_newline)| {
            let mut text: String = lines.iter().map(|(l, e)| format!("{l}{e}")).collect();
            if !final_newline && text.ends_with('\n') {
                text.pop();
            }
            text
        })
}

fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn env_parse_is_lossless_and_never_panics(text in env_text()) {
        if let Ok(file) = EnvFile::parse(text.as_bytes()) {
            prop_assert_eq!(file.to_bytes(), text.as_bytes());
        }
    }

    #[test]
    fn env_parse_of_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(file) = EnvFile::parse(&bytes) {
            prop_assert_eq!(file.to_bytes(), bytes);
        }
    }

    #[test]
    fn env_set_changes_only_its_entry(text in env_text(), pick in any::<prop::sample::Index>(), new in "[A-Za-z0-9]{6,20}") {
        let Ok(mut file) = EnvFile::parse(text.as_bytes()) else { return Ok(()) };
        let keys: Vec<String> = file.keys().map(str::to_string).collect();
        if keys.is_empty() {
            return Ok(());
        }
        let key = pick.get(&keys).clone();
        let before: Vec<Option<String>> = keys.iter().map(|k| file.get(k)).collect();
        let start = file.line_of(&key).unwrap() - 1;
        file.set(&key, &new).unwrap();
        let out = String::from_utf8(file.to_bytes()).unwrap();
        let reparsed = EnvFile::parse(out.as_bytes()).expect("an edited file parses");
        prop_assert_eq!(reparsed.keys().collect::<Vec<_>>(), keys.iter().map(String::as_str).collect::<Vec<_>>());
        for (k, old) in keys.iter().zip(&before) {
            let expected = if *k == key { Some(new.clone()) } else { old.clone() };
            prop_assert_eq!(reparsed.get(k), expected, "value of {}", k);
        }
        // Every line before the entry and after it is byte-exact; the entry is one line now.
        let (old_lines, new_lines) = (lines(&text), lines(&out));
        prop_assert_eq!(&old_lines[..start], &new_lines[..start]);
        let after = new_lines.len() - start - 1;
        prop_assert_eq!(&old_lines[old_lines.len() - after..], &new_lines[start + 1..]);
    }
}

// ---------------------------------------------------------------------------------------------
// Runbook YAML

fn yaml_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name: fuzz\n".to_string()),
        Just("steps:\n".to_string()),
        Just("  - id: a\n    exec: { run: 'true' }\n".to_string()),
        Just("  - id: b\n    needs: [a]\n    generate: { bytes: 8, encoding: hex }\n".to_string()),
        Just("    timeout: 5s\n".to_string()),
        Just("secret: { id: s, env: [S], every: 90d, impact: x }\n".to_string()),
        Just("x: &a [*a]\n".to_string()),
        Just("- [[[[[[[[\n".to_string()),
        Just("---\n".to_string()),
        Just("  rollback: none\n".to_string()),
        "[ -~]{0,20}\n".prop_map(|s| s),
        "[a-z]{1,6}: [a-z0-9{}\\[\\]:,'\" ]{0,12}\n".prop_map(|s| s),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn runbook_yaml_load_never_panics(pieces in prop::collection::vec(yaml_piece(), 0..12)) {
        let text: String = pieces.concat();
        let _ = runbook::load::parse::<Runbook>(Path::new("fuzz.yaml"), text);
    }

    #[test]
    fn runbook_yaml_load_of_arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = runbook::load::parse::<Runbook>(Path::new("fuzz.yaml"), text);
    }
}

// ---------------------------------------------------------------------------------------------
// Durations

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn duration_parse_never_panics(text in "\\PC{0,24}") {
        let _ = HumanDuration::parse(&text);
    }

    #[test]
    fn duration_groups_add_up(groups in prop::collection::vec((0u64..10_000, prop::sample::select(vec!["ms", "s", "m", "h", "d", "w"])), 1..5)) {
        let text: String = groups.iter().map(|(n, u)| format!("{n}{u}")).collect();
        let millis: u64 = groups
            .iter()
            .map(|(n, u)| n * match *u {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => 604_800_000,
            })
            .sum();
        let parsed = HumanDuration::parse(&text).expect("a well-formed duration parses");
        prop_assert_eq!(parsed.duration.as_millis(), u128::from(millis));
    }
}

// ---------------------------------------------------------------------------------------------
// Templates

fn render(template: &str, value: &str) -> Result<String, String> {
    let env = runbook::template::environment();
    let ctx = minijinja::context! { v => value };
    runbook::template::render(&env, template, &ctx).map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn template_render_of_arbitrary_text_never_panics(text in "[ -~]{0,40}") {
        let _ = render(&text, "value");
        let _ = render(&format!("{{{{ {text} }}}}"), "value");
    }

    #[test]
    fn url_password_reads_back_what_url_with_password_wrote(password in "\\PC{0,16}") {
        let url = render("{{ 'postgres://breeze:old@127.0.0.1:5432/db' | url_with_password(v) }}", &password).unwrap();
        prop_assert!(url.starts_with("postgres://breeze:") && url.ends_with("@127.0.0.1:5432/db"));
        let back = render(&format!("{{{{ '{url}' | url_password }}}}"), "").unwrap();
        prop_assert_eq!(back, password);
    }
}

proptest! {
    // Each case starts a shell: few cases, still every byte class.
    #![proptest_config(config(48))]

    #[test]
    fn shell_quote_survives_the_real_shell(value in "[^\\x00]{0,24}") {
        let quoted = render("{{ v | shell_quote }}", &value).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {quoted}"))
            .output()
            .expect("run sh");
        prop_assert_eq!(String::from_utf8_lossy(&out.stdout), value);
    }
}
