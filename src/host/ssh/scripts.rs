//! The fixed POSIX shell scripts `Ssh` runs on a remote host, and the encoding of what they
//! read from stdin.
//!
//! A remote command line is visible to every user of that host (`/proc/*/cmdline`), so it
//! only ever holds one of these scripts, paths, modes and a process group id: file contents,
//! a step's environment and its stdin travel on the session's stdin. Each script runs as
//! `sh -c SCRIPT runbook ARG...`, so arguments are positional parameters, never re-parsed.

/// The name `$0` of every script, so that `ps` on the remote host says who runs it.
pub(super) const ARGV0: &str = "runbook";

/// A file's bytes, or exit 3 when it does not exist.
pub(super) const READ: &str = r#"[ -e "$1" ] || exit 3; exec cat -- "$1""#;

/// The replacing half of `WRITE` and `EDIT`, with `$p` the file, `$m` the mode or empty and
/// `$n` the length of the new bytes: a 0600 temp file in the same directory (named as the
/// local writer names its own, so a leftover is recognisable) filled from stdin, its length
/// checked (a connection lost half-way closes stdin early, and a cut-off file must never
/// replace a whole one), the old file's owner, group and mode (or `$m` when given), fsync,
/// rename, fsync of the directory. A failure leaves the old file in place and removes the
/// temp file.
macro_rules! replace {
    () => {
        r#"set -e
d=$(dirname -- "$p"); b=$(basename -- "$p")
mkdir -p -- "$d"
t=$(mktemp "$d/.$b.runbook-XXXXXX.tmp")
trap 'rm -f -- "$t"' EXIT
cat > "$t"
if [ $(($(wc -c < "$t"))) -ne "$n" ]; then
  echo "the new contents arrived cut short" >&2
  exit 1
fi
if [ -e "$p" ]; then
  chown --reference="$p" -- "$t"
  [ -n "$m" ] || chmod --reference="$p" -- "$t"
fi
[ -z "$m" ] || chmod -- "$m" "$t"
sync -- "$t"
mv -f -- "$t" "$p"
trap - EXIT
sync -- "$d""#
    };
}

/// Replaces `$1` with stdin atomically, with the mode `$2` or the old file's; stdin is `$3`
/// bytes long.
pub(super) const WRITE: &str = concat!(
    r#"p=$1; m=$2; n=$3
"#,
    replace!()
);

/// An edit in one session. First what the edit reads, framed so it can be read before the
/// script ends: the file `$1` names with symbolic links followed (dangling ones too), as the
/// local edit follows them, and a NUL (a relative path is relative to the login directory),
/// then the mode in octal (`-` when the file does not exist), a newline, the bytes in base64
/// and a newline. Then it waits for a line on stdin: `again` sends the file as it is now in
/// the same frame and waits again (preflight reads the file, the edit reads it anew, in one
/// session); `write MODE LENGTH` (MODE `-` for the old file's) replaces the file with the
/// rest of stdin, LENGTH bytes, as `WRITE` does; anything else, or stdin closing, even half-way through a line, leaves it
/// alone.
pub(super) const EDIT: &str = concat!(
    r#"p=$(readlink -m -- "$1") || exit 1
send() {
  printf '%s\0' "$p"
  if [ -e "$p" ]; then
    stat -L -c %a -- "$p" || exit 1
    base64 -w 0 -- "$p" || exit 1
    echo
  else
    printf -- '-\n\n'
  fi
}
send
while :; do
  IFS=' ' read -r go m n || exit 0
  [ "$go" = again ] || break
  send
done
[ "$go" = write ] || exit 0
[ "$m" != - ] || m=
"#,
    replace!()
);

/// Removes the temporary copies an interrupted `WRITE` left beside `$1` (a kill of `runbook`
/// can cut the remote script off before its trap runs), as the local sweep does: regular files
/// named as `WRITE` names them, never a link. Prints how many it removed.
pub(super) const SWEEP: &str = r#"p=$(readlink -m -- "$1") || exit 1
d=$(dirname -- "$p"); b=$(basename -- "$p"); n=0
[ -d "$d" ] || { echo 0; exit 0; }
for t in "$d/.$b.runbook-"*.tmp; do
  if [ -f "$t" ] && [ ! -L "$t" ]; then rm -f -- "$t" && n=$((n + 1)); fi
done
echo "$n""#;

/// Removes a file that a restore says did not exist.
pub(super) const REMOVE: &str = r#"exec rm -f -- "$1""#;

/// Signals a process group: `$1` the group id, `$2` the signal name.
pub(super) const SIGNAL_GROUP: &str = r#"exec kill -s "$2" -- "-$1""#;

/// Starts a step's program in the session's process group and reports that group first.
///
/// sshd makes the command a session (and group) leader, so the whole tree the program
/// starts is in the group named here, which a timeout or an interrupt signals. Then it reads
/// the environment from stdin — a count line, then one `NAME=VALUE` line per variable with
/// the value octal-escaped for `printf %b` — changes to `$1` when it is not empty, and execs
/// the program (`$2...`) with the rest of stdin as the program's stdin. `export` and
/// `printf` are builtins: no value reaches an argv.
pub(super) const SPAWN: &str = r#"read -r _ _ _ _ g _ < /proc/$$/stat
printf 'runbook-pgid %s\n' "$g" >&2
read -r n
while [ "$n" -gt 0 ]; do
  IFS= read -r l
  v=$(printf '%b.' "${l#*=}")
  export "${l%%=*}=${v%.}"
  n=$((n - 1))
done
if [ -n "$1" ]; then cd -- "$1" || exit 127; fi
shift
exec "$@""#;

/// The first line the spawn script writes to stderr, before the program's own output.
pub(super) const PGID_PREFIX: &str = "runbook-pgid ";

/// What the spawn script reads from stdin before the program's stdin: the environment.
pub(super) fn environment_header(env: &[(String, String)]) -> Vec<u8> {
    let mut header = format!("{}\n", env.len()).into_bytes();
    for (name, value) in env {
        header.extend_from_slice(name.as_bytes());
        header.push(b'=');
        for byte in value.as_bytes() {
            header.extend_from_slice(format!("\\0{byte:03o}").as_bytes());
        }
        header.push(b'\n');
    }
    header
}

/// Quotes a word for the remote shell that sshd hands the command line to.
pub(super) fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The remote command line that runs `script` with `args`.
pub(super) fn command_line(script: &str, args: &[&str]) -> String {
    let mut line = format!("sh -c {} {ARGV0}", quote(script));
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_header_round_trips_through_the_real_shell() {
        let value = "multi\nline 'quoted' $HOME \\ \u{e9}\n\n";
        let mut stdin = environment_header(&[("SECRET".into(), value.into())]);
        stdin.extend_from_slice(b"rest of stdin");
        let script = SPAWN.replace("read -r _ _ _ _ g _ < /proc/$$/stat\n", "g=0\n");
        let mut child = std::process::Command::new("sh")
            .args(["-c", &script, ARGV0, "", "sh", "-c"])
            .arg(r#"printf '%s|' "$SECRET"; cat"#)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{value}|rest of stdin")
        );
    }

    /// Runs `EDIT` on `path` in the real shell with `stdin`: its exit code and stdout.
    fn edit(path: &std::path::Path, stdin: &[u8]) -> (Option<i32>, Vec<u8>) {
        use std::io::Write;
        let mut child = std::process::Command::new("sh")
            .args(["-c", EDIT, ARGV0])
            .arg(path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), out.stdout)
    }

    #[test]
    fn an_edit_session_reads_again_and_writes_only_what_arrived_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "K=old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let framed = |bytes: &[u8]| {
            let mut frame = format!("{}\x00640\n", path.display()).into_bytes();
            frame.extend(
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes).bytes(),
            );
            frame.push(b'\n');
            frame
        };

        // Stdin closing, whole line or not, and an unknown word write nothing.
        for stdin in [&b""[..], b"write - 6", b"write - 6\nK=ne", b"read\nK=new\n"] {
            let (code, out) = edit(&path, stdin);
            assert_ne!(code, None);
            assert_eq!(out, framed(b"K=old\n"));
            assert_eq!(std::fs::read(&path).unwrap(), b"K=old\n");
        }
        // New bytes shorter than announced (a connection lost half-way) replace nothing.
        let (code, _) = edit(&path, b"write - 7\nK=new\n");
        assert_eq!(code, Some(1));
        assert_eq!(std::fs::read(&path).unwrap(), b"K=old\n");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );

        // `again` sends the file as it is then; `write` replaces it, mode kept.
        let mut stdin = b"again\nwrite - 6\nK=new\n".to_vec();
        let (code, out) = edit(&path, &stdin);
        assert_eq!(code, Some(0));
        assert_eq!(out, [framed(b"K=old\n"), framed(b"K=old\n")].concat());
        assert_eq!(std::fs::read(&path).unwrap(), b"K=new\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        // A mode given is the new file's.
        stdin = b"write 600 4\nK=x\n".to_vec();
        assert_eq!(edit(&path, &stdin).0, Some(0));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(
            (std::fs::read(&path).unwrap(), mode),
            (b"K=x\n".to_vec(), 0o600)
        );
    }

    #[test]
    fn quoted_words_survive_the_shell() {
        for word in ["plain", "", "it's", "a b", "$(x)", "-n"] {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {}", quote(word))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), word);
        }
    }
}
