//! When a `run:` string can skip `sh -c`.
//!
//! Most commands in runbooks are plain words (`docker compose up -d app`, `true`). Starting a
//! shell only to have it fork and exec that command costs a process per step, which is most of
//! a short step's time. GNU make has long run such recipe lines directly; this is the same
//! rule: the string is split on blanks and exec'd only when the shell could not have read it
//! differently — no quoting, expansion, redirection, globbing, comment, operator, assignment,
//! keyword or builtin. Anything else, and any failure to spawn, goes through `sh -c` as
//! written, so a missing program still gets the shell's "not found" and exit code 127.

/// Bytes that mean nothing to the shell inside a word: ASCII letters, digits and `-_./:,+@%=`
/// (`=` only outside the first word, where it would be an assignment). Blanks separate words;
/// any other byte sends the string to the shell, so non-ASCII text is never split here.
fn plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-_./:,+@%=".contains(&byte)
}

/// The first words the shell treats itself: keywords, and builtins that have no program of
/// the same name or act on the shell's own state (make's list, plus bash's additions).
const SHELL_WORDS: &[&str] = &[
    ".", ":", "alias", "bg", "break", "case", "cd", "command", "continue", "declare", "do", "done",
    "elif", "else", "esac", "eval", "exec", "exit", "export", "fc", "fg", "fi", "for", "function",
    "getopts", "hash", "if", "in", "jobs", "let", "local", "login", "logout", "read", "readonly",
    "return", "select", "set", "shift", "source", "test", "then", "time", "times", "trap", "type",
    "typeset", "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
];

/// The argv a `sh -c` string amounts to, when it is a plain command the shell would run as
/// is; `None` when only the shell can run it.
pub(super) fn direct_argv(script: &str) -> Option<Vec<String>> {
    let bytes = script.as_bytes();
    if !bytes.iter().all(|&b| plain(b) || b == b' ' || b == b'\t') {
        return None;
    }
    let words: Vec<String> = script
        .split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let first = words.first()?;
    if first.contains('=') || SHELL_WORDS.contains(&first.as_str()) {
        return None;
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::direct_argv;

    #[test]
    fn plain_commands_are_split_into_words() {
        assert_eq!(direct_argv("true").unwrap(), ["true"]);
        assert_eq!(
            direct_argv("  docker compose\tup -d app ").unwrap(),
            ["docker", "compose", "up", "-d", "app"]
        );
        assert_eq!(
            direct_argv("/usr/bin/sleep 0.05").unwrap(),
            ["/usr/bin/sleep", "0.05"]
        );
        assert_eq!(
            direct_argv("curl -fsS http://127.0.0.1:8080/health").unwrap(),
            ["curl", "-fsS", "http://127.0.0.1:8080/health"]
        );
        assert_eq!(
            direct_argv("migrate --key-id=2 --dry-run").unwrap(),
            ["migrate", "--key-id=2", "--dry-run"]
        );
    }

    #[test]
    fn anything_the_shell_would_read_differently_keeps_the_shell() {
        for script in [
            "",
            "   ",
            "echo $HOME",
            "echo 'quoted word'",
            "echo \"quoted\"",
            "a && b",
            "a; b",
            "a | b",
            "a > out",
            "a < in",
            "ls *.env",
            "ls file?",
            "ls [ab]",
            "cat ~/x",
            "echo a # comment",
            "FOO=bar cmd",
            "echo `date`",
            "echo a\\ b",
            "a\nb",
            "(cd /tmp)",
            "{ a; }",
            "! false",
            "echo é",
            "exit 3",
            "cd /tmp",
            "export A",
            "set -e",
            ". ./env.sh",
            "source env.sh",
            "if",
            "wait",
            "ulimit -c 0",
        ] {
            assert_eq!(direct_argv(script), None, "{script:?}");
        }
    }
}
