//! The checked-in JSON Schemas equal what `runbook schema` prints, and they accept every
//! shipped runbook.

mod common;

use common::{Test, repo};

#[test]
fn checked_in_schemas_match_the_generated_ones() {
    for (which, file) in [
        ("runbook", "runbook.schema.json"),
        ("config", "config.schema.json"),
    ] {
        let run = Test::new().args(&["schema", which]).run();
        run.expect_code(0);
        let checked_in =
            std::fs::read_to_string(repo().join("schemas").join(file)).expect("schema file");
        assert_eq!(
            run.stdout, checked_in,
            "schemas/{file} is stale: run `runbook schema {which} > schemas/{file}`"
        );
    }
}

#[test]
fn shipped_runbooks_conform_to_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schemas/runbook.schema.json")).expect("schema"),
    )
    .expect("json");
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    for entry in std::fs::read_dir(repo().join("runbooks")).expect("runbooks") {
        let path = entry.expect("entry").path();
        // The library's README sits beside the runbooks.
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("runbook");
        let value: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
}
