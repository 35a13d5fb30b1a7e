//! Tests for lossless env file editing and for keeping secret values out of output.

use super::*;

/// A value no message or debug output may ever contain.
const CANARY: &str = "s3cr3t-CANARY-value";

/// Exercises every construct the parser must keep byte for byte.
const NASTY: &[u8] = b"# production secrets\r\n\
\n\
export DB_PASSWORD='single quoted'\n\
API_TOKEN=\"double \\\"quoted\\\" \\\\ value\"   # rotated 2024\r\n\
PLAIN=abc123 # inline comment\n\
\x20 SPACED  =  padded value  \t\n\
\t# indented comment\n\
lt-cred-mech\n\
static-auth-secret=coturn.secret\n\
EMPTY=\n\
HASH=abc#not-a-comment\n\
LAST=final";

fn parse(text: &str) -> EnvFile {
    EnvFile::parse(text.as_bytes()).expect("test input parses")
}

fn text(file: &EnvFile) -> String {
    String::from_utf8(file.to_bytes()).expect("output is utf-8")
}

#[test]
fn round_trip_of_a_nasty_file_is_byte_for_byte() {
    let file = EnvFile::parse(NASTY).unwrap();
    assert_eq!(file.to_bytes(), NASTY);
}

#[test]
fn round_trip_keeps_empty_input_and_lone_final_cr() {
    for input in [
        &b""[..],
        b"\n",
        b"A=1\r",
        b"A=1\r\n\r\n",
        b"\xef\xbb\xbfA=1\n",
    ] {
        assert_eq!(EnvFile::parse(input).unwrap().to_bytes(), input);
    }
}

#[test]
fn get_decodes_each_quoting_style_and_strips_inline_comments() {
    let file = EnvFile::parse(NASTY).unwrap();
    assert_eq!(file.get("DB_PASSWORD").as_deref(), Some("single quoted"));
    assert_eq!(
        file.get("API_TOKEN").as_deref(),
        Some("double \"quoted\" \\ value")
    );
    assert_eq!(file.get("PLAIN").as_deref(), Some("abc123"));
    assert_eq!(file.get("SPACED").as_deref(), Some("padded value"));
    assert_eq!(
        file.get("static-auth-secret").as_deref(),
        Some("coturn.secret")
    );
    assert_eq!(file.get("EMPTY").as_deref(), Some(""));
    assert_eq!(file.get("HASH").as_deref(), Some("abc#not-a-comment"));
    assert_eq!(file.get("LAST").as_deref(), Some("final"));
    assert_eq!(file.get("lt-cred-mech"), None);
}

#[test]
fn get_decodes_newline_escape_and_keeps_unknown_escapes() {
    let file = parse("A=\"one\\ntwo\\tthree\"\n");
    assert_eq!(file.get("A").as_deref(), Some("one\ntwo\\tthree"));
}

#[test]
fn keys_are_listed_in_order_without_flags() {
    let file = EnvFile::parse(NASTY).unwrap();
    let keys: Vec<&str> = file.keys().collect();
    assert_eq!(
        keys,
        [
            "DB_PASSWORD",
            "API_TOKEN",
            "PLAIN",
            "SPACED",
            "static-auth-secret",
            "EMPTY",
            "HASH",
            "LAST"
        ]
    );
}

#[test]
fn line_of_is_one_based_and_follows_removals() {
    let mut file = EnvFile::parse(NASTY).unwrap();
    assert_eq!(file.line_of("DB_PASSWORD"), Some(3));
    assert_eq!(file.line_of("LAST"), Some(12));
    assert!(file.unset("DB_PASSWORD"));
    assert_eq!(file.line_of("LAST"), Some(11));
    assert_eq!(file.line_of("DB_PASSWORD"), None);
}

#[test]
fn set_keeps_crlf_and_export_prefix_byte_for_byte() {
    let mut file = parse("# head\r\nexport  TOKEN = old   # note\r\nNEXT=1\n");
    file.set("TOKEN", "new").unwrap();
    assert_eq!(
        text(&file),
        "# head\r\nexport  TOKEN = new   # note\r\nNEXT=1\n"
    );
}

#[test]
fn set_on_double_quoted_value_escapes_quote_and_backslash_only() {
    let mut file = parse("A=\"old\" # c\n");
    file.set("A", "x\"y\\z$w").unwrap();
    assert_eq!(text(&file), "A=\"x\\\"y\\\\z$w\" # c\n");
    assert_eq!(file.get("A").as_deref(), Some("x\"y\\z$w"));
}

#[test]
fn set_on_single_quoted_value_stays_single_quoted() {
    let mut file = parse("A='old'\n");
    file.set("A", "new value \\ \"x\"").unwrap();
    assert_eq!(text(&file), "A='new value \\ \"x\"'\n");
    assert_eq!(file.get("A").as_deref(), Some("new value \\ \"x\""));
}

#[test]
fn set_on_single_quoted_value_switches_to_double_for_an_apostrophe() {
    let mut file = parse("A='old'\n");
    file.set("A", "it's").unwrap();
    assert_eq!(text(&file), "A=\"it's\"\n");
    assert_eq!(file.get("A").as_deref(), Some("it's"));
}

#[test]
fn set_on_unquoted_value_stays_unquoted_when_safe() {
    let mut file = parse("A=old # c\nB=2");
    file.set("A", "N3w-v@lue$").unwrap();
    assert_eq!(text(&file), "A=N3w-v@lue$ # c\nB=2");
}

#[test]
fn set_on_unquoted_value_double_quotes_when_needed() {
    for (value, written) in [
        ("a b", "\"a b\""),
        ("a#b", "\"a#b\""),
        ("a'b", "\"a'b\""),
        ("a\"b", "\"a\\\"b\""),
        ("a\\b", "\"a\\\\b\""),
        ("a\tb", "\"a\tb\""),
    ] {
        let mut file = parse("A=old # c\n");
        file.set("A", value).unwrap();
        assert_eq!(text(&file), format!("A={written} # c\n"));
        assert_eq!(file.get("A").as_deref(), Some(value));
    }
}

#[test]
fn set_on_empty_value_before_inline_comment_keeps_the_comment() {
    let mut file = parse("A= # c\nB = # d\n");
    assert_eq!(file.get("A").as_deref(), Some(""));
    file.set("A", "new").unwrap();
    file.set("B", "two").unwrap();
    assert_eq!(text(&file), "A=new # c\nB =two # d\n");
    let reparsed = EnvFile::parse(&file.to_bytes()).unwrap();
    assert_eq!(reparsed.get("A").as_deref(), Some("new"));
}

#[test]
fn set_only_changes_the_target_line_of_a_nasty_file() {
    let mut file = EnvFile::parse(NASTY).unwrap();
    file.set("PLAIN", "rotated").unwrap();
    let expected = String::from_utf8(NASTY.to_vec())
        .unwrap()
        .replace("PLAIN=abc123 #", "PLAIN=rotated #");
    assert_eq!(text(&file), expected);
}

#[test]
fn set_on_missing_key_is_key_missing_error() {
    let mut file = parse("A=1\n");
    let err = file.set("B", CANARY).unwrap_err();
    assert!(matches!(&err, EnvFileError::KeyMissing { key } if key == "B"));
    assert_eq!(err.to_string(), "key `B` is not in the file");
    assert_eq!(text(&file), "A=1\n");
}

#[test]
fn set_rejects_line_breaks_without_showing_the_value() {
    let mut file = parse("A=1\n");
    for value in [format!("{CANARY}\nX=1"), format!("{CANARY}\r")] {
        let err = file.set("A", &value).unwrap_err();
        assert!(matches!(err, EnvFileError::ValueHasLineBreak { .. }));
        assert!(err.to_string().contains("`A`"));
        assert_no_canary(&err);
    }
    assert_eq!(text(&file), "A=1\n");
}

#[test]
fn append_adds_final_newline_first_and_uses_crlf_style() {
    let mut file = parse("A=1\r\nB=2");
    file.append("C", "three").unwrap();
    assert_eq!(text(&file), "A=1\r\nB=2\r\nC=three\r\n");
    assert_eq!(file.line_of("C"), Some(3));
}

#[test]
fn append_quotes_when_needed_and_round_trips() {
    let mut file = parse("");
    file.append("K", "has space").unwrap();
    assert_eq!(text(&file), "K=\"has space\"\n");
    let reparsed = EnvFile::parse(&file.to_bytes()).unwrap();
    assert_eq!(reparsed.get("K").as_deref(), Some("has space"));
}

#[test]
fn append_rejects_existing_and_invalid_keys() {
    let mut file = parse("A=1\n");
    assert!(matches!(
        file.append("A", "2"),
        Err(EnvFileError::KeyExists { line: 1, .. })
    ));
    assert!(matches!(
        file.append("1BAD", "2"),
        Err(EnvFileError::InvalidKey { .. })
    ));
    assert!(matches!(
        file.append("NEW", "a\nb"),
        Err(EnvFileError::ValueHasLineBreak { .. })
    ));
    assert_eq!(text(&file), "A=1\n");
}

#[test]
fn unset_removes_only_that_line() {
    let mut file = parse("# c\nA=1\nB=2\n");
    assert!(file.unset("A"));
    assert!(!file.unset("A"));
    assert_eq!(text(&file), "# c\nB=2\n");
}

#[test]
fn duplicate_key_error_names_both_lines() {
    let err = EnvFile::parse(format!("A=1\n# c\nA={CANARY}\n").as_bytes()).unwrap_err();
    assert!(matches!(
        &err,
        EnvFileError::DuplicateKey { key, first: 1, line: 3 } if key == "A"
    ));
    assert_eq!(
        err.to_string(),
        "line 3: key `A` is already defined on line 1"
    );
}

#[test]
fn export_prefix_and_plain_key_are_the_same_key() {
    assert!(matches!(
        EnvFile::parse(b"export A=1\nA=2\n"),
        Err(EnvFileError::DuplicateKey {
            first: 1,
            line: 2,
            ..
        })
    ));
}

#[test]
fn non_utf8_error_names_the_line() {
    let err = EnvFile::parse(b"A=1\nB=\xff\xfe\n").unwrap_err();
    assert!(matches!(err, EnvFileError::NotUtf8 { line: 2 }));
    assert_eq!(err.to_string(), "line 2: not valid utf-8");
}

#[test]
fn malformed_lines_are_rejected_with_their_line_number() {
    for line in [
        "listening-port 3478",
        "export A B",
        "=value",
        "1KEY=x",
        "KEY: value",
    ] {
        let input = format!("A=1\n{line}\n");
        let err = EnvFile::parse(input.as_bytes()).unwrap_err();
        assert!(
            matches!(err, EnvFileError::Malformed { line: 2 }),
            "{line:?} gave {err:?}"
        );
    }
}

#[test]
fn multi_line_quoted_values_round_trip_and_decode() {
    let input = "A=1\r\nPEM=\"-----BEGIN-----\r\nabc\\\"def\r\n-----END-----\" # pem\r\nS='one\ntwo'\nB=2\n";
    let file = parse(input);
    assert_eq!(text(&file), input);
    assert_eq!(file.keys().collect::<Vec<_>>(), ["A", "PEM", "S", "B"]);
    assert_eq!(
        file.get("PEM").as_deref(),
        Some("-----BEGIN-----\r\nabc\"def\r\n-----END-----")
    );
    assert_eq!(file.get("S").as_deref(), Some("one\ntwo"));
    assert_eq!(file.line_of("S"), Some(5));
    assert_eq!(file.line_of("B"), Some(7));
}

#[test]
fn setting_another_key_keeps_multi_line_values_byte_exact() {
    let mut file = parse("M=\"x\ny\"\nK=old\nN='p\n\nq'  # c\n");
    file.set("K", "new").unwrap();
    assert_eq!(text(&file), "M=\"x\ny\"\nK=new\nN='p\n\nq'  # c\n");
}

#[test]
fn setting_a_multi_line_value_replaces_all_its_lines_and_keeps_the_comment() {
    let mut file = parse("A=1\nM='x\ny'  # keep\nB=2\n");
    file.set("M", "one-line").unwrap();
    assert_eq!(text(&file), "A=1\nM='one-line'  # keep\nB=2\n");
    assert_eq!(file.line_of("B"), Some(3));
}

#[test]
fn bare_export_lines_are_kept_and_define_nothing() {
    let input = "export PATH\nexport  HOME # from the shell\nA=1\n";
    let mut file = parse(input);
    assert_eq!(text(&file), input);
    assert_eq!(file.keys().collect::<Vec<_>>(), ["A"]);
    file.set("A", "2").unwrap();
    assert_eq!(
        text(&file),
        "export PATH\nexport  HOME # from the shell\nA=2\n"
    );
}

#[test]
fn a_quote_closed_on_a_later_line_by_another_entry_is_refused_naming_the_line() {
    let err = EnvFile::parse(b"A=1\nB=\"open\nC=\"x\"\n").unwrap_err();
    assert!(matches!(&err, EnvFileError::TrailingText { line: 2, key } if key == "B"));
}

#[test]
fn export_alone_or_as_a_key_is_not_a_prefix() {
    let file = parse("export\nexport=1\n");
    assert_eq!(file.keys().collect::<Vec<_>>(), ["export"]);
    assert_eq!(file.get("export").as_deref(), Some("1"));
}

#[test]
fn unterminated_quote_error_names_line_and_key() {
    let input = format!("A=1\nTOKEN=\"{CANARY}\\\"\n");
    let err = EnvFile::parse(input.as_bytes()).unwrap_err();
    assert!(matches!(
        &err,
        EnvFileError::UnterminatedQuote { line: 2, key } if key == "TOKEN"
    ));
    assert_no_canary(&err);
    let err = EnvFile::parse(format!("S='{CANARY}\n").as_bytes()).unwrap_err();
    assert!(matches!(
        err,
        EnvFileError::UnterminatedQuote { line: 1, .. }
    ));
    assert_no_canary(&err);
}

#[test]
fn text_after_a_closing_quote_is_an_error() {
    let err = EnvFile::parse(format!("A='{CANARY}'{CANARY}\n").as_bytes()).unwrap_err();
    assert!(matches!(&err, EnvFileError::TrailingText { line: 1, key } if key == "A"));
    assert_no_canary(&err);
}

#[test]
fn parse_errors_never_contain_the_value() {
    let inputs = [
        format!("A={CANARY}\nA={CANARY}\n"),
        format!("A={CANARY}\n{CANARY} {CANARY}\n"),
        format!("A=\"{CANARY}\n"),
        format!("A='{CANARY}'x\n"),
    ];
    for input in inputs {
        let err = EnvFile::parse(input.as_bytes()).unwrap_err();
        assert_no_canary(&err);
    }
}

#[test]
fn debug_output_redacts_values() {
    let file = parse(&format!("A={CANARY}\nB='{CANARY}'\n"));
    let debug = format!("{file:?} {file:#?}");
    assert!(!debug.contains(CANARY), "{debug}");
    assert!(debug.contains("[REDACTED]"));
    assert!(debug.contains("\"A\""));
}

#[test]
fn value_warnings_flag_dollar_and_newline_without_the_value() {
    assert!(value_warnings("plain-Value_123").is_empty());
    let dollar = value_warnings("pa$word");
    assert_eq!(dollar.len(), 1);
    assert!(dollar[0].contains('$'));
    let newline = value_warnings("a\nb");
    assert_eq!(newline.len(), 1);
    assert!(newline[0].contains("line break"));
    assert_eq!(value_warnings(" x").len(), 1);
    assert_eq!(value_warnings("").len(), 1);
    for warning in value_warnings(&format!(" {CANARY}$\n\u{7}")) {
        assert!(!warning.contains(CANARY));
    }
}

fn assert_no_canary(err: &EnvFileError) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(CANARY), "error leaks the value: {shown}");
}

#[test]
fn edits_unsets_and_an_append_around_untouched_runs_of_lines_write_exactly_those_changes() {
    let mut file = parse("A=1\r\nB=2\nC=3\nD=4\nE=5\r");
    file.set("B", "two").unwrap();
    assert!(file.unset("D"));
    file.append("F", "6").unwrap();
    assert_eq!(text(&file), "A=1\r\nB=two\nC=3\nE=5\r\nF=6\n");
    let mut last = parse("A=1\nB=2");
    last.append("C", "3").unwrap();
    assert_eq!(text(&last), "A=1\nB=2\nC=3\n");
}
