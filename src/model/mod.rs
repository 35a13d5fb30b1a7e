//! Serde types of runbooks and the project config. No I/O happens here.

mod config;
mod duration;
mod interval;
mod inventory;
mod kinds;
mod ordered;
mod phase;
mod runbook;
mod share;
mod step;

pub use config::{Config, DEFAULT_RESTART, GroupSpec, HostSpec, RestartDriver, default_vars};
pub use duration::HumanDuration;
pub use interval::Interval;
pub use inventory::{AnsibleGroup, AnsibleInventory, Scalar};
pub use kinds::{
    Charset, Command, Encoding, EnvSpec, ExecSpec, Expect, FileSpec, GenerateSpec, HttpCheck,
    ManualInput, ManualSpec, ReportSpec, RotateSpec, TcpCheck, VerifySpec, input_variable,
};
pub use ordered::Ordered;
pub use phase::Phase;
pub use runbook::{InputSpec, Mode, Policy, Runbook, SecretSpec};
pub use share::{HostShare, Share};
pub use step::{EnvMap, KindRef, NoneKeyword, Rollback, RollbackBody, RollbackRef, Step};
