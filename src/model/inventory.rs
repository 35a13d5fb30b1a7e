//! The serde types of an Ansible YAML inventory (`--inventory FILE`): groups at the top
//! (usually `all`), each with `hosts`, `vars` and `children`, nested to any depth. Connection
//! variables (`ansible_host`, `ansible_port`, ...) are host or group vars like any other.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Ordered;

/// Top-level groups by name, in file order (hosts run in the order the file lists them).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct AnsibleInventory {
    pub groups: Ordered<Option<AnsibleGroup>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnsibleGroup {
    /// Host names, each with its vars (or nothing).
    #[serde(default)]
    pub hosts: Option<Ordered<Option<BTreeMap<String, Scalar>>>>,
    #[serde(default)]
    pub vars: Option<BTreeMap<String, Scalar>>,
    #[serde(default)]
    pub children: Option<Ordered<Option<AnsibleGroup>>>,
}

/// A variable's value: inventories write ports and flags as numbers and booleans; template
/// vars are text, so they are kept as YAML wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl serde::de::Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a text, number or boolean (lists and maps are not template vars)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}
