//! Link options of the `sortie` binary that make its start-up lean (issue 21; see the
//! start-up section of docs/BENCHMARKS.md). Both are layout only: the code is the same.
//!
//! - `startup-order.txt` (made by `scripts/startup-order.sh`) lists the functions that
//!   `sortie run`, a following client and the daemon execute; the linker puts them side by
//!   side at the start of `.text`. The kernel maps a binary's code 64 KiB around every page
//!   it touches, so start-up code scattered over the 21 MB of `.text` kept about 13 MB of it
//!   resident; grouped, under 5 MB. A name the binary no longer has (code or dependencies
//!   changed since the list was made) is skipped: the gain fades, nothing breaks.
//! - Relative relocations packed (`DT_RELR`): the loader reads a few KiB instead of the
//!   1.8 MB `.rela.dyn` table at every start. Needs glibc 2.36 where the binary runs, so
//!   only where the build machine's glibc has it.
//!
//! Only with rust-lld, the default linker of `x86_64-unknown-linux-gnu` since Rust 1.90, in
//! optimized builds, and not when another linker is configured.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=startup-order.txt");
    println!("cargo:rerun-if-changed=build.rs");
    if !wanted() {
        return;
    }
    let order = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("startup-order.txt");
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=sortie=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
            order.display()
        );
    }
    if glibc_has_relr() {
        println!("cargo:rustc-link-arg-bin=sortie=-Wl,-z,pack-relative-relocs");
    }
}

/// rust-lld links this build: the default target and toolchain, no linker of the user's.
fn wanted() -> bool {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if env("TARGET") != "x86_64-unknown-linux-gnu" || env("OPT_LEVEL") == "0" {
        return false;
    }
    if std::env::var_os("RUSTC_LINKER").is_some() || env("CARGO_ENCODED_RUSTFLAGS").contains("link")
    {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let minor = text
        .lines()
        .find_map(|l| l.strip_prefix("release: 1."))
        .and_then(|v| v.split('.').next()?.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}

/// `getconf GNU_LIBC_VERSION` says 2.36 or later (`DT_RELR` support in the loader).
fn glibc_has_relr() -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.trim().strip_prefix("glibc ").unwrap_or_default();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 36)
}
