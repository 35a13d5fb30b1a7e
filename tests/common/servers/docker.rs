//! A real Docker daemon for the compose tests, nested: its own data and exec roots and socket
//! in a temp dir, vfs storage, no iptables and no bridge (containers use the host's network),
//! and an image made offline with `docker import` from the demo service, the libraries `ldd`
//! lists and a busybox for the health checks. Torn down on Drop, containers first.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{find_on_path, temp_dir, unavailable};

/// The image every compose test runs; built by [`Docker::import_demo_image`].
pub(crate) const DEMO_IMAGE: &str = "runbook-demo:test";

pub(crate) struct Docker {
    dir: tempfile::TempDir,
    daemon: Child,
    /// `DOCKER_HOST` for every client of this daemon.
    pub host: String,
    /// The compose command installed here: `docker compose` (v2) or `docker-compose` (v1).
    pub compose: Vec<String>,
}

impl Docker {
    /// Starts a daemon, or returns `None` (skipping loudly; failing under CI) when Docker or
    /// Compose is not installed or the daemon cannot start on this machine.
    pub(crate) fn start() -> Option<Docker> {
        let (Some(dockerd), Some(_)) = (find_on_path("dockerd"), find_on_path("docker")) else {
            return unavailable("dockerd and docker", "docker.io");
        };
        let dir = temp_dir("runbook-docker");
        let socket = dir.path().join("docker.sock");
        let log = std::fs::File::create(dir.path().join("dockerd.log")).expect("dockerd log");
        let daemon = Command::new(dockerd)
            .args(["--storage-driver=vfs", "--iptables=false", "--bridge=none"])
            .arg(format!("--data-root={}", dir.path().join("data").display()))
            .arg(format!("--exec-root={}", dir.path().join("exec").display()))
            .arg(format!(
                "--pidfile={}",
                dir.path().join("dockerd.pid").display()
            ))
            .arg(format!("--host=unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dockerd log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn dockerd");
        let host = format!("unix://{}", socket.display());
        let mut docker = Docker {
            dir,
            daemon,
            host,
            compose: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !docker
            .client(&["version"])
            .status()
            .is_ok_and(|s| s.success())
        {
            if docker.daemon.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(docker.dir.path().join("dockerd.log"));
                let tail: String = log.unwrap_or_default().lines().rev().take(5).collect();
                return unavailable(&format!("a working dockerd ({tail})"), "docker.io");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        docker.compose = if docker
            .client(&["compose", "version"])
            .status()
            .is_ok_and(|s| s.success())
        {
            vec!["docker".to_owned(), "compose".to_owned()]
        } else if find_on_path("docker-compose").is_some() {
            vec!["docker-compose".to_owned()]
        } else {
            return unavailable("docker compose or docker-compose", "docker-compose");
        };
        Some(docker)
    }

    /// A `docker ARGS` command for this daemon.
    pub(crate) fn client(&self, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    /// Imports [`DEMO_IMAGE`]: `service` at `/demo-service` with its libraries, and busybox.
    pub(crate) fn import_demo_image(&self, service: &Path) {
        let root = self.dir.path().join("rootfs");
        std::fs::create_dir_all(root.join("bin")).expect("rootfs");
        std::fs::create_dir_all(root.join("tmp")).expect("rootfs /tmp");
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .map(PathBuf::from)
            .find(|path| path.exists())
            .expect("busybox (install busybox-static)");
        for (binary, inside) in [
            (service, "demo-service"),
            (busybox.as_path(), "bin/busybox"),
        ] {
            std::fs::copy(binary, root.join(inside)).expect("copy a binary into the image");
            for library in libraries(binary) {
                let target = root.join(library.strip_prefix("/").expect("an absolute path"));
                std::fs::create_dir_all(target.parent().expect("a parent")).expect("lib dir");
                std::fs::copy(&library, target).expect("copy a library into the image");
            }
        }
        std::os::unix::fs::symlink("busybox", root.join("bin/sh")).expect("/bin/sh");
        let archive = self.dir.path().join("rootfs.tar");
        let tarred = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&archive)
            .arg(".")
            .status()
            .expect("tar the rootfs");
        assert!(tarred.success(), "tar of the image's rootfs failed");
        let imported = self
            .client(&["import", "-", DEMO_IMAGE])
            .stdin(std::fs::File::open(&archive).expect("the rootfs archive"))
            .status()
            .expect("docker import");
        assert!(imported.success(), "docker import failed");
    }
}

/// The shared libraries `ldd` lists for `binary` (none for a static one).
fn libraries(binary: &Path) -> Vec<PathBuf> {
    let output = Command::new("ldd").arg(binary).output().expect("run ldd");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter(|word| word.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

impl Drop for Docker {
    fn drop(&mut self) {
        let listed = Command::new("docker")
            .args(["ps", "-aq"])
            .env("DOCKER_HOST", &self.host)
            .output();
        if let Ok(listed) = listed {
            let ids = String::from_utf8_lossy(&listed.stdout).into_owned();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.client(&args).status();
            }
        }
        // TERM lets dockerd stop its containerd; its process group catches what it left.
        let group = rustix::process::Pid::from_child(&self.daemon);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.daemon.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.daemon.wait();
        // dockerd leaves its default network namespace mounted under the exec root; the temp
        // dir could not be removed (and every run would leave one) while it is.
        let netns = self.dir.path().join("exec/netns/default");
        if netns.exists() {
            let _ = Command::new("umount").arg(&netns).status();
        }
    }
}
