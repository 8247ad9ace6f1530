//! The TUI end to end: the real binary in a real terminal (tmux), against a mock provider.
//! It starts the daemon, starts a mission and shows it finish, switches its model and
//! resumes it, and quits leaving the terminal as it was.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sortie_tests::{sortie, sortie_bin, write_local_config, MockProvider, Reply};

/// A tmux server of its own (its own socket, no config) running one pane.
struct Tmux {
    socket: String,
    /// Where the pane's shell writes the command's exit status.
    exit_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    fn start(cwd: &Path, command: &str, cols: u16, rows: u16) -> Self {
        let socket = format!("sortie-test-{}-{}", std::process::id(), rand_suffix());
        let dir = tempfile::tempdir().expect("dir");
        let t = Self {
            socket,
            exit_file: dir.path().join("exit-status"),
            _dir: dir,
        };
        // A shell runs the command and records how it ended: tmux's own idea of a dead
        // pane depends on it reaping the process, which a loaded machine can delay.
        let command = format!(
            "{command}; echo $? > {}",
            shell_quote(&t.exit_file.display().to_string())
        );
        let out = t
            .cmd()
            .args([
                "new-session",
                "-d",
                "-s",
                "main",
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
                "-c",
            ])
            .arg(cwd)
            .arg(&command)
            .output()
            .expect("tmux runs (./scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.run(&["set-option", "-t", "main", "remain-on-exit", "on"]);
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Keys by tmux name (`Enter`, `Escape`, `Down`, `q` ...).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Text typed as is.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "main", "-l", text]);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "main"])
    }

    /// Waits (up to 30 s) until the screen shows every one of `needles`; the screen.
    async fn wait_for(&self, needles: &[&str]) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if needles.iter().all(|n| screen.contains(n)) {
                return screen;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the screen never showed {needles:?}:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 20 s) until the command has ended; its exit status.
    async fn exit_status(&self) -> String {
        let started = Instant::now();
        loop {
            if let Ok(status) = std::fs::read_to_string(&self.exit_file) {
                if status.ends_with('\n') {
                    return status.trim().to_string();
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the command in the pane did not end:\n{}",
                self.screen()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The pid of the command the pane's shell runs.
    fn command_pid(&self) -> String {
        let shell = self.pane("#{pane_pid}");
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .unwrap_or_default();
        children
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("the pane's shell {shell} runs no command"))
            .to_string()
    }

    fn pane(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "main", format])
            .trim()
            .to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish() % 1_000_000
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shell command a tmux pane runs: this build's `sortie <args>` on `home`.
fn sortie_command(home: &Path, args: &str) -> String {
    format!(
        "env SORTIE_HOME={} TERM=xterm-256color {} {args}",
        shell_quote(&home.display().to_string()),
        shell_quote(&sortie_bin().display().to_string())
    )
}

#[tokio::test]
async fn start_a_mission_watch_it_finish_switch_its_model_and_resume() {
    let mock = MockProvider::start().await;
    mock.push_for(
        "/v1/models",
        Reply::json(json!({"object": "list", "data": [
            {"id": "mock-model", "object": "model", "owned_by": "me"},
            {"id": "other-model", "object": "model", "owned_by": "me"}
        ]})),
    );
    mock.push(Reply::text("First answer, from the first model."));
    mock.push(Reply::text("Second answer, after the switch."));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");

    let command = sortie_command(home.path(), "tui");
    let tmux = Tmux::start(cwd.path(), &command, 100, 30);
    // It started the daemon and shows the empty list.
    tmux.wait_for(&["Missions (0)", "No missions yet"]).await;
    assert!(
        home.path().join("daemon.json").exists(),
        "the TUI started the daemon"
    );

    // n: a new mission; it opens, streams, and finishes.
    tmux.keys(&["n"]);
    tmux.wait_for(&["New mission"]).await;
    tmux.type_text("say hello");
    tmux.keys(&["Enter"]);
    let screen = tmux
        .wait_for(&[
            "First answer, from the first model.",
            "completed",
            "local/mock-model",
        ])
        .await;
    assert!(screen.contains("› say hello"), "{screen}");

    // m: the picker; local is the current provider, then its models from the daemon.
    tmux.keys(&["m"]);
    tmux.wait_for(&["Provider — Enter to choose", "local (current)"])
        .await;
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["mock-model (current)", "other-model"])
        .await;
    tmux.keys(&["Down", "Enter"]);
    tmux.wait_for(&["Resume on local / other-model"]).await;
    tmux.type_text("and again");
    tmux.keys(&["Enter"]);
    let screen = tmux
        .wait_for(&[
            "Second answer, after the switch.",
            "local/other-model",
            "completed",
        ])
        .await;
    assert!(screen.contains("› and again"), "{screen}");
    assert!(screen.contains("now on local/other-model"), "{screen}");
    assert_eq!(screen.matches("› say hello").count(), 1, "{screen}");

    // The list shows it by its first prompt (no title: titles are off).
    tmux.keys(&["Escape"]);
    tmux.wait_for(&["Missions (1)", "say hello", "other-model"])
        .await;

    // q quits: the process ends with 0 and the terminal leaves the alternate screen.
    tmux.keys(&["q"]);
    assert_eq!(tmux.exit_status().await, "0", "{}", tmux.screen());
    assert_eq!(
        tmux.pane("#{alternate_on}"),
        "0",
        "the terminal is back on its normal screen"
    );

    // What the daemon did: one mission, switched, both turns, the second on other-model.
    let out = sortie(home.path())
        .args(["missions", "--json"])
        .output()
        .expect("missions");
    let missions: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(missions.as_array().map(Vec::len), Some(1), "{missions}");
    assert_eq!(missions[0]["model"], "other-model");
    assert_eq!(missions[0]["status"], "completed");
    let models: Vec<String> = mock
        .requests()
        .iter()
        .filter_map(|r| r["model"].as_str().map(String::from))
        .collect();
    assert_eq!(models, ["mock-model", "other-model"]);
    let _ = sortie(home.path()).args(["serve", "--stop"]).output();
}

#[tokio::test]
async fn sigterm_restores_the_terminal() {
    let mock = MockProvider::start().await;
    let home = tempfile::tempdir().expect("home");
    write_local_config(home.path(), &mock.base_url(), "");
    let command = sortie_command(home.path(), "tui");
    let tmux = Tmux::start(home.path(), &command, 80, 24);
    tmux.wait_for(&["Missions (0)"]).await;
    assert_eq!(tmux.pane("#{alternate_on}"), "1");
    let pid = tmux.command_pid();
    // The command the pane's shell runs (`env`, which exec'd sortie).
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    // Ended by the signal it handles: a clean exit, not death by SIGTERM.
    assert_eq!(tmux.exit_status().await, "0", "{}", tmux.screen());
    assert_eq!(
        tmux.pane("#{alternate_on}"),
        "0",
        "the terminal is back on its normal screen"
    );
    let _ = sortie(home.path()).args(["serve", "--stop"]).output();
}

/// `sortie run --permission ask` at a terminal while a daemon runs the mission: the daemon
/// asks, the command asks the person, the answer goes back.
#[tokio::test]
async fn ask_at_a_terminal_goes_through_the_daemon() {
    let mock = MockProvider::start().await;
    mock.push(Reply::tool_call(
        "call_1",
        "write_file",
        json!({"path": "out.txt", "content": "approved"}),
    ));
    mock.push(Reply::text("Wrote out.txt."));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");
    let daemon = sortie_tests::daemon::DaemonProc::start(home.path()).await;
    let command = sortie_command(home.path(), "run --permission ask 'write the file'");
    let tmux = Tmux::start(cwd.path(), &command, 100, 30);
    tmux.wait_for(&["allow write_file: out.txt? [y/N]"]).await;
    tmux.type_text("y");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["Wrote out.txt.", "completed"]).await;
    assert_eq!(
        std::fs::read_to_string(cwd.path().join("out.txt")).expect("written"),
        "approved"
    );
    let (_, missions) = daemon.get("/missions").await;
    assert_eq!(missions["missions"][0]["status"], "completed", "{missions}");
}

#[tokio::test]
async fn run_at_a_terminal_shows_a_spinner_with_the_time_spent_waiting() {
    let mock = MockProvider::start().await;
    let command = "echo compiling; sleep 4; echo linked";
    mock.push(
        Reply::tool_call("c1", "shell", json!({ "command": command }))
            .delayed(Duration::from_secs(3)),
    );
    mock.push(Reply::text("All built."));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(home.path(), &mock.base_url(), "");
    let args = format!(
        "run 'build it' --cwd {}",
        shell_quote(&cwd.path().display().to_string())
    );
    let pane = format!(
        "env SORTIE_AUTOSTART=0 {}",
        sortie_command(home.path(), &args)
    );
    let tmux = Tmux::start(cwd.path(), &pane, 100, 30);

    // The model has not answered yet.
    tmux.wait_for(&["waiting for mock-model · "]).await;
    // The tool runs: its output so far, and how long it has been running.
    let label = format!("shell: {command} · ");
    let screen = tmux.wait_for(&["│ compiling", &label]).await;
    let spinner = screen
        .lines()
        .find(|l| l.contains(&label))
        .expect("the spinner's line");
    let elapsed = spinner.split(&label).nth(1).unwrap_or_default().trim();
    assert!(
        elapsed.ends_with('s') && elapsed[..elapsed.len() - 1].parse::<u64>().is_ok(),
        "{spinner}"
    );
    let done = tmux.wait_for(&["All built.", "── completed"]).await;
    assert_eq!(tmux.exit_status().await, "0");
    assert!(done.contains("│ linked"), "{done}");
    assert!(
        !done.contains(&label),
        "the spinner stayed on screen:\n{done}"
    );
    assert!(!done.contains("waiting for mock-model"), "{done}");
}

#[tokio::test]
async fn the_new_mission_box_sends_the_sandbox_that_tab_picked() {
    let mock = MockProvider::start().await;
    mock.push(Reply::text("Ran where I was told."));
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    write_local_config(
        home.path(),
        &mock.base_url(),
        "\n[sandbox]\nmode = \"read-only\"",
    );
    let tmux = Tmux::start(cwd.path(), &sortie_command(home.path(), "tui"), 100, 30);
    tmux.wait_for(&["Missions (0)"]).await;

    // The box starts on the config's mode; Tab goes to the next one.
    tmux.keys(&["n"]);
    tmux.wait_for(&["New mission", "sandbox: read-only · Tab changes"])
        .await;
    tmux.type_text("unconfined please");
    tmux.keys(&["Tab"]);
    tmux.wait_for(&["sandbox: off — not confined"]).await;
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["Ran where I was told.", "completed", "⚠ sandbox off"])
        .await;
    tmux.keys(&["q"]);
    assert_eq!(tmux.exit_status().await, "0", "{}", tmux.screen());

    // The daemon got it: the mission's record, and the model was told.
    let list = tokio::process::Command::from({
        let mut c = sortie(home.path());
        c.args(["missions", "--json"]);
        c
    })
    .output()
    .await
    .expect("missions");
    let missions: Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(missions[0]["prompt"], "unconfined please", "{missions}");
    assert_eq!(missions[0]["sandbox"], "off", "{missions}");
    let system = mock.requests()[0]["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(system.contains("Sandbox: off."), "{system}");
    let _ = tokio::process::Command::from({
        let mut c = sortie(home.path());
        c.args(["serve", "--stop"]);
        c
    })
    .output()
    .await;
}
