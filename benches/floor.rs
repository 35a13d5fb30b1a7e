//! The floor: the least a DAG runner can do. It runs a DAG of commands with bare fork/exec and
//! a fixed number of jobs, and nothing else: no parsing beyond a line per node, no pipes, no
//! events, no state. Whatever `runbook` spends above this is its own cost.
//!
//! Built with `rustc -O benches/floor.rs` (std only, so no Cargo.toml change is needed).
//!
//! ```text
//! floor run JOBS sh|argv DAG   run the DAG; each line is `needs<TAB>command`, needs being
//!                              comma-separated line indices of earlier nodes
//! floor fsync FILE             rewrite FILE the way `runbook`'s env step does: temp file,
//!                              fsync, rename, fsync of the directory
//! floor nofsync FILE           the same without the two fsyncs
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

unsafe extern "C" {
    /// libc's `waitpid`, declared here so the floor needs no crate: reaping whichever child
    /// finishes first is what a real scheduler does, and `Child::wait` cannot do it.
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("run") if args.len() == 5 => run_dag(&args[2], &args[3], &args[4]),
        Some("fsync") if args.len() == 3 => rewrite(Path::new(&args[2]), true),
        Some("nofsync") if args.len() == 3 => rewrite(Path::new(&args[2]), false),
        _ => {
            Err("usage: floor run JOBS sh|argv DAG | floor fsync FILE | floor nofsync FILE".into())
        }
    };
    if let Err(message) = result {
        eprintln!("floor: {message}");
        std::process::exit(2);
    }
}

struct Node {
    needs: usize,
    dependents: Vec<usize>,
    command: String,
}

fn parse(text: &str) -> Result<Vec<Node>, String> {
    let mut nodes: Vec<Node> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let (needs, command) = line
            .split_once('\t')
            .ok_or_else(|| format!("line {}: expected `needs<TAB>command`", index + 1))?;
        let needs: Vec<usize> = needs
            .split(',')
            .filter(|n| !n.is_empty())
            .map(|n| {
                n.parse()
                    .map_err(|_| format!("line {}: bad index `{n}`", index + 1))
            })
            .collect::<Result<_, _>>()?;
        for &need in &needs {
            // Needs point backwards, which makes the file a DAG by construction.
            if need >= index {
                return Err(format!("line {}: needs a later node", index + 1));
            }
            nodes[need].dependents.push(index);
        }
        nodes.push(Node {
            needs: needs.len(),
            dependents: Vec::new(),
            command: command.to_string(),
        });
    }
    Ok(nodes)
}

fn run_dag(jobs: &str, mode: &str, dag: &str) -> Result<(), String> {
    let jobs: usize = jobs
        .parse()
        .map_err(|_| "JOBS must be a number".to_string())?;
    let shell = match mode {
        "sh" => true,
        "argv" => false,
        _ => return Err("mode must be `sh` or `argv`".into()),
    };
    let text = fs::read_to_string(dag).map_err(|e| format!("{dag}: {e}"))?;
    let mut nodes = parse(&text)?;
    // Lowest index first, like runbook's ready set, so both walk the DAG in the same order.
    let mut ready: BTreeSet<usize> = (0..nodes.len()).filter(|&i| nodes[i].needs == 0).collect();
    let mut running: HashMap<i32, usize> = HashMap::new();
    let mut done = 0;
    while done < nodes.len() {
        while running.len() < jobs.max(1) {
            let Some(next) = ready.pop_first() else { break };
            let command = &nodes[next].command;
            let mut child = if shell {
                let mut c = Command::new("sh");
                c.arg("-c").arg(command);
                c
            } else {
                let mut words = command.split_whitespace();
                let mut c = Command::new(words.next().ok_or("empty command")?);
                c.args(words);
                c
            };
            // Like runbook, the child's stdin is /dev/null; its output goes wherever ours does
            // (the driver sends it to /dev/null) instead of through pipes we would have to read.
            let child = child
                .stdin(Stdio::null())
                .spawn()
                .map_err(|e| format!("spawn `{command}`: {e}"))?;
            running.insert(child.id() as i32, next);
        }
        if running.is_empty() {
            return Err("the DAG has nodes that can never become ready".into());
        }
        let mut status = 0;
        // SAFETY: waitpid only writes the status through the pointer we pass.
        let pid = unsafe { waitpid(-1, &mut status, 0) };
        if pid < 0 {
            return Err(format!("waitpid: {}", std::io::Error::last_os_error()));
        }
        let Some(finished) = running.remove(&pid) else {
            continue;
        };
        if status != 0 {
            return Err(format!(
                "`{}` failed (wait status {status})",
                nodes[finished].command
            ));
        }
        done += 1;
        for dependent in std::mem::take(&mut nodes[finished].dependents) {
            nodes[dependent].needs -= 1;
            if nodes[dependent].needs == 0 {
                ready.insert(dependent);
            }
        }
    }
    Ok(())
}

/// What `runbook`'s atomic write does to an env file, minus the parsing and editing: read it,
/// write a temporary file beside it, fsync it, rename it over the original, fsync the directory.
/// The two fsyncs are the ones W6 does not charge to `runbook`.
fn rewrite(path: &Path, sync: bool) -> Result<(), String> {
    let err = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let contents = fs::read(path).map_err(|e| err("read", e))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = dir.join(".floor.tmp");
    let mut file = fs::File::create(&temp).map_err(|e| err("create temp for", e))?;
    file.write_all(&contents)
        .map_err(|e| err("write temp for", e))?;
    if sync {
        file.sync_all().map_err(|e| err("fsync temp for", e))?;
    }
    fs::rename(&temp, path).map_err(|e| err("rename over", e))?;
    if sync {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| err("fsync the directory of", e))?;
    }
    Ok(())
}
