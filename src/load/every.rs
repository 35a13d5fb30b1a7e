//! Every problem of a runbook file, not only the first. The deserializer stops at its first
//! error, so after one the file is parsed again in parts: each step on its own, and the rest
//! of the file with a sound step standing in for the others. A part is taken out by
//! overwriting its bytes with spaces, which keeps every offset, line and column of the rest,
//! so each problem is labelled where it is in the real file.

use std::ops::Range;
use std::sync::Arc;

use super::{Loaded, parse_options, yaml_problem};
use crate::diagnostic::{Problem, SourceFile};
use crate::model::{Runbook, Step};

/// What the parser found in a file that does not load: every problem it could, and the
/// runbook as it reads with the offending fields erased, if it then loads. The repaired
/// runbook is only ever checked, never run: the semantic problems of its sound parts are
/// reported beside the parse problems.
#[derive(Debug)]
pub struct Partial {
    pub problems: Vec<Problem>,
    /// Boxed: a whole runbook, carried only on the rare path where a file fails to load.
    pub repaired: Option<Box<Repaired>>,
}

/// A runbook read with its offending fields erased, and where it is not to be trusted.
#[derive(Debug)]
pub struct Repaired {
    /// Parsed from the erased text; its source shows the real text (offsets are equal).
    pub loaded: Loaded<Runbook>,
    /// The steps that had a parse problem, and whether the rest of the file had one: the
    /// checker's findings there may be caused by the erasure and are not reported.
    pub broken_steps: Vec<Range<usize>>,
    pub top_level_broken: bool,
}

impl Repaired {
    /// Whether a problem at this offset is about a part that parsed cleanly.
    pub fn trusted(&self, offset: usize) -> bool {
        if self.broken_steps.iter().any(|r| r.contains(&offset)) {
            return false;
        }
        !self.top_level_broken
    }
}

/// The first problem, followed by those of the other steps and of the rest of the file.
pub(super) fn all_problems(source: &Arc<SourceFile>, first: Problem) -> Partial {
    let steps = step_ranges(&source.text);
    if steps.is_empty() {
        return Partial {
            problems: vec![first],
            repaired: None,
        };
    }
    let mut parses = PARSES;
    let mut erased = Vec::new();
    let by_step = each_step(source, &steps, &mut parses, &mut erased);
    let mut problems = vec![first];
    problems.extend(by_step.problems);
    // The rest of the file, with one sound step standing in for the others (a runbook
    // without steps would be a problem of its own).
    let mut top_level_broken = true;
    if let Some(index) = by_step.sound {
        let blanked: Vec<Range<usize>> = steps
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, r)| r.clone())
            .collect();
        let text = blank(&source.text, &blanked);
        let whole = 0..source.text.len();
        let found = field_by_field::<Runbook>(source, text, whole, 0, &mut parses, &mut erased);
        top_level_broken = !found.is_empty();
        problems.extend(found);
    }
    let offset = |p: &Problem| p.labels.first().map_or(0, |(span, _)| span.offset());
    problems.sort_by_key(offset);
    problems.dedup_by(|a, b| offset(a) == offset(b) && a.message == b.message);
    let loaded = if by_step.complete {
        repair(source, &erased, &by_step.broken)
    } else {
        None
    };
    let repaired = loaded.map(|loaded| {
        Box::new(Repaired {
            loaded,
            broken_steps: by_step.broken,
            top_level_broken,
        })
    });
    Partial { problems, repaired }
}

/// The problems of each step parsed on its own.
struct ByStep {
    problems: Vec<Problem>,
    /// The first step without a problem.
    sound: Option<usize>,
    /// The steps with one.
    broken: Vec<Range<usize>>,
    /// Whether every step was parsed before the parses ran out.
    complete: bool,
}

fn each_step(
    source: &Arc<SourceFile>,
    steps: &[Range<usize>],
    parses: &mut usize,
    erased: &mut Vec<Range<usize>>,
) -> ByStep {
    let mut by_step = ByStep {
        problems: Vec::new(),
        sound: None,
        broken: Vec::new(),
        complete: true,
    };
    for (index, range) in steps.iter().enumerate() {
        if *parses == 0 {
            by_step.complete = false;
            break;
        }
        // What follows the step is dropped rather than erased: offsets count from the start.
        let text = keep_only(&source.text[..range.end], std::slice::from_ref(range));
        let indent = step_indent(&source.text, range);
        let found =
            field_by_field::<Vec<Step>>(source, text, range.clone(), indent, parses, erased);
        if found.is_empty() {
            by_step.sound.get_or_insert(index);
        } else {
            by_step.broken.push(range.clone());
        }
        by_step.problems.extend(found);
    }
    by_step
}

/// The runbook as it reads with the `erased` fields blanked, if it then loads. A step whose
/// kind was erased would make its readers' templates look wrong (`steps.d.stdout`: no such
/// output); such a file gets its parse problems only.
fn repair(
    source: &Arc<SourceFile>,
    erased: &[Range<usize>],
    broken_steps: &[Range<usize>],
) -> Option<Loaded<Runbook>> {
    let text = blank(&source.text, erased);
    let value = serde_saphyr::from_str_with_options::<Runbook>(&text, parse_options()).ok()?;
    let kinds_kept = value.steps.iter().all(|step| {
        let at = source.span_of(&step.id.referenced).offset();
        !broken_steps.iter().any(|r| r.contains(&at)) || !step.kinds().is_empty()
    });
    kinds_kept.then(|| Loaded {
        value,
        source: Arc::clone(source),
    })
}

/// How many rounds one part gets: enough for any real file, bounded for a hostile one.
const ROUNDS: usize = 8;
/// How many parses one file gets in all: a file of thousands of broken steps is reported in
/// part rather than costing a parse of the whole file per step.
const PARSES: usize = 200;

/// Parses `text` again and again, each time erasing the field (a key at `indent` inside
/// `within`, with its nested lines) where the last error was, so the next error shows.
/// Stops when the parse succeeds, when the error is not inside an erasable field, or when
/// erasing made a required key go missing (that problem would be ours, not the file's).
fn field_by_field<T: serde::de::DeserializeOwned>(
    source: &Arc<SourceFile>,
    mut text: String,
    within: Range<usize>,
    indent: usize,
    parses: &mut usize,
    erased: &mut Vec<Range<usize>>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for _ in 0..ROUNDS {
        if *parses == 0 {
            break;
        }
        *parses -= 1;
        let Err(err) = serde_saphyr::from_str_with_options::<T>(&text, parse_options()) else {
            break;
        };
        let problem = yaml_problem(&err, source);
        if !problems.is_empty() && problem.code == "runbook::load::missing_key" {
            break;
        }
        let at = problem.labels.first().map(|(span, _)| span.offset());
        problems.push(problem);
        let Some(field) = at.and_then(|at| field_at(&text, &within, indent, at)) else {
            break;
        };
        text = blank(&text, std::slice::from_ref(&field));
        erased.push(field);
    }
    problems
}

/// The indentation of a step's keys: that of the text after its `- `.
fn step_indent(text: &str, item: &Range<usize>) -> usize {
    let line = &text[item.clone()];
    let dash = line.len() - line.trim_start_matches(' ').len();
    let after = &line[dash + 1..];
    dash + 1 + (after.len() - after.trim_start_matches(' ').len())
}

/// The lines of the key at `indent` whose value holds `offset`, inside `within`. `None` for
/// the first line of a list item (erasing it would take the `-` too) or outside any key.
fn field_at(
    text: &str,
    within: &Range<usize>,
    indent: usize,
    offset: usize,
) -> Option<Range<usize>> {
    let mut start = None;
    let mut at = within.start;
    for line in text[within.clone()].split_inclusive('\n') {
        let here = at;
        at += line.len();
        let content = line.trim_start_matches(' ');
        let line_indent = line.len() - content.len();
        let blank_line = content.trim().is_empty() || content.starts_with('#');
        if !blank_line && line_indent <= indent {
            if start.is_some_and(|s| s <= offset) && here > offset {
                return start.map(|s| s..here);
            }
            start = (line_indent == indent && !content.starts_with('-')).then_some(here);
        }
    }
    start.filter(|s| *s <= offset && offset < at).map(|s| s..at)
}

/// The byte ranges of the items of a block-style `steps:` list, each from its `-` line to
/// the next item or the next top-level key. Empty for a flow-style list or no list.
fn step_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut in_steps = false;
    let mut item_indent = None;
    let mut start: Option<usize> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let here = offset;
        offset += line.len();
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        let content = content.trim_end();
        if !in_steps {
            let rest = line.strip_prefix("steps:").map(str::trim);
            in_steps = rest.is_some_and(|r| r.is_empty() || r.starts_with('#'));
            continue;
        }
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let is_item = content == "-" || content.starts_with("- ");
        if is_item && item_indent.is_none_or(|i| i == indent) {
            item_indent = Some(indent);
            if let Some(s) = start.replace(here) {
                ranges.push(s..here);
            }
        } else if indent == 0 {
            // The next top-level key ends the list.
            if let Some(s) = start.take() {
                ranges.push(s..here);
            }
            break;
        }
    }
    if let Some(s) = start {
        ranges.push(s..text.len());
    }
    ranges
}

/// The text with everything outside `keep` overwritten by spaces (line breaks kept).
fn keep_only(text: &str, keep: &[Range<usize>]) -> String {
    overwrite(text, |i| !keep.iter().any(|r| r.contains(&i)))
}

/// The text with everything inside `ranges` overwritten by spaces (line breaks kept).
fn blank(text: &str, ranges: &[Range<usize>]) -> String {
    overwrite(text, |i| ranges.iter().any(|r| r.contains(&i)))
}

/// Replaces each byte (not line breaks) for which `erase` holds by a space: the same length,
/// so every offset still points at the same place. Multi-byte characters are erased whole,
/// one space per byte, since a range never starts inside a line.
fn overwrite(text: &str, erase: impl Fn(usize) -> bool) -> String {
    let bytes: Vec<u8> = text
        .bytes()
        .enumerate()
        .map(|(i, b)| if b != b'\n' && erase(i) { b' ' } else { b })
        .collect();
    // Ranges start and end at line starts, so no character is cut in two.
    String::from_utf8(bytes).unwrap_or_else(|_| " ".repeat(text.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_step_of_a_block_list() {
        let text = "name: a\nsteps:\n  - id: a\n    restart: [x]\n\n  - id: b\n    exec:\n      run: y\nvars: {}\n";
        let ranges = step_ranges(text);
        let parts: Vec<&str> = ranges.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(
            parts,
            [
                "  - id: a\n    restart: [x]\n\n",
                "  - id: b\n    exec:\n      run: y\n"
            ]
        );
    }

    #[test]
    fn finds_the_field_around_an_offset() {
        let text = "  - id: a\n    retries: x\n    exec:\n      run: 1\n";
        let field = field_at(text, &(0..text.len()), 4, text.find("run").unwrap()).unwrap();
        assert_eq!(&text[field], "    exec:\n      run: 1\n");
        let field = field_at(text, &(0..text.len()), 4, text.find('x').unwrap()).unwrap();
        assert_eq!(&text[field], "    retries: x\n");
        assert!(
            field_at(text, &(0..text.len()), 4, 5).is_none(),
            "the item's own line"
        );
    }

    #[test]
    fn a_flow_list_has_no_parts() {
        assert!(step_ranges("name: a\nsteps: [{ id: a }]\n").is_empty());
    }

    #[test]
    fn erasing_keeps_every_offset() {
        let text = "ab\ncd\n";
        let second_line = 3..6;
        assert_eq!(
            keep_only(text, std::slice::from_ref(&second_line)),
            "  \ncd\n"
        );
        assert_eq!(blank(text, std::slice::from_ref(&second_line)), "ab\n  \n");
    }
}
