//! A real PostgreSQL server for the tests: Debian's `postgresql` binaries (installed by
//! scripts/test.sh), a cluster made with `initdb` in a temporary directory, started with
//! `pg_ctl` on loopback at a free port (its unix socket in the same directory), as an
//! unprivileged user: `initdb` refuses root, and tests run as root here and in CI.
//!
//! One cluster serves the whole test process ([`Cluster::shared`]); each test takes a
//! database of its own ([`Cluster::create_database`]). A cluster stops when dropped
//! (`pg_ctl stop -m immediate`, also while a test panics); the shared one lives in a
//! static, which is never dropped, so a watchdog process stops it (and removes its
//! directory) once the test process is gone, however it ended.
//!
//! No PostgreSQL, no silent skip: [`Cluster::start`] panics and says what to install.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The superuser the clusters are made with.
const SUPERUSER: &str = "sortie";

/// A running PostgreSQL cluster.
pub struct Cluster {
    bindir: PathBuf,
    /// Holds the data dir, the socket, the password file and the log.
    dir: tempfile::TempDir,
    port: u16,
    password: String,
    /// The unprivileged user the server runs as, when the tests run as root.
    run_as: Option<(u32, u32)>,
}

impl Cluster {
    /// The cluster of this test process, started on first use.
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(Cluster::start)
    }

    /// Makes and starts a new cluster; panics with what to do when PostgreSQL is missing
    /// or does not start.
    pub fn start() -> Cluster {
        let bindir = bindir();
        let run_as = unprivileged_user();
        let dir = tempfile::Builder::new()
            .prefix("sortie-pg-")
            .tempdir()
            .expect("a temporary directory for PostgreSQL");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let password = format!("pw-{}", uuid::Uuid::now_v7().simple());
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &password).expect("write the password file");
        if let Some((uid, gid)) = run_as {
            for path in [dir.path(), pwfile.as_path()] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        let mut cluster = Cluster {
            bindir,
            dir,
            port: 0,
            password,
            run_as,
        };
        cluster.initdb(&pwfile);
        // Another process may take the free port between the check and the start.
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port();
            match cluster.pg_ctl_start() {
                Ok(()) => {
                    cluster.watch();
                    return cluster;
                }
                Err(e) => last = e,
            }
        }
        panic!("PostgreSQL did not start: {last}");
    }

    /// A URL of database `db` on this cluster (with the superuser's password).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// The superuser's password (to check that no message shows it).
    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates an empty database of its own for one test; returns its URL.
    pub async fn create_database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let client = self.connect("postgres").await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e:?}"));
        self.url(&name)
    }

    /// A plain connection to database `db` (for what a test does behind the store's back).
    pub async fn connect(&self, db: &str) -> tokio_postgres::Client {
        connect(&self.url(db)).await
    }

    fn initdb(&self, pwfile: &Path) {
        let data = self.dir.path().join("data");
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let dir = self.dir.path();
        // Durability settings off: a test cluster is thrown away.
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            self.port,
            dir.display()
        );
        let out = self
            .command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-w", "-t", "120", "-l"])
            .arg(dir.join("log"))
            .args(["-o", &options])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run pg_ctl: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        Err(format!(
            "pg_ctl start failed:\n{}{}\nlog:\n{log}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    /// Starts the process that stops this cluster once the test process is gone.
    fn watch(&self) {
        let script = r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done
pid=$(head -n 1 "$2/data/postmaster.pid" 2>/dev/null)
[ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null
for _ in $(seq 1 50); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
rm -rf "$2""#;
        let spawned = Command::new("sh")
            .args(["-c", script, "sortie-pg-watchdog"])
            .arg(std::process::id().to_string())
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        if let Err(e) = spawned {
            eprintln!("warning: no watchdog for the test PostgreSQL cluster: {e}");
        }
    }

    /// A command of the PostgreSQL binaries, run as the unprivileged user if need be.
    fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(name));
        cmd.env("LC_ALL", "C").env_remove("PGPASSWORD");
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid).env("HOME", self.dir.path());
        }
        cmd
    }
}

impl Cluster {
    /// Stops the server now, cutting every connection (a restart of the database, as an
    /// operator or a failover does), keeping its data; see [`Cluster::restart`]. (Not
    /// `immediate`: the test cluster runs with `synchronous_commit=off`, where a crash
    /// may lose the last commits, which a real server would keep.)
    pub fn stop(&self) {
        let stopped = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "fast", "-w", "-t", "30"])
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl stop");
        assert!(stopped.status.success(), "pg_ctl stop: {stopped:?}");
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&self) {
        self.pg_ctl_start().unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let stopped = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "-t", "30"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(stopped, Ok(s) if s.success()) {
            eprintln!("warning: pg_ctl stop of the test cluster failed: {stopped:?}");
        }
    }
}

/// Connects to `url`, driving the connection on the current runtime.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to the test cluster: {e:?}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The directory of `initdb`, `pg_ctl` and `postgres`: `SORTIE_PG_BINDIR`, else where
/// the `initdb` on PATH really lives, else the newest /usr/lib/postgresql/*/bin.
fn bindir() -> PathBuf {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(dir) = std::env::var_os("SORTIE_PG_BINDIR").map(PathBuf::from) {
        assert!(
            complete(&dir),
            "SORTIE_PG_BINDIR={} has no initdb, pg_ctl and postgres",
            dir.display()
        );
        return dir;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("initdb"))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf));
    if let Some(dir) = on_path.filter(|d| complete(d)) {
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| complete(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).unwrap_or_else(|| {
        panic!(
            "PostgreSQL's server binaries (initdb, pg_ctl, postgres) are not installed: the \
             store tests need them. Run scripts/test.sh (it installs Debian's `postgresql`), \
             or `apt-get install postgresql`, or set SORTIE_PG_BINDIR to their directory"
        )
    })
}

/// The user the server runs as when the tests run as root: `postgres` (made by Debian's
/// package), else `nobody`.
fn unprivileged_user() -> Option<(u32, u32)> {
    if !nix::unistd::Uid::effective().is_root() {
        return None;
    }
    for name in ["postgres", "nobody"] {
        if let Ok(Some(user)) = nix::unistd::User::from_name(name) {
            return Some((user.uid.as_raw(), user.gid.as_raw()));
        }
    }
    panic!(
        "the tests run as root and initdb refuses root, but there is no `postgres` or \
         `nobody` user to run PostgreSQL as; install Debian's `postgresql` (it adds `postgres`)"
    )
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A mission for store tests: the `local` provider, run in `/`, one turn.
pub fn store_spec(prompt: &str) -> sortie_missions::MissionSpec {
    sortie_missions::MissionSpec {
        prompt: prompt.into(),
        provider: "local".into(),
        model: "m".into(),
        transport: "openai-compatible".into(),
        cwd: "/".into(),
        policy: sortie_missions::PermissionPolicy::Auto,
        max_turns: 1,
        sandbox: None,
        labels: Vec::new(),
    }
}
