//! The command line: clap types only. `parse` turns arguments into plain options, so nothing
//! past this module knows clap.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use crate::commands::{Color, Global, Invocation, RetireOptions, RunFlags, RunOptions};

mod completion;
mod formats;
mod refuse;

use completion::{registration, run_candidates, runbook_candidates, secret_candidates};
use formats::{
    ColorArg, GraphFormatArg, ListFormatArg, PlanFormatArg, RunFormatArg, StatusFormatArg,
    graph_format, list_format, plan_format, run_format, status_format,
};
use refuse::refuse;

/// The exit codes for `--help`, from the same table as the README's (tests/codes.rs). Built
/// once: clap's commands ask for it nine times on every start, `--help` or not, and
/// formatting it nine times was 7% of the instructions of `runbook --version`.
fn exit_codes() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = String::from("Exit codes:");
        for (code, meaning) in crate::codes::EXIT_CODES {
            text.push_str(&format!("\n  {code:<4} {meaning}"));
        }
        text
    })
}

#[derive(Parser)]
#[command(
    name = "runbook",
    version,
    about = "Declarative runbooks for secret rotation: planned as a DAG, undone on failure, never printing a secret.",
    after_help = exit_codes()
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
    /// An Ansible YAML inventory: its hosts and groups join the config's.
    #[arg(long, global = true, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Act only on the hosts this pattern selects (`web1`, `api:!canary`, `web*`).
    #[arg(long, global = true, value_name = "PATTERN")]
    limit: Option<String>,
    /// More log output (-v info, -vv debug, -vvv trace). Secrets are masked at every level.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less output: errors only (a run prints its failures, warnings and manual steps).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// When to colour output (`NO_COLOR` is honoured by `auto`).
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
}

// Deferred: each subcommand's own arguments are built only when it is the one invoked (or
// help or completions need them all); building all thirteen was a sixth of the instructions
// of `runbook --version`.
#[derive(Subcommand)]
#[command(defer = true)]
enum CommandArg {
    /// Runbooks and the secrets they rotate.
    List {
        #[arg(long, value_enum, default_value_t = ListFormatArg::Text)]
        format: ListFormatArg,
    },
    /// Check runbooks and report every problem at once.
    #[command(after_help = exit_codes())]
    Validate {
        /// Files or directories (default: the configured runbooks directory).
        paths: Vec<PathBuf>,
    },
    /// Show what a run would do, step by step, without doing it.
    #[command(after_help = exit_codes())]
    Plan {
        /// The runbook's `name:` (`runbook list` shows them).
        #[arg(value_name = "RUNBOOK", add = ArgValueCandidates::new(runbook_candidates))]
        runbook: String,
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long, value_enum, default_value_t = PlanFormatArg::Text)]
        format: PlanFormatArg,
    },
    /// Execute a runbook: steps in parallel where independent, undone in reverse on failure.
    #[command(after_help = exit_codes())]
    Run {
        /// The runbook's `name:` (`runbook list` shows them).
        #[arg(value_name = "RUNBOOK", add = ArgValueCandidates::new(runbook_candidates))]
        runbook: String,
        #[command(flatten)]
        target: TargetArgs,
        /// Show what each step would do (env edits as a masked diff) and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Answer confirmations (proceed? the point of no return?) without asking, for runs
        /// with no terminal. Never a manual step: a run that reaches one with nobody at a
        /// terminal stops, awaiting the operator (exit 3), until `resume`.
        #[arg(long)]
        yes: bool,
        /// Steps run at once, at least 1 (default: CPU count; 1 for a plan of one step).
        #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        jobs: Option<usize>,
        #[arg(long, value_enum, default_value_t = RunFormatArg::Text)]
        format: RunFormatArg,
    },
    /// Finish an interrupted run from its journal.
    #[command(after_help = exit_codes())]
    Resume {
        /// The run's id, printed when it started (`runbook history` lists them).
        #[arg(value_name = "RUN_ID", add = ArgValueCandidates::new(run_candidates))]
        run_id: String,
        /// Answer confirmations without asking (for automation, where no terminal is attached).
        #[arg(long)]
        yes: bool,
        /// Say that you did what the manual step STEP asks (as `runbook/step`, or the step's
        /// id alone). Only a step the run is awaiting is accepted; repeat for several.
        #[arg(long, value_name = "STEP")]
        done: Vec<String>,
    },
    /// Roll an interrupted run back.
    #[command(after_help = exit_codes())]
    Abort {
        /// The run's id, printed when it started (`runbook history` lists them).
        #[arg(value_name = "RUN_ID", add = ArgValueCandidates::new(run_candidates))]
        run_id: String,
        /// Answer confirmations without asking (for automation, where no terminal is attached).
        #[arg(long)]
        yes: bool,
    },
    /// Run the retire phase of a rotation waiting for it: the old value stops verifying.
    ///
    /// A rotation whose runbook declares an `overlap` ends waiting for retire: the new value
    /// in use, the old one still verifying. This runs the rest once the overlap has passed.
    #[command(after_help = exit_codes())]
    Retire {
        /// The secret: its id or any of its env names (`runbook status` shows those waiting).
        #[arg(value_name = "SECRET", add = ArgValueCandidates::new(secret_candidates))]
        secret: String,
        /// Retire before the due date (tokens or sessions made with the old value stop
        /// working then).
        #[arg(long)]
        now: bool,
        /// Answer the confirmation without asking, for runs with no terminal.
        #[arg(long)]
        yes: bool,
    },
    /// Secrets due or overdue for rotation.
    #[command(after_help = exit_codes())]
    Status {
        #[arg(long, value_enum, default_value_t = StatusFormatArg::Text)]
        format: StatusFormatArg,
        /// Exit 1 when any secret is overdue (for cron).
        #[arg(long)]
        check: bool,
    },
    /// The audit log: who rotated what, when, and how it ended.
    History {
        #[arg(long, value_enum, default_value_t = ListFormatArg::Text)]
        format: ListFormatArg,
    },
    /// The compromise implication graph: which secrets rotate together.
    Graph {
        #[arg(long, value_enum, default_value_t = GraphFormatArg::Dot)]
        format: GraphFormatArg,
    },
    /// Print the JSON Schema of runbooks (or of the config).
    Schema {
        /// `runbook` or `config`.
        #[arg(default_value = "runbook")]
        which: String,
    },
    /// Print the shell script that completes commands, runbook names and run ids.
    ///
    /// bash and zsh: `source <(runbook completions bash)` (in ~/.bashrc or ~/.zshrc to keep
    /// it); fish: `runbook completions fish | source`. The script asks `runbook` itself for the
    /// names, so it follows the runbooks and runs of the directory you are in.
    Completions {
        /// bash, elvish, fish, powershell or zsh.
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
struct TargetArgs {
    /// The compromised or target secret: its id or any of its env names.
    #[arg(long, value_name = "ID", add = ArgValueCandidates::new(secret_candidates))]
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

/// Parses the process arguments; usage errors exit 2 through clap, as documented.
pub(crate) fn parse() -> (Global, Invocation) {
    // A shell asking for completions (`COMPLETE=bash runbook -- ...`) is answered and exits.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    let cli = Cli::try_parse().unwrap_or_else(|error| refuse(error));
    let g = cli.global;
    let global = Global {
        config: g.config,
        vars: g.vars,
        state_dir: g.state_dir,
        inventory: g.inventory,
        limit: g.limit,
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
            format: list_format(format),
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
            format: plan_format(format),
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
                format: run_format(format),
            },
        },
        CommandArg::Resume { run_id, yes, done } => Invocation::Resume { run_id, yes, done },
        CommandArg::Abort { run_id, yes } => Invocation::Abort { run_id, yes },
        CommandArg::Retire { secret, now, yes } => {
            Invocation::Retire(RetireOptions { secret, now, yes })
        }
        CommandArg::Status { format, check } => Invocation::Status {
            format: status_format(format),
            check,
        },
        CommandArg::History { format } => Invocation::History {
            format: list_format(format),
        },
        CommandArg::Graph { format } => Invocation::Graph {
            format: graph_format(format),
        },
        CommandArg::Schema { which } => Invocation::Schema { which },
        CommandArg::Completions { shell } => Invocation::Print(registration(shell)),
    };
    (global, invocation)
}
