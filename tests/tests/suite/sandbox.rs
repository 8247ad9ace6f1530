//! The sandbox, on the real kernel through the real launcher (the `sortie` binary): what
//! a tool's command may write and read in each mode, its environment, the network, what
//! happens when the kernel lacks a feature, and that nothing a call starts outlives it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
use sortie_missions::tools::{Approver, DenyAll, PermissionPolicy, ToolBox, ToolResult};
use sortie_missions::ToolOutcome;
use sortie_sandbox::{EnvPolicy, Feature, Ledger, Report, Sandbox, SandboxMode, SandboxPolicy};

/// A data dir holding a token, a working directory, and a directory outside both.
struct Rig {
    home: tempfile::TempDir,
    cwd: tempfile::TempDir,
    outside: tempfile::TempDir,
}

impl Rig {
    fn new() -> Self {
        let rig = Self {
            home: tempfile::tempdir().expect("home"),
            cwd: tempfile::tempdir().expect("cwd"),
            outside: tempfile::tempdir().expect("outside"),
        };
        std::fs::write(rig.home.path().join("daemon.token"), "token-0123456789").expect("token");
        rig
    }

    fn sandbox(&self, mode: SandboxMode) -> Sandbox {
        let tmpdir = self.home.path().join("tmp/m1");
        std::fs::create_dir_all(&tmpdir).expect("tmpdir");
        Sandbox {
            policy: SandboxPolicy {
                mode,
                ..SandboxPolicy::default()
            },
            cwd: self.cwd.path().canonicalize().expect("cwd"),
            tmpdir,
            data_dir: Some(self.home.path().canonicalize().expect("home")),
            launcher: Some(sortie_tests::sortie_bin()),
            env: EnvPolicy::default(),
            ledger: Some(Ledger::open(self.home.path().join("processes")).expect("ledger")),
            unavailable: Vec::new(),
            required: Vec::new(),
        }
    }

    fn out(&self, name: &str) -> PathBuf {
        self.outside.path().join(name)
    }
}

async fn shell(sandbox: &Sandbox, command: &str) -> ToolResult {
    shell_as(sandbox, PermissionPolicy::Auto, &DenyAll, command).await
}

async fn shell_as(
    sandbox: &Sandbox,
    policy: PermissionPolicy,
    approver: &dyn Approver,
    command: &str,
) -> ToolResult {
    ToolBox::default()
        .run(
            sandbox,
            policy,
            approver,
            "shell",
            &json!({ "command": command }).to_string(),
        )
        .await
}

fn refused(r: &ToolResult) -> bool {
    r.outcome == ToolOutcome::Error && r.output.contains("Permission denied")
}

#[tokio::test]
async fn the_launcher_enforces_both_confinements_on_this_kernel() {
    let rig = Rig::new();
    let mut sandbox = rig.sandbox(SandboxMode::WorkspaceWrite);
    sandbox.policy.network = false;
    let report = sandbox.probe(false).await;
    assert_eq!(
        report.warnings(SandboxMode::WorkspaceWrite),
        Vec::<String>::new()
    );
    assert_eq!(
        serde_json::to_value(&report).expect("json"),
        json!({"filesystem": {"status": "enforced"}, "network": {"status": "enforced"}})
    );
}

#[tokio::test]
async fn workspace_write_keeps_the_shell_to_the_working_directory_and_its_temp_dir() {
    let rig = Rig::new();
    let sandbox = rig.sandbox(SandboxMode::WorkspaceWrite);
    let ok = shell(
        &sandbox,
        "echo in > in.txt && echo tmp > \"$TMPDIR/t\" && cat in.txt \"$TMPDIR/t\" && echo err > /dev/stderr",
    )
    .await;
    assert_eq!(ok.outcome, ToolOutcome::Ok, "{}", ok.output);
    assert!(ok.output.contains("in\ntmp\n"), "{}", ok.output);

    let escape = format!("echo x > {}", rig.out("f").display());
    let r = shell(&sandbox, &escape).await;
    assert!(refused(&r), "{}", r.output);
    assert!(
        r.output
            .contains("sandbox: this command ran in the `workspace-write` sandbox"),
        "{}",
        r.output
    );
    assert!(
        !rig.out("f").exists(),
        "wrote outside the working directory"
    );

    // Through a symlink the command makes itself: the kernel checks the real path.
    let link = format!(
        "ln -s {} link && echo x > link/g",
        rig.outside.path().display()
    );
    let r = shell(&sandbox, &link).await;
    assert!(refused(&r), "{}", r.output);
    assert!(!rig.out("g").exists(), "wrote outside through a symlink");

    // The data dir (the daemon's token) cannot be read, nor listed.
    let token = rig.home.path().join("daemon.token");
    let r = shell(&sandbox, &format!("cat {}", token.display())).await;
    assert!(refused(&r), "{}", r.output);
    assert!(!r.output.contains("token-0123456789"), "{}", r.output);
    let r = shell(&sandbox, &format!("ls {}", rig.home.path().display())).await;
    assert!(refused(&r), "{}", r.output);
    // Elsewhere it reads as usual.
    let r = shell(
        &sandbox,
        "head -c 4 /etc/hostname >/dev/null && ls /usr >/dev/null",
    )
    .await;
    assert_eq!(r.outcome, ToolOutcome::Ok, "{}", r.output);
}

#[tokio::test]
async fn read_only_refuses_writes_even_in_the_working_directory() {
    let rig = Rig::new();
    let sandbox = rig.sandbox(SandboxMode::ReadOnly);
    let r = shell(&sandbox, "echo x > made.txt").await;
    assert!(refused(&r), "{}", r.output);
    assert!(r.output.contains("`read-only` sandbox"), "{}", r.output);
    assert!(!rig.cwd.path().join("made.txt").exists());
    let r = shell(&sandbox, "echo t > \"$TMPDIR/t\" && cat \"$TMPDIR/t\"").await;
    assert_eq!(r.outcome, ToolOutcome::Ok, "{}", r.output);
}

#[tokio::test]
async fn off_is_not_confined_but_still_clean_and_contained() {
    let rig = Rig::new();
    let sandbox = rig.sandbox(SandboxMode::Off);
    let r = shell(&sandbox, &format!("echo x > {}", rig.out("f").display())).await;
    assert_eq!(r.outcome, ToolOutcome::Ok, "{}", r.output);
    assert!(rig.out("f").exists());
}

/// Says yes, and remembers what it was asked.
#[derive(Default)]
struct Yes(Mutex<Vec<String>>);

impl Approver for Yes {
    fn approve<'a>(&'a self, summary: &'a str) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        self.0.lock().expect("lock").push(summary.to_string());
        Box::pin(async { true })
    }
}

#[tokio::test]
async fn ask_may_run_a_refused_call_once_outside_the_sandbox_and_auto_never_does() {
    let rig = Rig::new();
    let sandbox = rig.sandbox(SandboxMode::WorkspaceWrite);
    let escape = format!("echo x >> {}", rig.out("f").display());
    let r = shell(&sandbox, &escape).await;
    assert!(refused(&r), "{}", r.output);
    assert!(
        r.output.contains("It is not run outside the sandbox."),
        "{}",
        r.output
    );
    assert!(!rig.out("f").exists());

    let yes = Yes::default();
    let r = shell_as(&sandbox, PermissionPolicy::Ask, &yes, &escape).await;
    assert_eq!(r.outcome, ToolOutcome::Ok, "{}", r.output);
    assert!(
        r.output
            .starts_with("(run outside the sandbox, as approved)"),
        "{}",
        r.output
    );
    assert_eq!(
        std::fs::read_to_string(rig.out("f")).expect("written"),
        "x\n"
    );
    let asked = yes.0.lock().expect("lock").clone();
    // First the call itself (ask), then the rerun outside the sandbox.
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked[1].contains("OUTSIDE the sandbox"), "{asked:?}");
}

#[tokio::test]
async fn tool_processes_get_the_allow_list_and_never_a_secret() {
    let rig = Rig::new();
    let mut sandbox = rig.sandbox(SandboxMode::WorkspaceWrite);
    sandbox.env = EnvPolicy {
        set: [("ZZ_SET_BY_CONFIG".to_string(), "1".to_string())].into(),
        passthrough: vec!["PATH".into()],
        secret_names: Vec::new(),
    };
    let r = shell(&sandbox, "env | cut -d= -f1 | sort").await;
    assert_eq!(r.outcome, ToolOutcome::Ok, "{}", r.output);
    let names: Vec<&str> = r
        .output
        .lines()
        .skip_while(|l| *l != "--- stdout ---")
        .skip(1)
        .take_while(|l| !l.starts_with("--- "))
        .collect();
    let allowed = |n: &str| {
        [
            "PATH", "HOME", "USER", "SHELL", "LANG", "TERM", "TZ", "TMPDIR", "PWD", "OLDPWD",
        ]
        .contains(&n)
            || n.starts_with("LC_")
            || n == "ZZ_SET_BY_CONFIG"
            || n == "SHLVL"
            || n == "_"
    };
    let extra: Vec<&&str> = names.iter().filter(|n| !allowed(n)).collect();
    assert!(extra.is_empty(), "unexpected variables: {extra:?}");
    assert!(names.contains(&"ZZ_SET_BY_CONFIG"), "{names:?}");
    assert!(names.contains(&"TMPDIR"), "{names:?}");
}

#[tokio::test]
async fn network_false_leaves_only_a_loopback_of_the_sandboxs_own() {
    let rig = Rig::new();
    let mut sandbox = rig.sandbox(SandboxMode::WorkspaceWrite);
    sandbox.policy.network = false;
    // A server on the host's loopback, which the command must not reach.
    let host = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = host.local_addr().expect("addr").port();
    let script = format!(
        r#"
import socket
inner = socket.socket(); inner.bind(("127.0.0.1", 0)); inner.listen(1)
socket.create_connection(inner.getsockname(), timeout=5).close()
print("own loopback: ok")
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=5)
    print("host: reached")
except OSError as e:
    print("host: refused", e.errno)
"#
    );
    std::fs::write(rig.cwd.path().join("net.py"), script).expect("script");
    let r = shell(&sandbox, "python3 net.py").await;
    assert_eq!(r.outcome, ToolOutcome::Ok, "{}", r.output);
    assert!(r.output.contains("own loopback: ok"), "{}", r.output);
    assert!(r.output.contains("host: refused"), "{}", r.output);
    // With the network on, the same command reaches the host.
    sandbox.policy.network = true;
    let r = shell(&sandbox, "python3 net.py").await;
    assert!(r.output.contains("host: reached"), "{}", r.output);
}

#[tokio::test]
async fn a_missing_kernel_feature_is_said_and_the_tools_still_run() {
    let rig = Rig::new();
    let mut sandbox = rig.sandbox(SandboxMode::WorkspaceWrite);
    sandbox.unavailable = vec![Feature::Landlock];
    let report: Report = sandbox.probe(false).await;
    let warnings = report.warnings(SandboxMode::WorkspaceWrite);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("file-system confinement is not available")
            && warnings[0].contains("Landlock turned off by SORTIE_SANDBOX_UNAVAILABLE"),
        "{warnings:?}"
    );
    assert!(sandbox.describe(&report).contains("not (fully) enforced"));
    // Degraded, not failed: the command runs, without the file-system rules.
    let r = shell(&sandbox, &format!("echo x > {}", rig.out("f").display())).await;
    assert_eq!(r.outcome, ToolOutcome::Ok, "{}", r.output);
    assert!(rig.out("f").exists());
}

fn gone(pid: u32) -> bool {
    sortie_sandbox::tree::stat(pid).is_none_or(|s| s.state == 'Z')
}

async fn wait_gone(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(pid) {
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) is still running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid")
}

#[tokio::test]
async fn a_background_child_dies_when_its_call_returns_and_the_call_does_not_wait_for_it() {
    let rig = Rig::new();
    let sandbox = rig.sandbox(SandboxMode::WorkspaceWrite);
    let started = Instant::now();
    // The child keeps stdout open: the call still ends when `sh` does.
    let r = shell(&sandbox, "sleep 300 & echo $! > bg.pid; echo done").await;
    assert_eq!(r.outcome, ToolOutcome::Ok, "{}", r.output);
    assert!(r.output.contains("done"), "{}", r.output);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the call waited for its child"
    );
    wait_gone(read_pid(&rig.cwd.path().join("bg.pid")), "sleep 300 &").await;
    // And nothing is left recorded.
    let left = std::fs::read_dir(rig.home.path().join("processes"))
        .expect("ledger")
        .count();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_cancelled_call_takes_its_whole_tree_even_children_that_left_its_group() {
    let rig = Rig::new();
    let sandbox = rig.sandbox(SandboxMode::WorkspaceWrite);
    let command = "setsid sleep 300 & echo $! > escaped.pid; sleep 300";
    let call = shell(&sandbox, command);
    let pid_file = rig.cwd.path().join("escaped.pid");
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::pin!(call);
        loop {
            tokio::select! {
                _ = &mut call => panic!("the call ended by itself"),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {
                    if std::fs::read_to_string(&pid_file).is_ok_and(|t| !t.trim().is_empty()) {
                        return;
                    }
                }
            }
        }
    })
    .await;
    waited.expect("the command started");
    // The call future was dropped above, as a cancelled mission drops it.
    wait_gone(read_pid(&pid_file), "a setsid child of a cancelled call").await;
}

#[tokio::test]
async fn a_confined_command_cannot_read_its_owners_environment_or_memory() {
    // What `sortie` does at start: this test process now holds "keys" like a daemon does.
    sortie_sandbox::protect_owner();
    let rig = Rig::new();
    let sandbox = rig.sandbox(SandboxMode::WorkspaceWrite);
    let probe = "o=$(cut -d' ' -f4 /proc/$PPID/stat); \
                 cat /proc/$o/environ >/dev/null 2>&1 && echo environ-read || echo environ-denied; \
                 head -c 1 /proc/$o/mem >/dev/null 2>&1 && echo mem-read || echo mem-denied; \
                 grep CapEff /proc/self/status";
    let r = shell(&sandbox, probe).await;
    assert!(r.output.contains("environ-denied"), "{}", r.output);
    assert!(r.output.contains("mem-denied"), "{}", r.output);
    if nix::unistd::geteuid().is_root() {
        // Root in the sandbox keeps no capability that would bypass that.
        assert!(
            r.output.contains("CapEff:\t0000000000000000"),
            "{}",
            r.output
        );
    }
}

#[tokio::test]
async fn a_confined_command_cannot_signal_a_process_outside_its_sandbox() {
    let rig = Rig::new();
    let sandbox = rig.sandbox(SandboxMode::WorkspaceWrite);
    let mut outside = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .expect("sleep");
    let r = shell(&sandbox, &format!("kill -TERM {}", outside.id())).await;
    assert_eq!(r.outcome, ToolOutcome::Error, "{}", r.output);
    assert_eq!(
        outside.try_wait().expect("wait"),
        None,
        "the signal got out"
    );
    let _ = outside.kill();
    let _ = outside.wait();
}

#[tokio::test]
async fn a_launcher_that_cannot_apply_what_the_mission_was_promised_runs_nothing() {
    let rig = Rig::new();
    let mut sandbox = rig.sandbox(SandboxMode::WorkspaceWrite);
    // The probe found Landlock in force; this launch cannot apply it.
    sandbox.required = vec![Feature::Landlock];
    sandbox.unavailable = vec![Feature::Landlock];
    let r = shell(&sandbox, &format!("echo x > {}", rig.out("f").display())).await;
    assert_eq!(r.outcome, ToolOutcome::Error, "{}", r.output);
    assert!(
        r.output
            .contains("was enforced when the mission started and is not now"),
        "{}",
        r.output
    );
    assert!(!rig.out("f").exists(), "the command ran unconfined");
}
