//! The values of `--color` and of each command's `--format`, as clap parses them, and their
//! plain counterparts for the commands: each command takes only the formats it can write.

use clap::ValueEnum;

use crate::commands::{GraphFormat, ListFormat, PlanFormat, RunFormat, StatusFormat};

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum ColorArg {
    Auto,
    Always,
    Never,
}

/// `--format` of `list` and `history`.
#[derive(Clone, Copy, ValueEnum)]
pub(super) enum ListFormatArg {
    Text,
    Json,
}

/// `--format` of `plan`.
#[derive(Clone, Copy, ValueEnum)]
pub(super) enum PlanFormatArg {
    Text,
    Json,
    Dot,
    Mermaid,
}

/// `--format` of `run`.
#[derive(Clone, Copy, ValueEnum)]
pub(super) enum RunFormatArg {
    Text,
    Json,
}

/// `--format` of `status`.
#[derive(Clone, Copy, ValueEnum)]
pub(super) enum StatusFormatArg {
    Text,
    Json,
    Prometheus,
}

/// `--format` of `graph`.
#[derive(Clone, Copy, ValueEnum)]
pub(super) enum GraphFormatArg {
    Dot,
    Mermaid,
}

pub(super) fn list_format(arg: ListFormatArg) -> ListFormat {
    match arg {
        ListFormatArg::Text => ListFormat::Text,
        ListFormatArg::Json => ListFormat::Json,
    }
}

pub(super) fn plan_format(arg: PlanFormatArg) -> PlanFormat {
    match arg {
        PlanFormatArg::Text => PlanFormat::Text,
        PlanFormatArg::Json => PlanFormat::Json,
        PlanFormatArg::Dot => PlanFormat::Dot,
        PlanFormatArg::Mermaid => PlanFormat::Mermaid,
    }
}

pub(super) fn run_format(arg: RunFormatArg) -> RunFormat {
    match arg {
        RunFormatArg::Text => RunFormat::Text,
        RunFormatArg::Json => RunFormat::Json,
    }
}

pub(super) fn status_format(arg: StatusFormatArg) -> StatusFormat {
    match arg {
        StatusFormatArg::Text => StatusFormat::Text,
        StatusFormatArg::Json => StatusFormat::Json,
        StatusFormatArg::Prometheus => StatusFormat::Prometheus,
    }
}

pub(super) fn graph_format(arg: GraphFormatArg) -> GraphFormat {
    match arg {
        GraphFormatArg::Dot => GraphFormat::Dot,
        GraphFormatArg::Mermaid => GraphFormat::Mermaid,
    }
}
