use super::*;

fn render_one(text: &str, ctx: Value) -> Result<String, TemplateError> {
    render(&environment(), text, &ctx)
}

#[test]
fn url_with_password_replaces_and_encodes() {
    let ctx =
        minijinja::context! { url => "postgres://breeze:old@db:5432/app?ssl=1", pw => "n/w@x" };
    assert_eq!(
        render_one("{{ url | url_with_password(pw) }}", ctx).unwrap(),
        "postgres://breeze:n%2Fw%40x@db:5432/app?ssl=1"
    );
    let ctx = minijinja::context! { url => "redis://:old@localhost:6379", pw => "abc" };
    assert_eq!(
        render_one("{{ url | url_with_password(pw) }}", ctx).unwrap(),
        "redis://:abc@localhost:6379"
    );
}

#[test]
fn url_with_password_and_user_switches_the_login_role() {
    let ctx = minijinja::context! { url => "postgres://breeze_a:old@db:5432/app", pw => "new" };
    assert_eq!(
        render_one(
            "{{ url | url_with_password(pw, user='breeze_b') }}",
            ctx.clone()
        )
        .unwrap(),
        "postgres://breeze_b:new@db:5432/app"
    );
    let unknown = render_one("{{ url | url_with_password(pw, host='x') }}", ctx);
    assert!(unknown.is_err(), "an unknown keyword is refused");
}

#[test]
fn sql_identifier_quotes_a_name_exactly_and_refuses_an_empty_one() {
    let ctx = minijinja::context! { v => "App\"Role", e => "" };
    assert_eq!(
        render_one("{{ v | sql_identifier }}", ctx.clone()).unwrap(),
        "\"App\"\"Role\""
    );
    assert!(render_one("{{ e | sql_identifier }}", ctx).is_err());
}

#[test]
fn sql_literal_doubles_quotes_and_shell_quote_is_sh_safe() {
    let ctx = minijinja::context! { v => "it's" };
    assert_eq!(
        render_one("{{ v | sql_literal }}", ctx.clone()).unwrap(),
        "'it''s'"
    );
    assert_eq!(
        render_one("{{ v | shell_quote }}", ctx).unwrap(),
        r"'it'\''s'"
    );
}

#[test]
fn strict_undefined_is_an_error_without_values() {
    let ctx =
        minijinja::context! { secret => minijinja::context! { current => "CANARY-VALUE-123" } };
    let err = render_one("{{ secret.current }} {{ nothere }}", ctx).unwrap_err();
    assert!(err.message.contains("undefined"));
    assert!(!err.message.contains("CANARY"));
}

#[test]
fn html_is_never_escaped() {
    let ctx = minijinja::context! { v => "<a&b>\"'" };
    assert_eq!(render_one("{{ v }}", ctx).unwrap(), "<a&b>\"'");
}

#[test]
fn literals_skip_the_engine() {
    assert_eq!(
        render_one("echo }} {", Value::UNDEFINED).unwrap(),
        "echo }} {"
    );
}

#[test]
fn url_password_decodes_the_password_and_round_trips_with_url_with_password() {
    let ctx = minijinja::context! { url => "redis://:p%40ss%2Fw0rd@127.0.0.1:6379/0" };
    assert_eq!(
        render_one("{{ url | url_password }}", ctx).unwrap(),
        "p@ss/w0rd"
    );
    let ctx = minijinja::context! { url => "postgres://breeze@db/app" };
    assert_eq!(render_one("{{ url | url_password }}", ctx).unwrap(), "");
    let ctx = minijinja::context! { url => "redis://:old@h:1", pw => "n%w" };
    assert_eq!(
        render_one("{{ url | url_with_password(pw) | url_password }}", ctx).unwrap(),
        "n%w"
    );
}

#[test]
fn a_trailing_newline_is_kept() {
    let ctx = minijinja::context! { v => "x" };
    assert_eq!(render_one("{{ v }}\n", ctx).unwrap(), "x\n");
}

#[test]
fn url_user_decodes_the_user_and_is_empty_without_one() {
    let ctx = minijinja::context! { url => "redis://app%2Dx:p%40ss@127.0.0.1:6379/0" };
    assert_eq!(render_one("{{ url | url_user }}", ctx).unwrap(), "app-x");
    let ctx = minijinja::context! { url => "redis://:pw@h:1" };
    assert_eq!(render_one("{{ url | url_user }}", ctx).unwrap(), "");
    let ctx = minijinja::context! { url => "redis://h:1" };
    assert_eq!(render_one("{{ url | url_user }}", ctx).unwrap(), "");
    let ctx = minijinja::context! { url => "redis://%é:%é@h:1" };
    assert_eq!(render_one("{{ url | url_user }}", ctx).unwrap(), "%é");
}

#[test]
fn a_scram_verifier_rendered_in_a_run_is_masked_by_its_redactor() {
    let redactor = crate::redact::Redactor::new();
    let env = environment_redacting(&redactor);
    let ctx = minijinja::context! { pw => "correct-horse-battery" };
    let verifier = render(&env, "{{ pw | scram_sha256 }}", &ctx).unwrap();
    assert!(verifier.starts_with("SCRAM-SHA-256$4096:"), "{verifier}");
    let keys = verifier.rsplit_once('$').unwrap().1;
    let shown = redactor.redact(&format!("psql echoed {verifier} and {keys}"));
    assert!(!shown.contains(keys), "{shown}");
    for key in keys.split(':') {
        assert!(!shown.contains(key), "{shown}");
    }
}

#[test]
fn sha256_is_the_hex_digest_redis_stores_and_is_masked_in_a_run() {
    let redactor = crate::redact::Redactor::new();
    let env = environment_redacting(&redactor);
    let ctx = minijinja::context! { pw => "abc" };
    let hash = render(&env, "{{ pw | sha256 }}", &ctx).unwrap();
    // `printf abc | sha256sum`
    assert_eq!(
        hash,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(
        !redactor
            .redact(&format!("ERR ... '!{hash}'"))
            .contains(&hash)
    );
}
