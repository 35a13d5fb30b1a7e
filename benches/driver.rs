//! The timer: runs every command of a spec file several times, interleaved, and writes the
//! median wall time, CPU time and peak RSS of each.
//!
//! Commands are interleaved round by round (A B C, then B C A, ...) rather than run as blocks,
//! so a slow minute of the machine (another build, thermal throttling) lands on every tool
//! alike instead of on whichever happened to run then. Each command runs once untimed first,
//! which fills the page cache and lets tools create their state directories.
//!
//! Built with `rustc -O benches/driver.rs` (std only).
//!
//! ```text
//! driver SPECS OUT   SPECS lines: workload<TAB>label<TAB>runs<TAB>warmup<TAB>cwd<TAB>argv...
//!                    OUT lines:   workload<TAB>label<TAB>runs<TAB>median_ms<TAB>min_ms<TAB>max_ms
//!                                 <TAB>median_cpu_ms<TAB>max_rss_kib<TAB>failures
//! ```
//!
//! `runs` differs per command so that a 15-second plan can take 2 samples while a 20 ms one
//! takes 20; `warmup` is 0 for commands too slow to run once more for nothing.

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

/// `struct rusage` of Linux on 64-bit targets: two `timeval`s, then fourteen longs, of which
/// only `ru_maxrss` (kilobytes) is read.
#[repr(C)]
#[derive(Default)]
struct Rusage {
    user: [i64; 2],
    system: [i64; 2],
    max_rss_kib: i64,
    rest: [i64; 13],
}

unsafe extern "C" {
    /// `wait4` reaps the child and returns its resource usage, including the descendants it
    /// waited for, which is how peak RSS and CPU time are measured without `/usr/bin/time`.
    fn wait4(pid: i32, status: *mut i32, options: i32, usage: *mut Rusage) -> i32;
}

struct Spec {
    workload: String,
    label: String,
    runs: usize,
    warmup: bool,
    cwd: String,
    argv: Vec<String>,
}

struct Sample {
    wall_ms: f64,
    cpu_ms: f64,
    max_rss_kib: i64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: driver SPECS OUT");
        std::process::exit(2);
    }
    let text = fs::read_to_string(&args[1]).expect("cannot read the spec file");
    // Kept beside the results, so two benchmarks running at once do not share it.
    let log = std::path::PathBuf::from(format!("{}.stderr", args[2]));
    let specs: Vec<Spec> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut fields = line.split('\t').map(str::to_string);
            let mut next = || fields.next().expect("a spec line has at least 6 fields");
            let (workload, label, runs, warmup, cwd) = (next(), next(), next(), next(), next());
            Spec {
                workload,
                label,
                runs: runs.parse().expect("runs must be a number"),
                warmup: warmup == "1",
                cwd,
                argv: std::iter::once(next()).chain(fields).collect(),
            }
        })
        .collect();
    let mut samples: Vec<Vec<Sample>> = specs.iter().map(|_| Vec::new()).collect();
    let mut failures = vec![0usize; specs.len()];
    let rounds = specs.iter().map(|s| s.runs).max().unwrap_or(0);
    for (i, spec) in specs.iter().enumerate().filter(|(_, s)| s.warmup) {
        if let Err(message) = run_once(spec, &log) {
            eprintln!(
                "warm-up of {} / {} failed: {message}",
                spec.workload, spec.label
            );
            failures[i] += 1;
        }
    }
    for round in 0..rounds {
        eprint!("\r  round {}/{rounds}", round + 1);
        // Interleave within each workload only: a workload's tools then share the same minutes,
        // and a slow workload does not stretch the time between another's samples.
        let mut start = 0;
        while start < specs.len() {
            let end = (start..specs.len())
                .find(|&i| specs[i].workload != specs[start].workload)
                .unwrap_or(specs.len());
            let group = end - start;
            for k in 0..group {
                let i = start + (k + round) % group;
                if round >= specs[i].runs {
                    continue;
                }
                match run_once(&specs[i], &log) {
                    Ok(sample) => samples[i].push(sample),
                    Err(message) => {
                        eprintln!(
                            "\n{} / {} failed: {message}",
                            specs[i].workload, specs[i].label
                        );
                        failures[i] += 1;
                    }
                }
            }
            start = end;
        }
    }
    eprintln!();
    let mut out = fs::File::create(&args[2]).expect("cannot create the output file");
    for (i, spec) in specs.iter().enumerate() {
        let s = &samples[i];
        let wall: Vec<f64> = s.iter().map(|x| x.wall_ms).collect();
        let cpu: Vec<f64> = s.iter().map(|x| x.cpu_ms).collect();
        let rss = s.iter().map(|x| x.max_rss_kib).max().unwrap_or(0);
        let (lo, hi) = (
            wall.iter().copied().fold(f64::NAN, f64::min),
            wall.iter().copied().fold(f64::NAN, f64::max),
        );
        writeln!(
            out,
            "{}\t{}\t{}\t{:.3}\t{lo:.3}\t{hi:.3}\t{:.3}\t{rss}\t{}",
            spec.workload,
            spec.label,
            s.len(),
            median(wall),
            median(cpu),
            failures[i]
        )
        .expect("cannot write the output file");
    }
}

/// Runs one command with stdin and stdout on /dev/null and stderr kept for a failure message.
fn run_once(spec: &Spec, log: &std::path::Path) -> Result<Sample, String> {
    let stderr = fs::File::create(log).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let child = Command::new(&spec.argv[0])
        .args(&spec.argv[1..])
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", spec.argv[0]))?;
    let mut status = 0;
    let mut usage = Rusage::default();
    // SAFETY: wait4 writes only through the two pointers, both to live, correctly sized values.
    let pid = unsafe { wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
    if pid < 0 {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    if status != 0 {
        let text = fs::read_to_string(log).unwrap_or_default();
        let tail: String = text.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        return Err(format!("wait status {status}: {tail}"));
    }
    let cpu_ms = (usage.user[0] + usage.system[0]) as f64 * 1e3
        + (usage.user[1] + usage.system[1]) as f64 / 1e3;
    Ok(Sample {
        wall_ms,
        cpu_ms,
        max_rss_kib: usage.max_rss_kib,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}
