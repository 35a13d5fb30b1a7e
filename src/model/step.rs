//! The serde types of a step: common fields and exactly one kind.
//!
//! Every kind is a field of `Step` rather than a variant of a tagged enum because spans
//! (`Spanned<T>`) are lost inside flattened or tagged enums, and the checker points its
//! diagnostics at these spans.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::HumanDuration;
use super::kinds::{
    EnvSpec, ExecSpec, FileSpec, GenerateSpec, ManualSpec, ReportSpec, RotateSpec, VerifySpec,
};

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique in the runbook: `[a-z0-9-]+`.
    #[schemars(with = "String", regex(pattern = r"^[a-z0-9-]+$"))]
    pub id: Spanned<String>,
    pub description: Option<String>,
    /// Steps that must complete before this one starts.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub needs: Vec<Spanned<String>>,
    /// An expression; the step is skipped when it is false.
    #[schemars(with = "Option<String>")]
    pub when: Option<Box<Spanned<String>>>,
    #[schemars(with = "Option<HumanDuration>")]
    pub timeout: Option<Box<Spanned<HumanDuration>>>,
    /// How many times a failing step is tried again.
    pub retries: Option<u32>,
    /// The pause between tries.
    pub interval: Option<super::Interval>,
    /// Each pause between tries is this many times the one before (default 1: a fixed
    /// `interval`).
    #[schemars(range(min = 1))]
    pub backoff: Option<u32>,
    /// How to undo this step, or `none`.
    pub rollback: Option<Rollback>,
    /// `resume` may re-run this `exec` step when it was cut off.
    #[serde(default)]
    pub idempotent: bool,
    /// How `resume` asks whether a cut-off `exec` step's effect is in place.
    pub check: Option<Box<ExecSpec>>,
    /// The point of no return: the run asks before crossing it unless `--yes`.
    #[serde(default)]
    pub irreversible: bool,
    /// A question the operator must confirm before the step runs.
    pub confirm: Option<String>,
    /// `activate` (the default) or `retire`: retire steps run once the secret's `overlap`
    /// has passed (`runbook retire`), or right after the activate steps in incident mode.
    #[schemars(with = "Option<super::Phase>")]
    pub phase: Option<Box<Spanned<super::Phase>>>,
    /// Where the step runs, once per matching host: a host or group pattern (default: the
    /// runbook's `on`, else the machine `runbook` runs on).
    #[schemars(with = "Option<String>")]
    pub on: Option<Box<Spanned<String>>>,

    // Boxed: a step has one kind, and nine bodies inline made every parsed step several
    // kilobytes (the memory of a 100,000-step plan).
    pub generate: Option<Box<GenerateSpec>>,
    pub exec: Option<Box<ExecSpec>>,
    pub env: Option<Box<EnvSpec>>,
    pub file: Option<Box<FileSpec>>,
    /// Services to restart through the configured restart driver.
    pub restart: Option<Vec<String>>,
    pub verify: Option<Box<VerifySpec>>,
    pub manual: Option<Box<ManualSpec>>,
    pub rotate: Option<Box<RotateSpec>>,
    pub report: Option<Box<ReportSpec>>,
}

/// One kind a step declares, borrowed: the checker counts them (a step must declare exactly
/// one) and reads the one it found. After the checker, a step's kind is `checked::StepKind`.
#[derive(Debug, Clone, Copy)]
pub enum KindRef<'a> {
    Generate(&'a GenerateSpec),
    Exec(&'a ExecSpec),
    Env(&'a EnvSpec),
    File(&'a FileSpec),
    Restart(&'a [String]),
    Verify(&'a VerifySpec),
    Manual(&'a ManualSpec),
    Rotate(&'a RotateSpec),
    Report(&'a ReportSpec),
}

impl KindRef<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            KindRef::Generate(_) => "generate",
            KindRef::Exec(_) => "exec",
            KindRef::Env(_) => "env",
            KindRef::File(_) => "file",
            KindRef::Restart(_) => "restart",
            KindRef::Verify(_) => "verify",
            KindRef::Manual(_) => "manual",
            KindRef::Rotate(_) => "rotate",
            KindRef::Report(_) => "report",
        }
    }
}

impl Step {
    /// The phase this step belongs to (`activate` unless it says `retire`).
    pub fn phase(&self) -> super::Phase {
        self.phase.as_ref().map(|p| p.value).unwrap_or_default()
    }

    /// All kinds this step declares; the checker requires exactly one.
    pub fn kinds(&self) -> Vec<KindRef<'_>> {
        let mut kinds = Vec::with_capacity(1);
        if let Some(k) = &self.generate {
            kinds.push(KindRef::Generate(k));
        }
        if let Some(k) = &self.exec {
            kinds.push(KindRef::Exec(k));
        }
        if let Some(k) = &self.env {
            kinds.push(KindRef::Env(k));
        }
        if let Some(k) = &self.file {
            kinds.push(KindRef::File(k));
        }
        if let Some(k) = &self.restart {
            kinds.push(KindRef::Restart(k));
        }
        if let Some(k) = &self.verify {
            kinds.push(KindRef::Verify(k));
        }
        if let Some(k) = &self.manual {
            kinds.push(KindRef::Manual(k));
        }
        if let Some(k) = &self.rotate {
            kinds.push(KindRef::Rotate(k));
        }
        if let Some(k) = &self.report {
            kinds.push(KindRef::Report(k));
        }
        kinds
    }
}

/// How a step is undone: `none`, or a step body of its own.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Rollback {
    /// `none`: nothing to undo (or nothing can be undone).
    None(NoneKeyword),
    Body(Box<RollbackBody>),
}

#[derive(Debug, Serialize, JsonSchema)]
pub enum NoneKeyword {
    #[serde(rename = "none")]
    None,
}

/// The body of a rollback: one kind, without the scheduling fields of a step.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    pub description: Option<String>,
    pub timeout: Option<HumanDuration>,
    pub exec: Option<ExecSpec>,
    pub env: Option<EnvSpec>,
    pub file: Option<FileSpec>,
    pub restart: Option<Vec<String>>,
    pub manual: Option<ManualSpec>,
}

/// One kind a rollback body declares, borrowed; the checker requires exactly one.
#[derive(Debug, Clone, Copy)]
pub enum RollbackRef<'a> {
    Exec(&'a ExecSpec),
    Env(&'a EnvSpec),
    File(&'a FileSpec),
    Manual(&'a ManualSpec),
    Restart(&'a [String]),
}

impl RollbackBody {
    /// All kinds this body declares, in a fixed order; the checker requires exactly one.
    pub fn kinds(&self) -> Vec<RollbackRef<'_>> {
        let exec = self.exec.as_ref().map(RollbackRef::Exec);
        let env = self.env.as_ref().map(RollbackRef::Env);
        let file = self.file.as_ref().map(RollbackRef::File);
        let manual = self.manual.as_ref().map(RollbackRef::Manual);
        let restart = self.restart.as_deref().map(RollbackRef::Restart);
        [exec, env, file, manual, restart]
            .into_iter()
            .flatten()
            .collect()
    }
}

impl<'de> Deserialize<'de> for Rollback {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RollbackVisitor;
        impl<'de> serde::de::Visitor<'de> for RollbackVisitor {
            type Value = Rollback;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`none` or a step body such as `exec: {...}`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Rollback, E> {
                if v == "none" {
                    Ok(Rollback::None(NoneKeyword::None))
                } else {
                    Err(E::custom(format!(
                        "rollback must be `none` or a step body, not `{v}`"
                    )))
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Rollback, A::Error> {
                RollbackBody::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|body| Rollback::Body(Box::new(body)))
            }
        }
        deserializer.deserialize_any(RollbackVisitor)
    }
}

/// Extra environment for a child: names to template strings.
pub type EnvMap = BTreeMap<String, String>;
