//! Finding a step's program on `PATH` before spawning it, choosing as execvp would.
//!
//! Spawned by a bare name, the child searches `PATH` itself: it tries `execve` in each
//! directory in turn while the spawning thread waits (the spawn is a vfork), and a failed
//! `execve` costs far more than a failed `access`. With the 11-entry `PATH` of the benchmark's
//! root shell, `true` is in the ninth directory; a run of 1,000 independent `true` steps took
//! 586 ms, and 552 ms with `PATH=/usr/bin:/bin` (interleaved), while make, which searches
//! with `stat` before spawning, moved from 415 to 406 ms. Looked up here, with `access`, the
//! same run went from 514 to 503 ms and 1,000 chained steps from 545 to 527 (interleaved).
//! The answer is not kept between spawns, as a shell's hash would: a program installed in an
//! earlier directory by one step is the one the next step runs, as with execvp.

use std::ffi::OsStr;
use std::path::PathBuf;

use rustix::fs::{Access, access};

/// The file `program` names on `path`: in the first directory holding an executable regular
/// file of that name, as execvp would pick. `None` leaves the search to the spawn, as before:
/// for a name with a slash, with no `PATH` (execvp then has a default one), when an entry is
/// relative (it would depend on the child's working directory) and when nothing matches (so
/// the spawn's own error, and the shell fallback, are what they were).
pub(super) fn on_path(program: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    if program.is_empty() || program.contains('/') {
        return None;
    }
    for dir in std::env::split_paths(path?) {
        if !dir.is_absolute() {
            return None;
        }
        let candidate = dir.join(program);
        // `access` first: one system call rules out the usual miss, a file that is not there.
        if access(&candidate, Access::EXEC_OK).is_ok() && candidate.is_file() {
            return Some(candidate);
        }
    }
    None
}

/// The `PATH` the child will search: the spec's own when it sets one, else this process's.
pub(super) fn child_path(env: &[(String, String)]) -> Option<std::ffi::OsString> {
    match env.iter().rev().find(|(key, _)| key == "PATH") {
        Some((_, value)) => Some(value.into()),
        None => std::env::var_os("PATH"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(dir: &std::path::Path, name: &str, mode: u32) {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_first_directory_with_an_executable_file_wins() {
        let [a, b, c] = [(); 3].map(|()| tempfile::tempdir().unwrap());
        file(a.path(), "tool", 0o644); // not executable: execvp goes on
        std::fs::create_dir(b.path().join("tool")).unwrap(); // a directory: so does execvp
        file(c.path(), "tool", 0o755);
        let path = std::env::join_paths([a.path(), b.path(), c.path()]).unwrap();
        assert_eq!(on_path("tool", Some(&path)), Some(c.path().join("tool")));
        assert_eq!(on_path("missing", Some(&path)), None);
    }

    #[test]
    fn the_search_is_left_to_the_spawn_where_it_could_differ() {
        let dir = tempfile::tempdir().unwrap();
        file(dir.path(), "tool", 0o755);
        let absolute = dir.path().as_os_str().to_owned();
        assert_eq!(on_path("./tool", Some(&absolute)), None);
        assert_eq!(on_path("tool", None), None);
        let mut relative_first = std::ffi::OsString::from("bin:");
        relative_first.push(&absolute);
        assert_eq!(on_path("tool", Some(&relative_first)), None);
        let mut empty_first = std::ffi::OsString::from(":");
        empty_first.push(&absolute);
        assert_eq!(on_path("tool", Some(&empty_first)), None);
    }

    /// Runs `spec` to its end and returns its stdout.
    async fn stdout_of(spec: &crate::host::process::ProcessSpec) -> String {
        let (_cancel, cancelled) = tokio::sync::watch::channel(false);
        let outcome = crate::host::process::run_process(spec, &mut |_, _| {}, cancelled)
            .await
            .expect("the step runs");
        String::from_utf8(outcome.stdout).unwrap()
    }

    #[tokio::test]
    async fn the_child_is_named_as_the_step_wrote_it() {
        let spec = crate::host::process::ProcessSpec::new("sh", ["-c", "echo $0"]);
        assert_eq!(stdout_of(&spec).await, "sh\n");
    }

    #[tokio::test]
    async fn a_file_found_that_cannot_run_leaves_the_choice_to_execvp() {
        // The first `tool` passes `access` but its interpreter is missing, so exec fails;
        // execvp goes on to the next directory, and so does the spawn.
        let [first, second] = [(); 2].map(|()| tempfile::tempdir().unwrap());
        std::fs::write(first.path().join("tool"), "#!/nonexistent/interpreter\n").unwrap();
        std::fs::set_permissions(
            first.path().join("tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(second.path().join("tool"), "#!/bin/sh\necho second\n").unwrap();
        std::fs::set_permissions(
            second.path().join("tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let path = std::env::join_paths([first.path(), second.path()]).unwrap();
        let found = on_path("tool", Some(&path));
        assert_eq!(found, Some(first.path().join("tool")), "the lookup's pick");
        let mut spec = crate::host::process::ProcessSpec::new("tool", Vec::<String>::new());
        spec.env = vec![("PATH".to_owned(), path.into_string().unwrap())];
        assert_eq!(stdout_of(&spec).await, "second\n");
    }

    #[test]
    fn the_spec_path_is_the_one_searched() {
        let env = vec![
            ("PATH".to_owned(), "/a".to_owned()),
            ("X".into(), "y".into()),
        ];
        assert_eq!(child_path(&env), Some("/a".into()));
        assert_eq!(child_path(&[]), std::env::var_os("PATH"));
    }
}
