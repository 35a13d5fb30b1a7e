//! The module layering, read from the source: what each floor may not reach for.

mod common;

use common::repo;

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path.display().to_string(), text));
            }
        }
    }
    out
}

#[test]
fn steps_touch_the_world_only_through_the_host() {
    // The durable record writes the run's own state directory, which is on this machine
    // whatever host a step acts on.
    let mut files: Vec<(String, String)> = sources(&repo().join("src/steps"))
        .into_iter()
        .filter(|(path, _)| !path.ends_with("steps/durable.rs"))
        .collect();
    files.push((
        "src/steps.rs".into(),
        std::fs::read_to_string(repo().join("src/steps.rs")).unwrap(),
    ));
    let forbidden = [
        "std::fs",
        "fs_err",
        "File::open",
        "OpenOptions",
        "tokio::process",
        "std::process::Command",
        "crate::atomic",
        "run_process",
    ];
    let found: Vec<(String, &str)> = files
        .iter()
        .flat_map(|(path, text)| {
            forbidden
                .iter()
                .filter(|word| text.contains(**word))
                .map(move |word| (path.clone(), *word))
        })
        .collect();
    assert!(found.is_empty(), "side effects outside the host: {found:?}");
}

/// The top-level modules (`crate::NAME`) the files under `path` import. Unit tests
/// (`tests.rs` files) may reach anywhere and are left out.
fn imports(path: &str) -> std::collections::BTreeSet<String> {
    let full = repo().join(path);
    let files = if full.is_dir() {
        sources(&full)
    } else {
        vec![(path.to_string(), std::fs::read_to_string(&full).unwrap())]
    };
    files
        .iter()
        .filter(|(path, _)| !path.ends_with("tests.rs"))
        .flat_map(|(_, text)| {
            text.split("crate::")
                .skip(1)
                .map(|rest| {
                    rest.chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn leaves_and_views_import_nothing_above_them() {
    let above = ["commands", "cli", "exec", "steps", "session", "report"];
    for (floor, may_not) in [
        ("src/journal", &above[..]),
        ("src/journal.rs", &above[..]),
        ("src/events.rs", &above[..]),
        ("src/failure.rs", &above[..]),
        ("src/host", &above[..]),
        ("src/host.rs", &above[..]),
        ("src/report", &["commands", "cli", "exec", "steps"][..]),
        ("src/steps", &["commands", "cli", "exec", "session"][..]),
        ("src/steps.rs", &["commands", "cli", "exec", "session"][..]),
        ("src/exec", &["commands", "cli"][..]),
    ] {
        let found: Vec<String> = imports(floor)
            .into_iter()
            .filter(|module| may_not.contains(&module.as_str()))
            .collect();
        assert!(found.is_empty(), "{floor} imports {found:?}");
    }
}

/// Each top-level module (`src/NAME.rs` with `src/NAME/`) and the top-level modules it
/// imports.
fn module_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let src = repo().join("src");
    let mut names = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir()
            || (path.extension().is_some_and(|e| e == "rs") && stem != "lib" && stem != "main")
        {
            names.insert(stem);
        }
    }
    names
        .iter()
        .map(|name| {
            let mut used = std::collections::BTreeSet::new();
            for floor in [format!("src/{name}.rs"), format!("src/{name}")] {
                if repo().join(&floor).exists() {
                    used.extend(imports(&floor));
                }
            }
            used.retain(|m| m != name && names.contains(m));
            (name.clone(), used)
        })
        .collect()
}

#[test]
fn no_two_modules_import_each_other_even_through_others() {
    let graph = module_graph();
    assert!(graph.len() > 20, "{graph:?}");
    // Depth-first search: meeting a module still on the path closes a cycle.
    fn visit(
        module: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) {
        if let Some(start) = path.iter().position(|m| m == module) {
            panic!("import cycle: {} -> {module}", path[start..].join(" -> "));
        }
        if !done.insert(module.to_string()) {
            return;
        }
        path.push(module.to_string());
        for next in &graph[module] {
            visit(next, graph, path, done);
        }
        path.pop();
    }
    let mut done = std::collections::BTreeSet::new();
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done);
    }
}
