//! Links the functions a run, a plan and a validate execute into one stretch at the front of
//! the release binary's text.
//!
//! Why: the kernel maps a program's text into a process one page-cache folio at a time, and
//! those are 64 KiB and larger, so a process's resident memory includes every folio that holds
//! any function it calls. The ~1,900 functions the benchmark's workloads call were spread over
//! the whole 7.6 MB of text, and a 1,000-step run had 6.8 MiB of it resident; linked together
//! they fill 3.2 MiB, and that run had about 3 MiB of text resident (3.9 MiB since glibc is
//! linked in statically, its functions counted in the text). `src/hot_text.ld` lists
//! them as section patterns (one section per function is rustc's default on Linux) in a
//! script that `INSERT`s them into the default layout; `benches/hot_text.sh` regenerates it.
//! lld (rustc's default linker here) and GNU ld read such a script, gold and mold do not, so
//! a build that chooses its own linker is left as it is.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=src/hot_text.ld");
    println!("cargo::rerun-if-changed=build.rs");
    let var = |name: &str| env::var(name).unwrap_or_default();
    let linux = var("CARGO_CFG_TARGET_OS") == "linux";
    // Only the release build, whose memory the benchmark measures.
    let release = var("PROFILE") == "release";
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    let own_linker = env::var_os("RUSTC_LINKER").is_some()
        || flags.contains("fuse-ld")
        || flags.contains("linker");
    let script = Path::new(&var("CARGO_MANIFEST_DIR")).join("src/hot_text.ld");
    if linux && release && !own_linker && script.exists() {
        println!("cargo::rustc-link-arg-bin=runbook=-T");
        println!("cargo::rustc-link-arg-bin=runbook={}", script.display());
    }
}
