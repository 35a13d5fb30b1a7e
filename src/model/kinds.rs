//! The bodies of the step kinds: what each kind of step is told to do.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::HumanDuration;
use super::step::EnvMap;

/// `generate`: a value from the OS CSPRNG.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    /// Random bytes to draw, then encode with `encoding`.
    pub bytes: Option<u32>,
    pub encoding: Option<Encoding>,
    /// Characters to draw from `charset`.
    pub length: Option<u32>,
    pub charset: Option<Charset>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Base64,
    Base64url,
    Hex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Charset {
    /// `A-Z a-z 0-9`.
    Alnum,
    /// `a-z 0-9`.
    Lower,
    /// `0-9 a-f`.
    Hex,
    /// `0-9`.
    Digits,
    /// Printable ASCII without space, quotes, backslash and `$` (Compose interpolates `$`).
    Symbols,
}

/// `exec`: a command, as a `sh -c` string or an argv list.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecSpec {
    #[schemars(with = "Command")]
    pub run: Spanned<Command>,
    /// Bytes written to the command's stdin: the way to hand it a secret.
    // Boxed, as `expect`: most commands have neither, and inline they were half of every
    // exec step's memory (328 -> 168 bytes).
    #[schemars(with = "Option<String>")]
    pub stdin: Option<Box<Spanned<String>>>,
    /// Extra environment variables: the other way to hand it a secret.
    #[serde(default)]
    pub env: EnvMap,
    pub cwd: Option<String>,
    #[schemars(with = "Option<Expect>")]
    pub expect: Option<Box<Expect>>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Command {
    Shell(String),
    Argv(Vec<String>),
}

/// By hand rather than `untagged`: an untagged enum buffers every value before trying each
/// variant, which made this field alone a tenth of the time to load a large runbook, and its
/// error ("did not match any variant") names neither form.
impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandVisitor;
        impl<'de> serde::de::Visitor<'de> for CommandVisitor {
            type Value = Command;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a command: a string run by `sh -c`, or a list of program and arguments",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Command, E> {
                Ok(Command::Shell(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Command, E> {
                Ok(Command::Shell(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Command, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(Command::Argv)
            }
        }
        deserializer.deserialize_any(CommandVisitor)
    }
}

/// What an `exec` must produce to count as success.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The exit code (default 0).
    pub exit: Option<i32>,
    pub stdout_contains: Option<String>,
    /// An expression over the parsed JSON stdout (`json`) that must be true,
    /// e.g. `json.errors | length == 0`.
    #[schemars(with = "Option<String>")]
    pub json: Option<Spanned<String>>,
}

/// `env`: a lossless edit of a KEY=VALUE file.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvSpec {
    /// Defaults to the runbook's `secret.file`, then `{{ vars.env_file }}`.
    pub file: Option<String>,
    #[serde(default)]
    pub set: EnvMap,
    #[serde(default)]
    pub unset: Vec<String>,
    /// Create the file when it does not exist.
    #[serde(default)]
    pub create: bool,
    /// Append keys of `set` that the file does not have (otherwise a missing key is an error).
    #[serde(default)]
    pub append: bool,
}

/// `file`: an atomic whole-file write.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub path: String,
    pub content: String,
    /// Octal permission bits, e.g. `"0600"`.
    pub mode: Option<String>,
}

impl FileSpec {
    /// The permission bits `mode` names: octal (`0600`, `0o600`), at most `0o7777`. The
    /// checker refuses what this refuses, and the step writes what it returns.
    pub fn mode_bits(&self) -> Result<Option<u32>, String> {
        self.mode
            .as_deref()
            .map(
                |mode| match u32::from_str_radix(mode.trim_start_matches("0o"), 8) {
                    Ok(bits) if bits <= 0o7777 => Ok(bits),
                    _ => Err(format!("file mode `{mode}` is not octal permission bits")),
                },
            )
            .transpose()
    }
}

/// `verify`: a check that the new value is live.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifySpec {
    pub http: Option<HttpCheck>,
    pub tcp: Option<TcpCheck>,
    pub exec: Option<ExecSpec>,
    pub retries: Option<u32>,
    pub interval: Option<super::Interval>,
    pub timeout: Option<HumanDuration>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    pub url: String,
    #[serde(default = "default_status")]
    pub status: u16,
    pub body_contains: Option<String>,
    /// Request headers, e.g. an `Authorization` header carrying a token to prove is accepted.
    #[serde(default)]
    pub headers: EnvMap,
}

fn default_status() -> u16 {
    200
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    pub host: String,
    pub port: String,
}

/// `manual`: instructions for the operator, optionally reading a value.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualSpec {
    pub instructions: String,
    pub input: Option<ManualInput>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualInput {
    /// Supplied as `--input <name>=@file` or `RUNBOOK_INPUT_<NAME>`, or typed at a hidden prompt.
    pub name: String,
    /// Secret inputs (the default) are never echoed and never accepted literally on the command line.
    #[serde(default = "default_true")]
    pub secret: bool,
    /// An empty answer at the prompt skips it, and `resume --done STEP` goes on without a
    /// value: for what only sometimes exists, such as an incident's findings.
    #[serde(default)]
    pub optional: bool,
}

/// The environment variable an input is read from: `RUNBOOK_INPUT_` and the name in upper
/// case (the checker allows only letters, digits and `_` in input names, so a shell can set
/// it). Every message that names the variable uses this, so the hint is the variable read.
pub fn input_variable(name: &str) -> String {
    format!("RUNBOOK_INPUT_{}", name.to_uppercase())
}

fn default_true() -> bool {
    true
}

/// `rotate`: expands at plan time into the rotation runbook of a secret.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSpec {
    /// A secret id or env name; defaults to the run's `--secret`.
    #[schemars(with = "Option<String>")]
    pub secret: Option<Spanned<String>>,
    /// Also rotate every secret this one implies, transitively.
    #[serde(default)]
    pub implied: bool,
}

/// `report`: the post-incident report, written from the run's journal.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    pub path: String,
    pub title: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::FileSpec;

    fn mode(text: Option<&str>) -> Result<Option<u32>, String> {
        FileSpec {
            path: "f".into(),
            content: String::new(),
            mode: text.map(str::to_string),
        }
        .mode_bits()
    }

    #[test]
    fn file_modes_are_octal_permission_bits() {
        assert_eq!(mode(None), Ok(None));
        assert_eq!(mode(Some("0600")), Ok(Some(0o600)));
        assert_eq!(mode(Some("0o640")), Ok(Some(0o640)));
        assert!(mode(Some("0800")).is_err());
        assert!(mode(Some("17777")).is_err(), "beyond the permission bits");
    }
}
