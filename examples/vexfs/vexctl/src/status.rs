//! Reading the state of the vexfs module from sysfs and procfs.
//!
//! Sources (all relative to a root directory, `/` normally):
//! - `sys/module/vexfs/`          exists while the module is loaded; `version` inside
//! - `sys/fs/vexfs/{version,mounts,inodes}`   statistics exported by the module
//! - `proc/filesystems`           whether the `vexfs` type is registered
//! - `proc/self/mounts`           the mounted vexfs instances visible to us

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One mounted vexfs instance, as listed in /proc/self/mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: String,
    pub target: String,
    pub options: String,
}

/// Everything `vexctl status` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// /sys/module/vexfs exists.
    pub loaded: bool,
    /// Contents of /sys/module/vexfs/initstate ("live", "coming", "going"), if present.
    pub init_state: Option<String>,
    /// Module version (MODULE_VERSION), if the module is loaded.
    pub version: Option<String>,
    /// `vexfs` appears in /proc/filesystems.
    pub registered: bool,
    /// Number of mounted instances, from /sys/fs/vexfs/mounts (all mount namespaces).
    pub active_mounts: Option<u64>,
    /// Live inodes across all instances, from /sys/fs/vexfs/inodes.
    pub inodes: Option<u64>,
    /// vexfs mounts visible in this mount namespace.
    pub mounts: Vec<Mount>,
}

fn read_trimmed(path: &Path) -> Option<String> {
    match fs::read_to_string(path) {
        Ok(s) => Some(s.trim().to_string()),
        Err(_) => None,
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    read_trimmed(path).and_then(|s| s.parse().ok())
}

/// Decodes the octal escapes (`\040` for a space, ...) used in /proc/self/mounts.
pub fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = (digits[0] - b'0') as u32 * 64
                    + (digits[1] - b'0') as u32 * 8
                    + (digits[2] - b'0') as u32;
                if value <= 255 {
                    out.push(value as u8);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The vexfs entries of a mounts table (the format of /proc/self/mounts).
pub fn parse_mounts(table: &str) -> Vec<Mount> {
    table
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let source = fields.next()?;
            let target = fields.next()?;
            let fstype = fields.next()?;
            let options = fields.next().unwrap_or("");
            if fstype != "vexfs" {
                return None;
            }
            Some(Mount {
                source: unescape_mount_field(source),
                target: unescape_mount_field(target),
                options: options.to_string(),
            })
        })
        .collect()
}

/// Whether /proc/filesystems (given as text) lists the vexfs type.
pub fn lists_vexfs(filesystems: &str) -> bool {
    filesystems
        .lines()
        .any(|line| line.split_whitespace().last() == Some("vexfs"))
}

/// Collects the status below `root` (normally `/`).
pub fn collect(root: &Path) -> io::Result<Status> {
    let module: PathBuf = root.join("sys/module/vexfs");
    let stats: PathBuf = root.join("sys/fs/vexfs");
    let loaded = module.is_dir();

    let version = if loaded {
        read_trimmed(&module.join("version"))
            .or_else(|| read_trimmed(&stats.join("version")))
            .filter(|v| !v.is_empty())
    } else {
        None
    };
    let init_state = if loaded {
        read_trimmed(&module.join("initstate"))
    } else {
        None
    };

    let registered = match fs::read_to_string(root.join("proc/filesystems")) {
        Ok(text) => lists_vexfs(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    let mounts = match fs::read_to_string(root.join("proc/self/mounts")) {
        Ok(text) => parse_mounts(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };

    Ok(Status {
        loaded,
        init_state,
        version,
        registered,
        active_mounts: read_u64(&stats.join("mounts")),
        inodes: read_u64(&stats.join("inodes")),
        mounts,
    })
}

impl Status {
    /// The number of active mounts: the module's own count when it exports one,
    /// otherwise the mounts visible here.
    pub fn mount_count(&self) -> u64 {
        match self.active_mounts {
            Some(n) => n,
            None => self.mounts.len() as u64,
        }
    }

    /// Human-readable report.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let module = if self.loaded {
            let mut s = String::from("loaded");
            if let Some(v) = &self.version {
                s.push_str(&format!(" (version {})", v));
            }
            if let Some(state) = &self.init_state {
                if state != "live" {
                    s.push_str(&format!(" [{}]", state));
                }
            }
            s
        } else {
            String::from("not loaded")
        };
        out.push_str(&format!("module:        {}\n", module));
        out.push_str(&format!(
            "filesystem:    {}\n",
            if self.registered {
                "vexfs registered"
            } else {
                "vexfs not registered"
            }
        ));
        out.push_str(&format!("active mounts: {}\n", self.mount_count()));
        for m in &self.mounts {
            out.push_str(&format!("  {} on {} ({})\n", m.source, m.target, m.options));
        }
        if let Some(n) = self.inodes {
            out.push_str(&format!("inodes:        {}\n", n));
        }
        out
    }

    /// Machine-readable report (one JSON object).
    pub fn render_json(&self) -> String {
        let mounts: Vec<String> = self
            .mounts
            .iter()
            .map(|m| {
                format!(
                    "{{\"source\":{},\"target\":{},\"options\":{}}}",
                    json_string(&m.source),
                    json_string(&m.target),
                    json_string(&m.options)
                )
            })
            .collect();
        format!(
            "{{\"loaded\":{},\"version\":{},\"registered\":{},\"active_mounts\":{},\"inodes\":{},\"mounts\":[{}]}}\n",
            self.loaded,
            self.version.as_deref().map(json_string).unwrap_or_else(|| "null".to_string()),
            self.registered,
            self.mount_count(),
            self.inodes.map(|n| n.to_string()).unwrap_or_else(|| "null".to_string()),
            mounts.join(",")
        )
    }
}

/// A JSON string literal for `s`.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vexfs_mounts_only() {
        let table = "proc /proc proc rw,nosuid 0 0\n\
                     none /mnt/vexfs vexfs rw,relatime 0 0\n\
                     tmpfs /tmp tmpfs rw 0 0\n\
                     none /mnt/with\\040space vexfs ro 0 0\n";
        let mounts = parse_mounts(table);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].target, "/mnt/vexfs");
        assert_eq!(mounts[0].options, "rw,relatime");
        assert_eq!(mounts[1].target, "/mnt/with space");
    }

    #[test]
    fn unescapes_octal_sequences() {
        assert_eq!(unescape_mount_field("a\\040b\\011c"), "a b\tc");
        assert_eq!(unescape_mount_field("a\\\\b"), "a\\\\b");
        assert_eq!(unescape_mount_field("end\\04"), "end\\04");
        assert_eq!(unescape_mount_field("\\134"), "\\");
    }

    #[test]
    fn finds_vexfs_in_proc_filesystems() {
        assert!(lists_vexfs("nodev\tsysfs\nnodev\tvexfs\n\text4\n"));
        assert!(!lists_vexfs("nodev\tsysfs\n\text4\nnodev\tvexfsx\n"));
        assert!(!lists_vexfs(""));
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }

    #[test]
    fn text_report_for_unloaded_module() {
        let s = Status {
            loaded: false,
            init_state: None,
            version: None,
            registered: false,
            active_mounts: None,
            inodes: None,
            mounts: Vec::new(),
        };
        let text = s.render_text();
        assert!(text.contains("module:        not loaded"));
        assert!(text.contains("vexfs not registered"));
        assert!(text.contains("active mounts: 0"));
        assert_eq!(
            s.render_json(),
            "{\"loaded\":false,\"version\":null,\"registered\":false,\"active_mounts\":0,\"inodes\":null,\"mounts\":[]}\n"
        );
    }
}
