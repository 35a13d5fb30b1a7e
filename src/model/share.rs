//! `serial` and `max_fail`: a number of hosts, or a percentage of the hosts a run acts on
//! (`2`, `"30%"`), as Ansible writes them. Kept as written; `parse` says what it means, and
//! the checker reports a value that means nothing at its line.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// As written in the runbook: `1`, `"25%"`.
#[derive(Clone, Debug)]
pub struct HostShare {
    pub text: String,
}

/// What a [`HostShare`] means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Share {
    Count(usize),
    /// 0 to 100.
    Percent(u8),
}

impl HostShare {
    pub fn parse(&self) -> Result<Share, String> {
        let text = self.text.trim();
        if let Some(number) = text.strip_suffix('%') {
            return match number.trim().parse::<u8>() {
                Ok(p) if p <= 100 => Ok(Share::Percent(p)),
                _ => Err(format!("`{text}` is not a percentage from 0% to 100%")),
            };
        }
        text.parse::<usize>().map(Share::Count).map_err(|_| {
            format!("`{text}` is neither a number of hosts nor a percentage like `25%`")
        })
    }
}

impl Share {
    /// How many of `total` hosts this is. A percentage rounds down, as Ansible's
    /// `max_fail_percentage` does; `at_least_one` rounds a batch up to one host.
    pub fn of(self, total: usize, at_least_one: bool) -> usize {
        let n = match self {
            Share::Count(n) => n,
            Share::Percent(p) => total * usize::from(p) / 100,
        };
        if at_least_one { n.max(1) } else { n }
    }
}

impl<'de> Deserialize<'de> for HostShare {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = HostShare;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of hosts or a percentage such as \"25%\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HostShare, E> {
                Ok(HostShare {
                    text: v.to_string(),
                })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HostShare, E> {
                Ok(HostShare {
                    text: v.to_string(),
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HostShare, E> {
                Ok(HostShare {
                    text: v.to_string(),
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// As written: deserializing the text again gives the same share.
impl serde::Serialize for HostShare {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl JsonSchema for HostShare {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HostShare".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^[0-9]+%$" }
            ],
            "description": "A number of hosts, or a percentage of the hosts the run acts on, e.g. `\"25%\"`."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(text: &str) -> Result<Share, String> {
        HostShare { text: text.into() }.parse()
    }

    #[test]
    fn counts_and_percentages_parse_and_bad_values_say_why() {
        assert_eq!(share("2"), Ok(Share::Count(2)));
        assert_eq!(share("25%"), Ok(Share::Percent(25)));
        assert!(share("120%").unwrap_err().contains("0% to 100%"));
        assert!(share("two").unwrap_err().contains("neither"));
        assert!(share("-1").is_err());
    }

    #[test]
    fn a_percentage_rounds_down_and_a_batch_is_never_empty() {
        assert_eq!(Share::Percent(50).of(3, false), 1);
        assert_eq!(Share::Percent(10).of(3, true), 1);
        assert_eq!(Share::Percent(10).of(3, false), 0);
        assert_eq!(Share::Count(2).of(3, true), 2);
    }
}
