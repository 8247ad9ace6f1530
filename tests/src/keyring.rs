//! A real Secret Service for a test: a private D-Bus session bus and `gnome-keyring-daemon`
//! on it, with their own home, both stopped when the handle drops. `scripts/test.sh`
//! installs them; a missing one fails the test that asks for it.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "sortie-test-keyring";

pub struct SecretService {
    /// The session's HOME, where gnome-keyring keeps its keyring files.
    pub home: tempfile::TempDir,
    pub bus: String,
    bus_pid: u32,
    keyring: Option<Child>,
}

impl SecretService {
    /// Starts the bus and the keyring (unlocked) and waits until the Secret Service answers.
    pub fn start() -> Self {
        let home = tempfile::tempdir().expect("keyring home");
        std::fs::create_dir_all(home.path().join("run")).expect("runtime dir");
        // A bus of its own, without service activation: a keyring the test stops stays
        // stopped (the system's session config would start a new, locked one on demand).
        let config = home.path().join("bus.conf");
        std::fs::write(&config, bus_config(&home.path().join("run"))).expect("bus config");
        let out = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--fork", "--print-address=1", "--print-pid=1"])
            .stdin(Stdio::null())
            .output()
            .expect("dbus-daemon (scripts/test.sh installs it)");
        assert!(out.status.success(), "dbus-daemon failed: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let bus = lines.next().expect("bus address").trim().to_string();
        let bus_pid = lines.next().expect("bus pid").trim().parse().expect("pid");
        let mut service = Self {
            home,
            bus,
            bus_pid,
            keyring: None,
        };
        service.start_keyring();
        service
    }

    /// The variables a process needs to reach this Secret Service.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DBUS_SESSION_BUS_ADDRESS".into(), self.bus.clone()),
            ("HOME".into(), self.home.path().display().to_string()),
            (
                "XDG_RUNTIME_DIR".into(),
                self.home.path().join("run").display().to_string(),
            ),
        ]
    }

    /// Starts gnome-keyring-daemon (again), unlocking its keyring with the test's password.
    pub fn start_keyring(&mut self) {
        let mut cmd = Command::new("gnome-keyring-daemon");
        cmd.args(["--foreground", "--unlock", "--components=secrets"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.home.path().join("gnome-keyring.log"))
                    .expect("keyring log"),
            );
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .expect("gnome-keyring-daemon (scripts/test.sh installs it)");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(PASSWORD.as_bytes()).expect("password");
        drop(stdin);
        self.keyring = Some(child);
        self.wait_for_secrets(true);
    }

    /// Stops gnome-keyring-daemon: the Secret Service is gone from the bus.
    pub fn stop_keyring(&mut self) {
        if let Some(mut child) = self.keyring.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.wait_for_secrets(false);
    }

    fn wait_for_secrets(&self, present: bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.secrets_on_bus() == present {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Secret Service did not {} within 20 s; gnome-keyring said: {}",
                if present { "appear" } else { "go" },
                std::fs::read_to_string(self.home.path().join("gnome-keyring.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// True once the Secret Service answers with its default collection unlocked.
    fn secrets_on_bus(&self) -> bool {
        let owned = self.ask(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.secrets",
        ]);
        owned.contains("boolean true")
            && self
                .ask(&[
                    "--dest=org.freedesktop.secrets",
                    "/org/freedesktop/secrets/aliases/default",
                    "org.freedesktop.DBus.Properties.Get",
                    "string:org.freedesktop.Secret.Collection",
                    "string:Locked",
                ])
                .contains("boolean false")
    }

    /// One `dbus-send --print-reply` on the session bus: its answer, as text.
    fn ask(&self, args: &[&str]) -> String {
        let out = Command::new("dbus-send")
            .args(["--session", "--print-reply"])
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()
            .expect("dbus-send (scripts/test.sh installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Where gnome-keyring keeps its keyrings in this session.
    pub fn keyrings_dir(&self) -> std::path::PathBuf {
        Path::new(self.home.path()).join(".local/share/keyrings")
    }
}

fn bus_config(dir: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        dir.display()
    )
}

impl Drop for SecretService {
    fn drop(&mut self) {
        if let Some(mut child) = self.keyring.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("kill").arg(self.bus_pid.to_string()).status();
    }
}
