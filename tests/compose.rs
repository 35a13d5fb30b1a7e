//! A real compose deployment: the demo service in containers of a nested Docker daemon, its
//! settings from `env_file: .env.prod`, rotated by the real `runbook` through the default
//! recreate driver and through the shipped blue/green driver (`drivers/compose-bluegreen.sh`)
//! while `demo-load` keeps requesting it. Skipped loudly without Docker; failing under CI.

mod common;
#[path = "demo_service/load.rs"]
mod load;
#[path = "demo_service/support.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use common::servers::{DEMO_IMAGE, Docker};
use load::Load;
use support::{example_binary, get_json};

/// A compose project of the demo: `api` and `worker`, both the demo service reading its
/// settings from the environment compose gives it, on the host's network.
struct Project {
    dir: tempfile::TempDir,
    docker: Docker,
    api_port: u16,
}

/// One service of the compose file. The health check asks /health until this container's own
/// instance answers 200: during a blue/green restart two containers share the port.
fn service(name: &str, port: u16) -> String {
    format!(
        r#"  {name}:
    image: {DEMO_IMAGE}
    network_mode: host
    env_file: .env.prod
    volumes: ["./run:/run/demo"]
    command: ["/demo-service", "--environment", "--port", "{port}", "--handover", "/run/demo/{name}.sock", "--instance-file", "/tmp/instance"]
    stop_grace_period: 20s
    healthcheck:
      test: ["CMD", "/bin/sh", "-c", "i=$$(cat /tmp/instance) && for n in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do h=$$(/bin/busybox wget -S -q -O /dev/null http://127.0.0.1:{port}/health 2>&1) && case $$h in *\"X-Demo-Instance: $$i\"*) exit 0;; esac; done; exit 1"]
      interval: 1s
      timeout: 10s
      retries: 30
"#
    )
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Project {
    fn up() -> Option<Project> {
        let docker = Docker::start()?;
        docker.import_demo_image(&example_binary("demo-service"));
        let dir = tempfile::Builder::new()
            .prefix("runbook-compose")
            .tempdir()
            .unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(
            repo.join("examples/demo/.env.prod.template"),
            dir.path().join(".env.prod"),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("run")).unwrap();
        let api_port = free_port();
        let compose = format!(
            "version: \"2.4\"\nservices:\n{}{}",
            service("api", api_port),
            service("worker", free_port())
        );
        std::fs::write(dir.path().join("compose.yml"), compose).unwrap();
        let project = Project {
            dir,
            docker,
            api_port,
        };
        let started = project.compose(&["up", "-d"]).output().unwrap();
        assert!(
            started.status.success(),
            "compose up failed: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        project.wait_healthy();
        Some(project)
    }

    /// The compose command line of this project, as a string for `restart.run` or as argv.
    fn compose_words(&self) -> Vec<String> {
        let mut words = self.docker.compose.clone();
        words.extend(["-f".into(), "compose.yml".into(), "-p".into(), self.name()]);
        words
    }

    fn name(&self) -> String {
        let base = self.dir.path().file_name().unwrap().to_string_lossy();
        base.to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "")
    }

    fn compose(&self, args: &[&str]) -> Command {
        let words = self.compose_words();
        let mut command = Command::new(&words[0]);
        command
            .args(&words[1..])
            .args(args)
            .current_dir(self.dir.path())
            .env("DOCKER_HOST", &self.docker.host)
            .stdin(Stdio::null());
        command
    }

    fn wait_healthy(&self) {
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", self.api_port)).is_ok()
                && get_json(self.api_port, "/health", None).0 == 200
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the api container did not answer /health");
    }

    fn jwt_fingerprint(&self) -> String {
        let (_, body) = get_json(self.api_port, "/fingerprints", None);
        body["JWT_SECRET"].as_str().unwrap().to_owned()
    }

    /// `runbook run jwt-rotation --yes` with `driver` as the restart driver, or without one
    /// (`None`): the built-in default, which finds Compose itself.
    fn rotate(&self, driver: Option<&str>) -> (i32, String) {
        let restart = driver.map_or(String::new(), |driver| {
            format!("restart:\n  run: {driver}\n  timeout: 5m\n")
        });
        let config = format!(
            "runbooks: {}\nvars:\n  env_file: .env.prod\n  compose_file: compose.yml\n  api_url: http://127.0.0.1:{}\n  health_interval: 500ms\n{restart}",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("runbooks")
                .display(),
            self.api_port
        );
        std::fs::write(self.dir.path().join("runbook.yaml"), config).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_runbook"))
            .args(["run", "jwt-rotation", "--yes"])
            .current_dir(self.dir.path())
            .env("DOCKER_HOST", &self.docker.host)
            // The built-in driver names no project: compose takes it from here.
            .env("COMPOSE_PROJECT_NAME", self.name())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-t", "1"]).output();
    }
}

/// The platform's secret-rotation guide says `docker compose restart`; compose keeps the
/// environment a container was created with, so the rotation's own verify catches the new key
/// not live and rolls back. The built-in default driver (no `restart:` in the config) recreates
/// with whichever Compose is installed, says which, and the new value is read.
#[test]
fn compose_restart_keeps_the_old_key_live_and_the_default_recreate_driver_reads_the_new() {
    let Some(project) = Project::up() else { return };
    let words = project.compose_words().join(" ");
    let before = project.jwt_fingerprint();
    let env_before = std::fs::read(project.dir.path().join(".env.prod")).unwrap();
    let (code, output) = project.rotate(Some(&format!(
        "{words} restart {{{{ services | join(\" \") }}}}"
    )));
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("✗ jwt-rotation/new-key-accepted (verify)"),
        "{output}"
    );
    assert_eq!(
        project.jwt_fingerprint(),
        before,
        "restart kept the old value"
    );
    assert_eq!(
        std::fs::read(project.dir.path().join(".env.prod")).unwrap(),
        env_before
    );

    let (code, output) = project.rotate(None);
    assert_eq!(code, 0, "{output}");
    let chosen = if project.docker.compose.len() == 1 {
        "with docker-compose (Compose v1)"
    } else {
        "with docker compose (Compose v2)"
    };
    assert!(
        output.contains(&format!("recreating api worker {chosen}")),
        "{output}"
    );
    project.wait_healthy();
    assert_ne!(
        project.jwt_fingerprint(),
        before,
        "the recreated container reads the new value"
    );
}

/// The shipped blue/green driver: scale up, wait for the new containers' own health, drain and
/// remove the old ones. Under load, not one request fails.
#[test]
fn compose_blue_green_driver_rotates_without_a_failed_request_under_load() {
    let Some(project) = Project::up() else { return };
    let before = project.jwt_fingerprint();
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("drivers/compose-bluegreen.sh");
    let mut words = project.compose_words();
    let compose = words
        .drain(..project.docker.compose.len())
        .collect::<Vec<_>>()
        .join(" ");
    let run = format!(
        "COMPOSE='{compose}' bash {} {} {{{{ services | join(\" \") }}}}",
        driver.display(),
        words.join(" ")
    );
    let load = Load::start(
        project.dir.path(),
        project.api_port,
        &project.dir.path().join(".env.prod"),
        &[],
    );
    let (code, output) = project.rotate(Some(&run));
    let report = load.finish();
    assert_eq!(code, 0, "{output}");
    assert_eq!(report.total("failed"), 0, "{report}\n{output}");
    assert!(report.0["instances"].as_u64().unwrap() >= 2, "{report}");
    assert_ne!(project.jwt_fingerprint(), before);
    let listed = project.compose(&["ps", "-q", "api"]).output().unwrap();
    let containers = String::from_utf8_lossy(&listed.stdout).lines().count();
    assert_eq!(containers, 1, "the old api container was removed");
}
