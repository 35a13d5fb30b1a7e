//! The serde types of a runbook file: its header, secret, inputs and steps.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::step::Step;

/// One runbook file. Unknown keys are rejected so that a typo never silently disables a step.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "runbook",
    description = "A secret-rotation runbook executed by `runbook`."
)]
pub struct Runbook {
    /// Unique name; `runbook run <name>`.
    #[schemars(with = "String", regex(pattern = r"^[a-z0-9][a-z0-9-]*$"))]
    pub name: Spanned<String>,
    pub description: Option<String>,
    /// Present on rotation runbooks: the secret this runbook owns.
    pub secret: Option<SecretSpec>,
    /// `incident` runbooks pause on failure instead of restoring compromised values.
    #[serde(default)]
    pub mode: Mode,
    /// Operator-supplied values, available as `inputs.<name>`.
    #[serde(default)]
    pub inputs: BTreeMap<String, InputSpec>,
    /// Runbook-local template values, layered over the config's `vars`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Where the steps run: a host or group pattern of the inventory (`api`, `web*`,
    /// `api:!canary`). Without it, on the machine `runbook` runs on. A step's own `on`
    /// wins.
    #[schemars(with = "Option<String>")]
    pub on: Option<Spanned<String>>,
    /// Hosts in batches: the next batch starts once every step of the one before it has
    /// finished. A number of hosts or a percentage (`"25%"`); without it, one batch.
    #[schemars(with = "Option<super::HostShare>")]
    pub serial: Option<Spanned<super::HostShare>>,
    /// How many hosts may fail (a number or a percentage of the run's hosts) before the run
    /// stops and rolls every host back; 0 by default. A failed host is left as it failed
    /// for `resume` to retry, or `abort` to roll back with the rest.
    #[schemars(with = "Option<super::HostShare>")]
    pub max_fail: Option<Spanned<super::HostShare>>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Routine,
    Incident,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Routine => "routine",
            Mode::Incident => "incident",
        }
    }
}

/// The secret a rotation runbook owns, and its policy.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// What `--secret` matches (the env names match too).
    #[schemars(with = "String", regex(pattern = r"^[a-z0-9][a-z0-9-]*$"))]
    pub id: Spanned<String>,
    /// The variables this runbook owns (none only for `every: user` credentials that live in
    /// the application, such as user API keys).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub env: Vec<Spanned<String>>,
    /// Variables among `env` whose values identify rather than authenticate (an access key
    /// id, an account SID, a user name): shown in output so the operator can tell credentials
    /// apart. Every other value is masked everywhere.
    #[serde(default)]
    pub public: Vec<String>,
    /// Where the current value lives; defaults to `{{ vars.env_file }}`.
    pub file: Option<String>,
    /// Rotation policy: a duration such as `90d`, or `provider` / `user`.
    pub every: Policy,
    /// What a rotation costs users.
    pub impact: String,
    /// How long the old value keeps verifying after the new one is in use: a run ends
    /// waiting for retire, and `runbook retire` runs the steps marked `phase: retire` once
    /// this has passed (e.g. `7d`, the life of a refresh token).
    #[schemars(with = "Option<super::HumanDuration>")]
    pub overlap: Option<Spanned<super::HumanDuration>>,
    /// Secrets that rotate too when this one is compromised (transitively).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub implies: Vec<Spanned<String>>,
    /// Secrets that must never rotate in the same run as this one.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub conflicts: Vec<Spanned<String>>,
}

/// How often a secret must rotate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    Every(super::HumanDuration),
    /// The provider's policy decides; `status` shows it without a due date.
    Provider,
    /// Users rotate their own credentials.
    User,
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Policy::Every(d) => write!(f, "every {d}"),
            Policy::Provider => f.write_str("provider policy"),
            Policy::User => f.write_str("user responsibility"),
        }
    }
}

impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "provider" => Ok(Policy::Provider),
            "user" => Ok(Policy::User),
            other => super::HumanDuration::parse(other)
                .map(Policy::Every)
                .map_err(|e| serde::de::Error::custom(format!("{e}, or `provider` / `user`"))),
        }
    }
}

/// As written, so that deserializing it again gives the same policy.
impl Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Policy::Every(d) => d.serialize(serializer),
            Policy::Provider => serializer.serialize_str("provider"),
            Policy::User => serializer.serialize_str("user"),
        }
    }
}

impl JsonSchema for Policy {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Policy".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(provider|user|([0-9]+(ms|s|m|h|d|w))+)$",
            "description": "A duration such as `90d`, or `provider` / `user`."
        })
    }
}

/// An operator-supplied value.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub default: Option<String>,
    pub description: Option<String>,
    /// A secret input is never accepted as a literal `--input name=value`.
    #[serde(default)]
    pub secret: bool,
}
