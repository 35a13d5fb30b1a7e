//! What a run takes from outside before it starts: secret inputs (file, environment, never
//! the command line), manual steps and their operator, vars built on vars, `when` decided
//! from inputs, and which variables may be shown.

mod common;

use common::Test;

const INPUT_RUNBOOK: &str = "name: provider\nsecret: { id: provider, env: [PROVIDER_TOKEN], every: provider, impact: none }\nsteps:\n  - id: create\n    manual:\n      instructions: Create a new token in the provider console.\n      input: { name: token, secret: true }\n  - id: write\n    needs: [create]\n    env: { set: { PROVIDER_TOKEN: \"{{ steps.create.input }}\" } }\n  - id: echo\n    needs: [write]\n    exec:\n      run: 'echo \"token is $T\"'\n      env: { T: \"{{ steps.create.input }}\" }\n";

#[test]
fn secret_input_from_a_file_is_applied_and_never_printed() {
    let test = Test::new()
        .file("runbooks/provider.yaml", INPUT_RUNBOOK)
        .file(".env.prod", "PROVIDER_TOKEN=old-provider-token\n")
        .file("token.txt", "new-provider-token-CANARY\n")
        .args(&["run", "provider", "--input", "token=@token.txt"]);
    let run = test.run();
    run.expect_code(0);
    assert_eq!(
        test.read(".env.prod"),
        b"PROVIDER_TOKEN=new-provider-token-CANARY\n"
    );
    assert!(
        !run.stdout.contains("CANARY") && !run.stderr.contains("CANARY"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert!(run.stdout.contains("token is ********"), "{}", run.stdout);
}

#[test]
fn missing_secret_input_without_a_terminal_exits_2_and_changes_nothing() {
    let test = Test::new()
        .file("runbooks/provider.yaml", INPUT_RUNBOOK)
        .file(".env.prod", "PROVIDER_TOKEN=old-provider-token\n")
        .args(&["run", "provider"]);
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("input `token` is needed and there is no terminal"),
        "{}",
        run.stderr
    );
    assert_eq!(
        test.read(".env.prod"),
        b"PROVIDER_TOKEN=old-provider-token\n"
    );
    assert!(
        !test.path().join(".runbook").exists(),
        "nothing was created"
    );
}

#[test]
fn literal_value_for_a_secret_input_is_refused_without_echoing_it() {
    let test = Test::new()
        .file("runbooks/provider.yaml", INPUT_RUNBOOK)
        .file(".env.prod", "PROVIDER_TOKEN=old-provider-token\n")
        .args(&["run", "provider", "--input", "token=literal-CANARY-value"]);
    let run = test.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("cannot be given on the command line"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("CANARY"));
}

#[test]
fn secret_input_from_the_environment_is_accepted() {
    let test = Test::new()
        .file("runbooks/provider.yaml", INPUT_RUNBOOK)
        .file(".env.prod", "PROVIDER_TOKEN=old-provider-token\n")
        .env("RUNBOOK_INPUT_TOKEN", "env-provider-token-CANARY")
        .args(&["run", "provider"]);
    let run = test.run();
    run.expect_code(0);
    assert_eq!(
        test.read(".env.prod"),
        b"PROVIDER_TOKEN=env-provider-token-CANARY\n"
    );
    assert!(!run.stdout.contains("CANARY"));
}

#[test]
fn manual_step_without_terminal_needs_yes() {
    let runbook = "name: ask\nsteps:\n  - id: look\n    manual: { instructions: Look at the dashboard. }\n  - id: after\n    needs: [look]\n    exec: { run: touch after }\n";
    let test = Test::new()
        .file("runbooks/ask.yaml", runbook)
        .args(&["run", "ask"]);
    test.run().expect_code(2);
    assert!(!test.path().join("after").exists());
    let yes = Test::new()
        .file("runbooks/ask.yaml", runbook)
        .args(&["run", "ask", "--yes"]);
    let run = yes.run();
    run.expect_code(0);
    assert!(
        run.stdout.contains("Look at the dashboard.") && run.stdout.contains("confirmed by --yes"),
        "{}",
        run.stdout
    );
    assert!(yes.path().join("after").exists());
}

#[test]
fn vars_build_on_other_vars_and_the_config_overrides_runbook_defaults() {
    let runbook = "name: layered\nvars:\n  word: runbook-default\n  command: 'echo {{ vars.word }}'\nsteps:\n  - id: say\n    exec: { run: '{{ vars.command }} > said' }\n";
    let test = Test::new()
        .file("runbooks/layered.yaml", runbook)
        .file("runbook.yaml", "vars:\n  word: from-config\n")
        .args(&["run", "layered"]);
    test.run().expect_code(0);
    assert_eq!(test.read("said"), b"from-config\n");
    let overridden = Test::new().file("runbooks/layered.yaml", runbook).args(&[
        "run",
        "layered",
        "--var",
        "word=from-flag",
    ]);
    overridden.run().expect_code(0);
    assert_eq!(overridden.read("said"), b"from-flag\n");
}

#[test]
fn a_when_that_is_false_from_inputs_needs_no_operator_and_skips_its_restart() {
    let runbook = "name: optional\ninputs:\n  loud: { default: 'no' }\nsteps:\n  - id: ask\n    when: inputs.loud == 'yes'\n    manual: { instructions: Shout., input: { name: shout, secret: true } }\n  - id: bounce\n    when: inputs.loud == 'yes'\n    restart: [api]\n  - id: after\n    needs: [ask, bounce]\n    exec: { run: touch after }\n";
    let config = "restart:\n  run: 'echo {{ services | join(\" \") }} >> restarts.log'\n";
    let test = Test::new()
        .file("runbooks/optional.yaml", runbook)
        .file("runbook.yaml", config)
        .args(&["run", "optional"]);
    let run = test.run();
    run.expect_code(0);
    assert!(test.path().join("after").exists());
    assert!(
        !test.path().join("restarts.log").exists(),
        "the skipped restart did not run: {}",
        run.stdout
    );
    let loud = Test::new()
        .file("runbooks/optional.yaml", runbook)
        .file("runbook.yaml", config)
        .args(&["run", "optional", "--input", "loud=yes"]);
    let run = loud.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("input `shout` is needed"),
        "{}",
        run.stderr
    );
}

#[test]
fn public_variables_are_shown_and_the_others_stay_masked() {
    let runbook = r#"name: pair
secret: { id: pair, env: [PAIR_ID, PAIR_SECRET], public: [PAIR_ID], every: 90d, impact: none }
steps:
  - id: show
    exec:
      run: 'echo "id=$ID secret=$SECRET"'
      env: { ID: "{{ secret.values.PAIR_ID }}", SECRET: "{{ secret.values.PAIR_SECRET }}" }
"#;
    let test = Test::new()
        .file("runbooks/pair.yaml", runbook)
        .file(
            ".env.prod",
            "PAIR_ID=AKIA-visible-id\nPAIR_SECRET=hidden-pair-secret\n",
        )
        .args(&["run", "pair"]);
    let run = test.run();
    run.expect_code(0);
    assert!(
        run.stdout.contains("id=AKIA-visible-id secret=********"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("hidden-pair-secret"));
}

#[test]
fn public_must_name_an_owned_variable() {
    let runbook = "name: pair\nsecret: { id: pair, env: [PAIR_SECRET], public: [PAIR_ID], every: 90d, impact: none }\nsteps:\n  - id: a\n    exec: { run: 'true' }\n";
    let run = Test::new()
        .file("runbooks/pair.yaml", runbook)
        .args(&["validate"])
        .run();
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("`public` names `PAIR_ID`, which is not in `env`"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_hint_names_the_input_variable_that_is_really_read() {
    // A dash cannot be in a shell variable's name: such an input is refused before any run,
    // so no hint can name a variable nobody can set.
    let dashed = Test::new()
        .file(
            "runbooks/provider.yaml",
            &INPUT_RUNBOOK.replace("name: token", "name: new-token"),
        )
        .file(".env.prod", "PROVIDER_TOKEN=old-provider-token\n")
        .args(&["run", "provider"]);
    let run = dashed.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("provider.yaml:7") && !run.stderr.contains("NEW-TOKEN"),
        "{}",
        run.stderr
    );
    let runbook = INPUT_RUNBOOK.replace("name: token", "name: new_token");
    let missing = Test::new()
        .file("runbooks/provider.yaml", &runbook)
        .file(".env.prod", "PROVIDER_TOKEN=old-provider-token\n")
        .args(&["run", "provider"]);
    let run = missing.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("RUNBOOK_INPUT_NEW_TOKEN"),
        "{}",
        run.stderr
    );
    let literal = Test::new()
        .file("runbooks/provider.yaml", &runbook)
        .file(".env.prod", "PROVIDER_TOKEN=old-provider-token\n")
        .args(&["run", "provider", "--input", "new_token=literal-CANARY"]);
    let run = literal.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("RUNBOOK_INPUT_NEW_TOKEN"),
        "{}",
        run.stderr
    );
    // The variable the hint names is the one that is read.
    let from_env = Test::new()
        .file("runbooks/provider.yaml", &runbook)
        .file(".env.prod", "PROVIDER_TOKEN=old-provider-token\n")
        .env("RUNBOOK_INPUT_NEW_TOKEN", "env-provider-token-CANARY")
        .args(&["run", "provider"]);
    from_env.run().expect_code(0);
    assert_eq!(
        from_env.read(".env.prod"),
        b"PROVIDER_TOKEN=env-provider-token-CANARY\n"
    );
}

/// A templated `interval` that does not render to a duration is refused before anything runs.
#[test]
fn a_templated_interval_that_is_no_duration_is_refused_before_anything_runs() {
    let test = Test::new()
        .file(
            "runbooks/pause.yaml",
            "name: pause\nvars: { pause: 1s }\nsteps:\n  - id: mark\n    exec: { run: touch marker }\n  - id: wait\n    needs: [mark]\n    verify:\n      exec: { run: 'false' }\n      retries: 1\n      interval: \"{{ vars.pause }}\"\n",
        )
        .args(&["run", "pause", "--yes", "--var", "pause=soon"]);
    let run = test.run();
    run.expect_code(2);
    // The value checker names the rendered value and points at the template's line.
    assert!(
        run.stderr.contains("`interval`: `soon` is not a duration")
            && run.stderr.contains("pause.yaml:11"),
        "{}",
        run.stderr
    );
    assert!(!test.path().join("marker").exists(), "nothing ran");
}
