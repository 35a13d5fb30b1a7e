//! Human durations as written in runbooks: `500ms`, `2s`, `5m`, `1h30m`, `90d`, `2w`.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// A duration parsed from runbook text. It keeps the original spelling so that plans and
/// reports show what the author wrote rather than a normalised number of seconds.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HumanDuration {
    pub duration: Duration,
    pub text: String,
}

impl HumanDuration {
    /// Parses `<number><unit>` groups, e.g. `1h30m`. Units: ms, s, m, h, d, w.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("a duration cannot be empty".into());
        }
        let mut total = Duration::ZERO;
        let mut rest = trimmed;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!(
                    "`{trimmed}` is not a duration (expected e.g. `30s`, `5m`, `90d`)"
                ));
            }
            let number: u64 = rest[..digits]
                .parse()
                .map_err(|_| format!("`{trimmed}` is too large"))?;
            rest = &rest[digits..];
            if rest.starts_with(['.', ',']) {
                return Err(format!(
                    "`{trimmed}` has a fraction: a duration is whole numbers, each with a unit (ms, s, m, h, d or w), e.g. `1500ms` or `1m30s`"
                ));
            }
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit_seconds: Option<u64> = match &rest[..unit_len] {
                "ms" => None,
                "s" => Some(1),
                "m" => Some(60),
                "h" => Some(3_600),
                "d" => Some(86_400),
                "w" => Some(604_800),
                _ => {
                    return Err(format!(
                        "`{trimmed}` has no valid unit: write whole numbers, each with a unit (ms, s, m, h, d or w), e.g. `30s` or `1h30m`"
                    ));
                }
            };
            rest = &rest[unit_len..];
            let part = match unit_seconds {
                None => Duration::from_millis(number),
                Some(factor) => Duration::from_secs(
                    number
                        .checked_mul(factor)
                        .ok_or_else(|| format!("`{trimmed}` is too large"))?,
                ),
            };
            total = total
                .checked_add(part)
                .ok_or_else(|| format!("`{trimmed}` is too large"))?;
        }
        Ok(Self {
            duration: total,
            text: trimmed.to_string(),
        })
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h|d|w))+$",
            "description": "A duration such as `500ms`, `30s`, `5m`, `1h30m`, `90d` or `2w`."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!(
            HumanDuration::parse("1h30m").unwrap().duration,
            Duration::from_secs(5_400)
        );
        assert_eq!(
            HumanDuration::parse("90d").unwrap().duration,
            Duration::from_secs(7_776_000)
        );
        assert_eq!(
            HumanDuration::parse("250ms").unwrap().duration,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn rejects_words_and_missing_units() {
        assert!(HumanDuration::parse("ten").is_err());
        assert!(HumanDuration::parse("10").is_err());
        assert!(HumanDuration::parse("10y").is_err());
        let fraction = HumanDuration::parse("1.5s").unwrap_err();
        assert!(
            fraction.contains("has a fraction") && fraction.contains("1500ms"),
            "{fraction}"
        );
    }
}
