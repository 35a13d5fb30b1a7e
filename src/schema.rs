//! The JSON Schemas of runbooks and the config, generated from the serde types so that
//! editors complete and check exactly what the loader accepts.

use crate::model::{Config, Runbook};

pub(crate) fn runbook_schema() -> String {
    pretty(&schemars::schema_for!(Runbook))
}

pub(crate) fn config_schema() -> String {
    pretty(&schemars::schema_for!(Config))
}

fn pretty(schema: &schemars::Schema) -> String {
    let mut text =
        serde_json::to_string_pretty(schema).expect("a schema always serialises; this is a bug");
    text.push('\n');
    text
}
