//! The live view's "running" footer, cut to the terminal's width: a footer that wrapped
//! would take two lines, and the carriage return that erases it reaches back only one, so
//! every redraw would leave a stale line behind.

/// The footer for the steps running now, at most `columns - 1` characters wide (a line that
/// fills the last column makes some terminals wrap early), ending in `…` when cut.
pub(crate) fn footer(running: &[String], columns: usize) -> String {
    let full = format!("  … running: {}", running.join(", "));
    let room = columns.saturating_sub(1).max(1);
    if full.chars().count() <= room {
        return full;
    }
    let mut cut: String = full.chars().take(room - 1).collect();
    cut.push('…');
    cut
}

/// Above this many hosts running one step at once, the footer folds them into one entry.
const FOLD_ABOVE: usize = 3;

/// The footer's entries: each running step, except that a step running on more than a few
/// hosts at once is one entry, `write@ 47 hosts: 45 done, 2 running`, so a fleet's footer
/// stays one readable line. `running` holds (step, host) pairs; `done` counts, per step, the
/// hosts where it finished.
pub(crate) fn fold(
    running: &[(String, Option<String>)],
    done: &std::collections::HashMap<String, usize>,
) -> Vec<String> {
    let base = |(name, host): &(String, Option<String>)| match host {
        Some(host) => name
            .strip_suffix(&format!("@{host}"))
            .unwrap_or(name)
            .to_string(),
        None => name.clone(),
    };
    let mut entries: Vec<String> = Vec::new();
    let mut folded: Vec<String> = Vec::new();
    for item in running {
        let step = base(item);
        let hosts = running
            .iter()
            .filter(|other| other.1.is_some() && base(other) == step)
            .count();
        if item.1.is_none() || hosts <= FOLD_ABOVE {
            entries.push(item.0.clone());
        } else if !folded.contains(&step) {
            let finished = done.get(&step).copied().unwrap_or(0);
            entries.push(format!(
                "{step}@ {} hosts: {finished} done, {hosts} running",
                finished + hosts
            ));
            folded.push(step);
        }
    }
    entries
}

/// The width of the terminal on stdout now (asked at every redraw, so a resize is followed);
/// `COLUMNS`, then 80, when it cannot say.
pub(crate) fn terminal_columns() -> usize {
    rustix::termios::tcgetwinsize(std::io::stdout())
        .ok()
        .map(|size| usize::from(size.ws_col))
        .filter(|&columns| columns > 0)
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .unwrap_or(80)
}

#[cfg(test)]
mod tests {
    use super::footer;

    #[test]
    fn many_hosts_of_one_step_fold_into_one_entry_and_few_do_not() {
        let host = |step: &str, h: usize| (format!("{step}@web{h}"), Some(format!("web{h}")));
        let mut running: Vec<_> = (1..=5).map(|h| host("rb/write", h)).collect();
        running.push(host("rb/check", 9));
        running.push(("rb/new".to_string(), None));
        let done = [("rb/write".to_string(), 42)].into_iter().collect();
        assert_eq!(
            super::fold(&running, &done),
            [
                "rb/write@ 47 hosts: 42 done, 5 running",
                "rb/check@web9",
                "rb/new"
            ]
        );
    }

    #[test]
    fn a_footer_that_fits_is_whole_and_a_long_one_is_cut_to_the_width() {
        let steps = vec!["a".to_string(), "b".to_string()];
        assert_eq!(footer(&steps, 80), "  … running: a, b");
        let long = vec!["x".repeat(100)];
        let cut = footer(&long, 40);
        assert_eq!(cut.chars().count(), 39);
        assert!(cut.ends_with('…'));
    }
}
