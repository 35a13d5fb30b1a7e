//! The `needs` graph of one runbook: unknown names and dependency cycles.

use std::collections::VecDeque;

use crate::fasthash::{Map as HashMap, Set as HashSet};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::diagnostic::{Problem, did_you_mean};
use crate::load::Loaded;
use crate::model::Runbook;

/// The resolved `needs` of a runbook.
pub(super) struct StepGraph {
    pub index: HashMap<String, usize>,
    /// Each step's direct needs; `None` when `needs` are unsound (unknown names or a cycle),
    /// which is reported on its own.
    needs: Option<Vec<Vec<usize>>>,
    /// Each step's phase: a retire step runs after every activate step of its runbook.
    phases: Vec<crate::model::Phase>,
}

impl StepGraph {
    /// Whether `step` transitively needs `target` (true when `needs` are unsound, so that only
    /// the real problem is reported). A search per question, stopping when it finds the
    /// target: templates name few steps, and most are direct needs, while every step's full
    /// ancestry would cost the square of the runbook's length.
    pub(super) fn needs_transitively(&self, step: usize, target: usize) -> bool {
        let Some(needs) = &self.needs else {
            return true;
        };
        if self.phases[step] == crate::model::Phase::Retire
            && self.phases[target] == crate::model::Phase::Activate
        {
            return true;
        }
        let mut seen = vec![false; needs.len()];
        let mut stack = vec![step];
        while let Some(current) = stack.pop() {
            for &next in &needs[current] {
                if next == target {
                    return true;
                }
                if !seen[next] {
                    seen[next] = true;
                    stack.push(next);
                }
            }
        }
        false
    }
}

/// The problem a strongly connected component of the needs graph is, if it is a cycle: the
/// shortest path around it, each `needs` on it labelled.
fn cycle_problem(
    loaded: &Loaded<Runbook>,
    graph: &DiGraph<usize, usize>,
    nodes: &[NodeIndex],
    component: &[NodeIndex],
) -> Option<Problem> {
    let runbook = &loaded.value;
    let first = component.iter().map(|n| graph[*n]).min()?;
    let is_cycle = component.len() > 1 || graph.contains_edge(nodes[first], nodes[first]);
    if !is_cycle {
        return None;
    }
    let members: HashSet<usize> = component.iter().map(|n| graph[*n]).collect();
    let path = shortest_cycle(graph, nodes, first, &members);
    let names: Vec<&str> = path
        .iter()
        .map(|i| runbook.steps[*i].id.value.as_str())
        .collect();
    let mut problem = Problem::new(
        "runbook::check::cycle",
        format!("dependency cycle: {}", names.join(" -> ")),
    )
    .in_file(&loaded.source)
    .help("each arrow reads \"needs\"; remove one of these `needs` to break the cycle");
    for pair in path.windows(2) {
        let step = &runbook.steps[pair[0]];
        let target = &runbook.steps[pair[1]].id.value;
        if let Some(need) = step.needs.iter().find(|n| &n.value == target) {
            problem = problem.label_at(
                &need.referenced,
                format!("`{}` needs `{target}`", step.id.value),
            );
        }
    }
    Some(problem)
}

/// Reports unknown `needs` and cycles; returns the resolved graph.
pub(super) fn check_graph(loaded: &Loaded<Runbook>, problems: &mut Vec<Problem>) -> StepGraph {
    let runbook = &loaded.value;
    let source = &loaded.source;
    let mut index = HashMap::default();
    for (i, step) in runbook.steps.iter().enumerate() {
        index.entry(step.id.value.clone()).or_insert(i);
    }
    // Edges point from a step to each step it needs.
    let mut graph = DiGraph::<usize, usize>::new();
    let nodes: Vec<_> = (0..runbook.steps.len())
        .map(|i| graph.add_node(i))
        .collect();
    let mut sound = true;
    for (i, step) in runbook.steps.iter().enumerate() {
        for (n, need) in step.needs.iter().enumerate() {
            match index.get(&need.value) {
                Some(&target) => {
                    graph.add_edge(nodes[i], nodes[target], n);
                }
                None => {
                    sound = false;
                    let mut problem = Problem::new(
                        "runbook::check::unknown_needs",
                        format!(
                            "step `{}` needs `{}`, which is not a step of this runbook",
                            step.id.value, need.value
                        ),
                    )
                    .in_file(source)
                    .label_at(&need.referenced, "unknown step");
                    if let Some(s) = did_you_mean(&need.value, index.keys().map(String::as_str)) {
                        problem = problem.help(format!("did you mean `{s}`?"));
                    }
                    problems.push(problem);
                }
            }
        }
    }
    for component in tarjan_scc(&graph) {
        if let Some(problem) = cycle_problem(loaded, &graph, &nodes, &component) {
            sound = false;
            problems.push(problem);
        }
    }
    let needs = sound.then(|| {
        (0..runbook.steps.len())
            .map(|i| graph.neighbors(nodes[i]).map(|n| graph[n]).collect())
            .collect()
    });
    let phases = runbook
        .steps
        .iter()
        .map(crate::model::Step::phase)
        .collect();
    StepGraph {
        index,
        needs,
        phases,
    }
}

/// The shortest path from `start` back to itself inside one strongly connected component,
/// as step indices with `start` at both ends.
fn shortest_cycle(
    graph: &DiGraph<usize, usize>,
    nodes: &[petgraph::graph::NodeIndex],
    start: usize,
    members: &HashSet<usize>,
) -> Vec<usize> {
    let mut parent: HashMap<usize, usize> = HashMap::default();
    let mut queue = VecDeque::from([start]);
    while let Some(current) = queue.pop_front() {
        let mut next_steps: Vec<usize> =
            graph.neighbors(nodes[current]).map(|n| graph[n]).collect();
        next_steps.sort_unstable();
        for next in next_steps {
            if !members.contains(&next) {
                continue;
            }
            if next == start {
                let mut path = vec![current];
                while let Some(&up) = parent.get(path.last().unwrap_or(&start)) {
                    path.push(up);
                }
                path.reverse();
                path.push(start);
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(next) {
                e.insert(current);
                queue.push_back(next);
            }
        }
    }
    vec![start, start]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn problems_of(yaml: &str) -> (Vec<Problem>, StepGraph) {
        let loaded =
            crate::load::parse::<Runbook>(Path::new("t.yaml"), yaml.to_string()).expect("parses");
        let mut problems = Vec::new();
        let graph = check_graph(&loaded, &mut problems);
        (problems, graph)
    }

    #[test]
    fn a_cycle_is_reported_once_with_its_full_path_in_needs_order() {
        let (problems, _) = problems_of(
            "name: c\nsteps:\n  - id: alpha\n    needs: [gamma]\n    restart: [a]\n  - id: beta\n    needs: [alpha]\n    restart: [a]\n  - id: gamma\n    needs: [beta]\n    restart: [a]\n  - id: free\n    restart: [a]\n",
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].message,
            "dependency cycle: alpha -> gamma -> beta -> alpha"
        );
        assert_eq!(
            problems[0].labels.len(),
            3,
            "each `needs` entry of the cycle is labelled"
        );
    }

    #[test]
    fn a_step_needing_itself_is_a_cycle() {
        let (problems, _) =
            problems_of("name: c\nsteps:\n  - id: loop\n    needs: [loop]\n    restart: [a]\n");
        assert_eq!(problems[0].message, "dependency cycle: loop -> loop");
    }

    #[test]
    fn reachability_follows_needs_transitively_and_only_backwards() {
        let (problems, graph) = problems_of(
            "name: c\nsteps:\n  - id: a\n    restart: [a]\n  - id: b\n    needs: [a]\n    restart: [a]\n  - id: c\n    needs: [b]\n    restart: [a]\n",
        );
        assert!(problems.is_empty());
        assert!(graph.needs_transitively(2, 0));
        assert!(graph.needs_transitively(1, 0));
        assert!(!graph.needs_transitively(0, 2));
    }
}
