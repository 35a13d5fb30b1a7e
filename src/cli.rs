//! The command line: clap types only. `parse` turns arguments into plain options, so nothing
//! past this module knows clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::{Color, Format, Global, Invocation, RunFlags, RunOptions};

#[derive(Parser)]
#[command(
    name = "runbook",
    version,
    about = "Declarative runbooks for secret rotation: planned as a DAG, undone on failure, never printing a secret."
)]
struct Cli {
    #[command(subcommand)]
    command: CommandArg,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(Args)]
struct GlobalArgs {
    /// The project config (default: ./runbook.yaml, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set a template variable, overriding the config and the runbook.
    #[arg(long = "var", global = true, value_name = "K=V", value_parser = key_value)]
    vars: Vec<(String, String)>,
    /// The state directory (default: the config's `state`, else ./.runbook).
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// More log output (-v info, -vv debug, -vvv trace). Secrets are masked at every level.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less output: errors only.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Dot,
    Mermaid,
    Prometheus,
}

#[derive(Subcommand)]
enum CommandArg {
    /// Runbooks and the secrets they rotate.
    List {
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
    },
    /// Check runbooks and report every problem at once.
    Validate {
        /// Files or directories (default: the configured runbooks directory).
        paths: Vec<PathBuf>,
    },
    /// Show what a run would do, step by step, without doing it.
    Plan {
        runbook: String,
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
    },
    /// Execute a runbook: steps in parallel where independent, undone in reverse on failure.
    Run {
        runbook: String,
        #[command(flatten)]
        target: TargetArgs,
        /// Show what each step would do (env edits as a masked diff) and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Answer confirmations and acknowledge manual steps (for automation).
        #[arg(long)]
        yes: bool,
        /// Steps run at once, at least 1 (default: CPU count).
        #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        jobs: Option<usize>,
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
    },
    /// Finish an interrupted run from its journal.
    Resume {
        run_id: String,
        #[arg(long)]
        yes: bool,
    },
    /// Roll an interrupted run back.
    Abort {
        run_id: String,
        #[arg(long)]
        yes: bool,
    },
    /// Secrets due or overdue for rotation.
    Status {
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
        /// Exit 1 when any secret is overdue (for cron).
        #[arg(long)]
        check: bool,
    },
    /// The audit log: who rotated what, when, and how it ended.
    History {
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
    },
    /// The compromise implication graph: which secrets rotate together.
    Graph {
        #[arg(long, value_enum, default_value_t = FormatArg::Dot)]
        format: FormatArg,
    },
    /// Print the JSON Schema of runbooks (or of the config).
    Schema {
        /// `runbook` or `config`.
        #[arg(default_value = "runbook")]
        which: String,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
}

#[derive(Args)]
struct TargetArgs {
    /// The compromised or target secret: its id or any of its env names.
    #[arg(long)]
    secret: Option<String>,
    /// An input value; secret inputs only as `name=@file` or RUNBOOK_INPUT_<NAME>.
    #[arg(long = "input", value_name = "K=V", value_parser = key_value)]
    inputs: Vec<(String, String)>,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{text}`")),
    }
}

fn format_of(arg: FormatArg) -> Format {
    match arg {
        FormatArg::Text => Format::Text,
        FormatArg::Json => Format::Json,
        FormatArg::Dot => Format::Dot,
        FormatArg::Mermaid => Format::Mermaid,
        FormatArg::Prometheus => Format::Prometheus,
    }
}

/// Parses the process arguments; usage errors exit 2 through clap, as documented.
pub fn parse() -> (Global, Invocation) {
    let cli = Cli::parse();
    let g = cli.global;
    let global = Global {
        config: g.config,
        vars: g.vars,
        state_dir: g.state_dir,
        verbose: g.verbose,
        quiet: g.quiet,
        color: match g.color {
            ColorArg::Auto => Color::Auto,
            ColorArg::Always => Color::Always,
            ColorArg::Never => Color::Never,
        },
    };
    let invocation = match cli.command {
        CommandArg::List { format } => Invocation::List {
            format: format_of(format),
        },
        CommandArg::Validate { paths } => Invocation::Validate { paths },
        CommandArg::Plan {
            runbook,
            target,
            format,
        } => Invocation::Plan {
            run: RunOptions {
                runbook,
                secret: target.secret,
                inputs: target.inputs,
            },
            format: format_of(format),
        },
        CommandArg::Run {
            runbook,
            target,
            dry_run,
            yes,
            jobs,
            format,
        } => Invocation::Run {
            run: RunOptions {
                runbook,
                secret: target.secret,
                inputs: target.inputs,
            },
            flags: RunFlags {
                dry_run,
                yes,
                jobs,
                format: format_of(format),
            },
        },
        CommandArg::Resume { run_id, yes } => Invocation::Resume { run_id, yes },
        CommandArg::Abort { run_id, yes } => Invocation::Abort { run_id, yes },
        CommandArg::Status { format, check } => Invocation::Status {
            format: format_of(format),
            check,
        },
        CommandArg::History { format } => Invocation::History {
            format: format_of(format),
        },
        CommandArg::Graph { format } => Invocation::Graph {
            format: format_of(format),
        },
        CommandArg::Schema { which } => Invocation::Schema { which },
        CommandArg::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "runbook", &mut out);
            Invocation::Print(out)
        }
    };
    (global, invocation)
}
