//! The pause between a step's tries: a duration, or a template of one
//! (`"{{ vars.migrate_retry_interval }}"`) that a deployment or a test can shorten without
//! editing the runbook. A template is rendered when the step runs; preflight renders it first,
//! so a bad value is refused before anything changes.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use super::HumanDuration;

#[derive(Clone, Debug)]
pub struct Interval {
    /// As written.
    pub text: String,
    /// The duration, when the text is not a template.
    fixed: Option<Duration>,
}

impl Interval {
    pub fn is_template(&self) -> bool {
        self.fixed.is_none()
    }

    /// The duration, rendering a template with `render` first.
    pub fn resolve(
        &self,
        render: impl FnOnce(&str) -> Result<String, String>,
    ) -> Result<Duration, String> {
        if let Some(fixed) = self.fixed {
            return Ok(fixed);
        }
        let rendered = render(&self.text)?;
        HumanDuration::parse(&rendered)
            .map(|d| d.duration)
            .map_err(|e| format!("`interval` ({}): {e}", self.text))
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let fixed = if crate::template::is_template(&text) {
            None
        } else {
            Some(
                HumanDuration::parse(&text)
                    .map_err(serde::de::Error::custom)?
                    .duration,
            )
        };
        Ok(Self { text, fixed })
    }
}

/// As written: deserializing the text again gives the same interval.
impl serde::Serialize for Interval {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl JsonSchema for Interval {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Interval".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(([0-9]+(ms|s|m|h|d|w))+|.*\\{\\{.*\\}\\}.*)$",
            "description": "A duration such as `500ms`, `2s` or `1m`, or a template that renders to one, e.g. `{{ vars.retry_interval }}`."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Interval, String> {
        Interval::deserialize(
            serde::de::value::StrDeserializer::<serde::de::value::Error>::new(text),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_duration_is_fixed_and_a_template_is_rendered_when_resolved() {
        let fixed = parse("20s").unwrap();
        assert!(!fixed.is_template());
        assert_eq!(
            fixed.resolve(|_| unreachable!()),
            Ok(Duration::from_secs(20))
        );
        let template = parse("{{ vars.pause }}").unwrap();
        assert!(template.is_template());
        assert_eq!(
            template.resolve(|_| Ok("250ms".into())),
            Ok(Duration::from_millis(250))
        );
        let err = template.resolve(|_| Ok("soon".into())).unwrap_err();
        assert!(err.contains("`interval` ({{ vars.pause }})"), "{err}");
        assert!(parse("20 seconds").is_err());
    }
}
