//! The daemon under floods: half-open connections, many schedules, large lists.

use std::time::{Duration, Instant};

use sortie_tests::daemon::DaemonProc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::daemon::local_setup;

#[tokio::test]
async fn half_open_connections_are_closed_and_the_cli_still_gets_through() {
    let (_mock, home, _cwd) =
        local_setup("\n[daemon.limits]\nmax_connections = 16\nheader_timeout_secs = 2\n").await;
    let d = DaemonProc::start(home.path()).await;
    let addr = d.base.trim_start_matches("http://").to_string();
    // Connections that start a request and never finish its head.
    let mut half_open = Vec::new();
    for _ in 0..400 {
        let mut c = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let _ = c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
        half_open.push(c);
    }
    // The CLI gets through (it waits for a slot that the header timeout frees).
    let started = Instant::now();
    let out = tokio::task::spawn_blocking({
        let home = home.path().to_path_buf();
        move || {
            sortie_tests::sortie(&home)
                .args(["status", "--json"])
                .output()
                .expect("run sortie")
        }
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("the CLI got through in {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(20));
    // The first half-open connection was closed by the daemon.
    let mut first = half_open.swap_remove(0);
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(10), first.read(&mut buf))
        .await
        .expect("the daemon kept a half-open connection past its header timeout");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    assert_eq!(d.get("/health").await.0, 200);
}
