//! vexctl: command-line tool for the vexfs kernel module.
//!
//! Exit codes: 0 success (for `status`: the module is loaded), 3 `status` found the
//! module not loaded, 2 usage error, 1 any other error.

mod status;

use std::path::PathBuf;
use std::process::ExitCode;

/// The version, fixed at build time: VEXCTL_VERSION (the tree's Makefile sets it from
/// its VERSION), else VEXFS_VERSION, else the tree's VERSION file, so that a plain
/// `cargo build` reports the same version as the module built next to it.
fn version() -> &'static str {
    pick_version(
        option_env!("VEXCTL_VERSION"),
        option_env!("VEXFS_VERSION"),
        include_str!("../../VERSION"),
    )
}

fn pick_version(
    vexctl: Option<&'static str>,
    vexfs: Option<&'static str>,
    file: &'static str,
) -> &'static str {
    for v in [vexctl, vexfs].iter().flatten() {
        if !v.trim().is_empty() {
            return v.trim();
        }
    }
    match file.trim() {
        "" => env!("CARGO_PKG_VERSION"),
        v => v,
    }
}

const EXIT_USAGE: u8 = 2;
const EXIT_NOT_LOADED: u8 = 3;

fn usage() -> String {
    format!(
        "vexctl {} - control and inspect the vexfs kernel module

Usage:
  vexctl status [--json]   show whether the vexfs module is loaded, its version,
                           whether the vexfs filesystem type is registered and the
                           active mounts (exit 0 if loaded, 3 if not)
  vexctl --version         print the version
  vexctl --help            print this help

Environment:
  VEXCTL_ROOT   read sys/ and proc/ below this directory instead of / (for tests)
",
        version()
    )
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("vexctl: {}", msg);
    eprintln!("Try 'vexctl --help'.");
    ExitCode::from(EXIT_USAGE)
}

fn status_command(args: &[String]) -> ExitCode {
    let mut json = false;
    for arg in args {
        match arg.as_str() {
            "--json" => json = true,
            "-h" | "--help" => {
                print!("{}", usage());
                return ExitCode::SUCCESS;
            }
            other => return usage_error(&format!("status: unexpected argument '{}'", other)),
        }
    }
    let root = match std::env::var_os("VEXCTL_ROOT") {
        Some(r) if !r.is_empty() => PathBuf::from(r),
        _ => PathBuf::from("/"),
    };
    let st = match status::collect(&root) {
        Ok(st) => st,
        Err(e) => {
            eprintln!("vexctl: cannot read module status: {}", e);
            return ExitCode::FAILURE;
        }
    };
    if json {
        print!("{}", st.render_json());
    } else {
        print!("{}", st.render_text());
    }
    if st.loaded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NOT_LOADED)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(|s| s.as_str()) {
        None => {
            eprint!("{}", usage());
            ExitCode::from(EXIT_USAGE)
        }
        Some("-h") | Some("--help") | Some("help") => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        Some("-V") | Some("--version") => {
            println!("vexctl {}", version());
            ExitCode::SUCCESS
        }
        Some("status") => status_command(&args[1..]),
        Some(other) => usage_error(&format!("unknown command '{}'", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::pick_version;

    #[test]
    fn version_precedence() {
        assert_eq!(pick_version(Some("1.0"), Some("2.0"), "3.0\n"), "1.0");
        assert_eq!(pick_version(Some(""), Some("2.0"), "3.0\n"), "2.0");
        assert_eq!(pick_version(None, None, "3.0\n"), "3.0");
        assert_eq!(pick_version(None, Some(" "), ""), env!("CARGO_PKG_VERSION"));
    }
}
