//! Runs the vexctl binary against fake sysfs/procfs trees (VEXCTL_ROOT).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

struct FakeRoot(PathBuf);

impl FakeRoot {
    fn new() -> FakeRoot {
        let dir = std::env::temp_dir().join(format!(
            "vexctl-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("proc/self")).unwrap();
        fs::create_dir_all(dir.join("sys/module")).unwrap();
        fs::write(
            dir.join("proc/filesystems"),
            "nodev\tsysfs\nnodev\tproc\n\text4\n",
        )
        .unwrap();
        fs::write(dir.join("proc/self/mounts"), "proc /proc proc rw 0 0\n").unwrap();
        FakeRoot(dir)
    }

    fn write(&self, rel: &str, contents: &str) {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, contents).unwrap();
    }

    fn load_module(&self, version: &str, mounts: u32) {
        self.write("sys/module/vexfs/version", &format!("{}\n", version));
        self.write("sys/module/vexfs/initstate", "live\n");
        self.write("sys/fs/vexfs/version", &format!("{}\n", version));
        self.write("sys/fs/vexfs/mounts", &format!("{}\n", mounts));
        self.write("sys/fs/vexfs/inodes", "3\n");
        self.write(
            "proc/filesystems",
            "nodev\tsysfs\nnodev\tproc\n\text4\nnodev\tvexfs\n",
        );
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for FakeRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn vexctl(root: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vexctl"));
    cmd.args(args);
    match root {
        Some(r) => cmd.env("VEXCTL_ROOT", r),
        None => cmd.env_remove("VEXCTL_ROOT"),
    };
    cmd.output().expect("run vexctl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn version_flag() {
    let o = vexctl(None, &["--version"]);
    assert_eq!(o.status.code(), Some(0));
    // Same precedence as the binary: VEXCTL_VERSION, VEXFS_VERSION, the tree's VERSION file.
    let expected = [option_env!("VEXCTL_VERSION"), option_env!("VEXFS_VERSION")]
        .iter()
        .flatten()
        .map(|v| v.trim())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| include_str!("../../VERSION").trim());
    assert_eq!(stdout(&o), format!("vexctl {}\n", expected));
}

#[test]
fn help_and_usage_errors() {
    let o = vexctl(None, &["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("vexctl status"));
    assert_eq!(vexctl(None, &[]).status.code(), Some(2));
    assert_eq!(vexctl(None, &["frobnicate"]).status.code(), Some(2));
    assert_eq!(vexctl(None, &["status", "--bogus"]).status.code(), Some(2));
}

#[test]
fn status_not_loaded_exits_3() {
    let root = FakeRoot::new();
    let o = vexctl(Some(root.path()), &["status"]);
    assert_eq!(o.status.code(), Some(3));
    let out = stdout(&o);
    assert!(out.contains("module:        not loaded"), "{}", out);
    assert!(out.contains("vexfs not registered"), "{}", out);
    assert!(out.contains("active mounts: 0"), "{}", out);
}

#[test]
fn status_loaded_with_mounts() {
    let root = FakeRoot::new();
    root.load_module("1.2.3-test", 2);
    root.write(
        "proc/self/mounts",
        "proc /proc proc rw 0 0\nnone /mnt/vexfs vexfs rw,relatime 0 0\nnone /mnt/a\\040b vexfs rw 0 0\n",
    );
    let o = vexctl(Some(root.path()), &["status"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.contains("module:        loaded (version 1.2.3-test)"),
        "{}",
        out
    );
    assert!(out.contains("filesystem:    vexfs registered"), "{}", out);
    assert!(out.contains("active mounts: 2"), "{}", out);
    assert!(
        out.contains("  none on /mnt/vexfs (rw,relatime)"),
        "{}",
        out
    );
    assert!(out.contains("  none on /mnt/a b (rw)"), "{}", out);
    assert!(out.contains("inodes:        3"), "{}", out);

    let o = vexctl(Some(root.path()), &["status", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        "{\"loaded\":true,\"version\":\"1.2.3-test\",\"registered\":true,\"active_mounts\":2,\"inodes\":3,\
         \"mounts\":[{\"source\":\"none\",\"target\":\"/mnt/vexfs\",\"options\":\"rw,relatime\"},\
         {\"source\":\"none\",\"target\":\"/mnt/a b\",\"options\":\"rw\"}]}\n"
    );
}

#[test]
fn status_loaded_without_stats_falls_back_to_mount_table() {
    let root = FakeRoot::new();
    root.write("sys/module/vexfs/version", "0.9\n");
    root.write("proc/self/mounts", "none /x vexfs rw 0 0\n");
    let o = vexctl(Some(root.path()), &["status"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("loaded (version 0.9)"), "{}", out);
    assert!(out.contains("vexfs not registered"), "{}", out);
    assert!(out.contains("active mounts: 1"), "{}", out);
}
