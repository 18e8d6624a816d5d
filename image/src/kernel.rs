//! Debian kernel packages: resolve the current ABI package, download it (cached), extract
//! it, run `depmod` and compute the module closure in load order.
//!
//! Call order: [`AptContext::for_arch`] -> [`AptContext::resolve`] ->
//! [`AptContext::download`] -> [`extract`] -> [`module_closure`].
//! Packages for a foreign architecture (arm64 on an amd64 host) come through a private apt
//! configuration built from the host's own archive addresses; the host's apt state is never
//! changed. Needs `apt-get`, `apt-cache`, `dpkg-deb` and `depmod` (Debian's apt and kmod).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Errors of obtaining and preparing a kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// An external command failed; the message has its stderr.
    #[error("{command} failed: {message}")]
    Command {
        /// The command line, shortened.
        command: String,
        /// Its error output or exit status.
        message: String,
    },
    /// The package metadata did not name a kernel image package.
    #[error(
        "cannot resolve {package}: apt-cache names no linux-image dependency (run apt-get update?)"
    )]
    Unresolved {
        /// The meta package.
        package: String,
    },
    /// The extracted package does not look like a kernel package.
    #[error("{path} is not a kernel package: {what}")]
    NotAKernel {
        /// The package or directory.
        path: PathBuf,
        /// What is missing.
        what: String,
    },
    /// A requested module is neither a module nor built in.
    #[error(
        "module {module} is neither in modules.dep nor built into kernel {release}; remove it from the board or pick another kernel"
    )]
    UnknownModule {
        /// The module name.
        module: String,
        /// Kernel release.
        release: String,
    },
    /// File system error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Underlying error.
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> KernelError {
    let context = context.into();
    move |source| KernelError::Io { context, source }
}

/// Runs a command and returns its stdout, or a [`KernelError::Command`] with its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<String, KernelError> {
    let line = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|e| KernelError::Command {
        command: line.clone(),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let message = format!("{} ({})", stderr.trim(), out.status);
        return Err(KernelError::Command {
            command: line,
            message,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How apt is invoked for one architecture: the host's apt, or a private configuration for
/// a foreign architecture.
#[derive(Clone, Debug)]
pub struct AptContext {
    options: Vec<String>,
}

impl AptContext {
    /// The apt context for Debian architecture `arch` (e.g. `arm64`), with private state
    /// under `cache` when it differs from the host's.
    pub fn for_arch(arch: &str, cache: &Path) -> Result<AptContext, KernelError> {
        let host = run(Command::new("dpkg").arg("--print-architecture"))?;
        let mut options = vec!["APT::Sandbox::User=root".to_string()];
        if host.trim() == arch {
            return Ok(AptContext { options });
        }
        let dir = cache.join(format!("apt-{arch}"));
        let lists = dir.join("lists");
        std::fs::create_dir_all(lists.join("partial")).map_err(io_err("create apt state"))?;
        std::fs::create_dir_all(dir.join("archives/partial"))
            .map_err(io_err("create apt cache"))?;
        let sources = dir.join("sources.list");
        let text: String = host_archives()
            .iter()
            .map(|(uri, suite)| format!("deb [arch={arch}] {uri} {suite} main\n"))
            .collect();
        std::fs::write(&sources, text).map_err(io_err("write private sources.list"))?;
        for (key, value) in [
            ("Dir::Etc::sourcelist", sources.display().to_string()),
            ("Dir::Etc::sourceparts", "-".to_string()),
            ("Dir::State::lists", lists.display().to_string()),
            ("Dir::Cache", dir.display().to_string()),
            (
                "Dir::State::status",
                dir.join("status").display().to_string(),
            ),
            ("APT::Architectures::", arch.to_string()),
            ("APT::Architecture", arch.to_string()),
        ] {
            options.push(format!("{key}={value}"));
        }
        std::fs::write(dir.join("status"), "").map_err(io_err("write private dpkg status"))?;
        let stamp = lists.join(".updated");
        if !stamp.exists() {
            let mut cmd = Command::new("apt-get");
            Self::apply(&options, &mut cmd);
            run(cmd.args(["-q", "update"]))?;
            std::fs::write(&stamp, "").map_err(io_err("write apt stamp"))?;
        }
        Ok(AptContext { options })
    }

    fn apply(options: &[String], cmd: &mut Command) {
        for o in options {
            cmd.arg("-o").arg(o);
        }
    }

    /// Resolves a meta package (`linux-image-cloud-amd64`) to the package it depends on now
    /// (`linux-image-6.1.0-56-cloud-amd64`). Concrete package names are returned unchanged.
    pub fn resolve(&self, package: &str) -> Result<String, KernelError> {
        let mut cmd = Command::new("apt-cache");
        Self::apply(&self.options, &mut cmd);
        let out = run(cmd.args(["depends", package]))?;
        let abi = out
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Depends: "))
            .find(|d| d.starts_with("linux-image-") && d.chars().any(|c| c.is_ascii_digit()));
        match abi {
            Some(name) => Ok(name.trim().to_string()),
            None if package.chars().any(|c| c.is_ascii_digit()) => Ok(package.to_string()),
            None => Err(KernelError::Unresolved {
                package: package.into(),
            }),
        }
    }

    /// Downloads `package` into `dir` unless a `.deb` of it is already there; returns its path.
    pub fn download(&self, package: &str, dir: &Path) -> Result<PathBuf, KernelError> {
        std::fs::create_dir_all(dir).map_err(io_err("create package cache"))?;
        if let Some(found) = find_deb(dir, package) {
            return Ok(found);
        }
        let mut cmd = Command::new("apt-get");
        Self::apply(&self.options, &mut cmd);
        run(cmd.current_dir(dir).args(["-q", "download", package]))?;
        find_deb(dir, package).ok_or_else(|| KernelError::NotAKernel {
            path: dir.into(),
            what: format!("apt-get download left no {package}_*.deb"),
        })
    }
}

fn find_deb(dir: &Path, package: &str) -> Option<PathBuf> {
    let prefix = format!("{package}_");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with(&prefix) && name.ends_with(".deb")
        })
        .collect();
    found.sort();
    found.pop()
}

/// (URI, suite) pairs of the host's Debian archives, from one-line and deb822 sources.
fn host_archives() -> Vec<(String, String)> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    let mut pairs = BTreeSet::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for stanza in text.split("\n\n") {
            let field = |name: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.split_whitespace())
            };
            if let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) {
                let suites: Vec<&str> = suites.collect();
                for uri in uris {
                    for s in &suites {
                        pairs.insert((uri.to_string(), s.to_string()));
                    }
                }
            }
        }
        for line in text.lines() {
            let words: Vec<&str> = line
                .split_whitespace()
                .filter(|w| !w.starts_with('['))
                .collect();
            if words.len() >= 3 && words[0] == "deb" && words[1].contains("://") {
                pairs.insert((words[1].to_string(), words[2].to_string()));
            }
        }
    }
    pairs
        .into_iter()
        .filter(|(uri, _)| uri.contains("debian"))
        .collect()
}

/// An extracted kernel package with `depmod` output.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// Root of the extracted package (absolute).
    pub root: PathBuf,
    /// Kernel release, e.g. `6.1.0-56-cloud-amd64`.
    pub release: String,
    /// The bootable kernel image (`boot/vmlinuz-RELEASE`).
    pub image: PathBuf,
}

impl Kernel {
    /// `lib/modules/RELEASE` under the extracted root.
    pub fn modules_dir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.release)
    }
}

/// Extracts a kernel `.deb` into `dir` (replacing what was there) and runs `depmod -b`.
pub fn extract(deb: &Path, dir: &Path) -> Result<Kernel, KernelError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io_err("clear kernel work dir"))?;
    }
    std::fs::create_dir_all(dir).map_err(io_err("create kernel work dir"))?;
    let root = std::path::absolute(dir).map_err(io_err("absolute kernel dir"))?;
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root))?;
    let not_kernel = |what: &str| KernelError::NotAKernel {
        path: deb.into(),
        what: what.into(),
    };
    let mut releases: Vec<String> = std::fs::read_dir(root.join("lib/modules"))
        .map_err(|_| not_kernel("no lib/modules"))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    releases.sort();
    let release = match releases.as_slice() {
        [one] => one.clone(),
        _ => return Err(not_kernel("expected exactly one lib/modules/RELEASE")),
    };
    let image = root.join("boot").join(format!("vmlinuz-{release}"));
    if !image.is_file() {
        return Err(not_kernel("no boot/vmlinuz-RELEASE"));
    }
    run(Command::new("depmod").arg("-b").arg(&root).arg(&release))?;
    Ok(Kernel {
        root,
        release,
        image,
    })
}

/// One module file to ship, relative to `lib/modules/RELEASE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleFile {
    /// Module name with underscores (`virtio_net`).
    pub name: String,
    /// Path relative to the modules directory (`kernel/drivers/net/virtio_net.ko`).
    pub path: String,
}

/// The modules named by a board plus all their dependencies, ordered so that every module
/// comes after the modules it depends on. Built-in modules are skipped.
pub fn module_closure(kernel: &Kernel, wanted: &[String]) -> Result<Vec<ModuleFile>, KernelError> {
    let dir = kernel.modules_dir();
    let dep_text =
        std::fs::read_to_string(dir.join("modules.dep")).map_err(io_err("read modules.dep"))?;
    let builtin = std::fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default();
    closure_from_dep(&dep_text, &builtin, wanted, &kernel.release)
}

fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

fn closure_from_dep(
    dep_text: &str,
    builtin: &str,
    wanted: &[String],
    release: &str,
) -> Result<Vec<ModuleFile>, KernelError> {
    let mut deps: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for line in dep_text.lines() {
        let Some((path, rest)) = line.split_once(':') else {
            continue;
        };
        let needs = rest.split_whitespace().map(module_name).collect();
        deps.insert(module_name(path), (path.to_string(), needs));
    }
    let builtin: BTreeSet<String> = builtin.lines().map(module_name).collect();
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    for name in wanted {
        let name = name.replace('-', "_");
        if !deps.contains_key(&name) {
            if builtin.contains(&name) {
                continue;
            }
            return Err(KernelError::UnknownModule {
                module: name,
                release: release.into(),
            });
        }
        visit(&name, &deps, &mut done, &mut order);
    }
    Ok(order)
}

fn visit(
    name: &str,
    deps: &BTreeMap<String, (String, Vec<String>)>,
    done: &mut BTreeSet<String>,
    order: &mut Vec<ModuleFile>,
) {
    if !done.insert(name.to_string()) {
        return;
    }
    let Some((path, needs)) = deps.get(name) else {
        return;
    };
    for dep in needs {
        visit(dep, deps, done, order);
    }
    order.push(ModuleFile {
        name: name.to_string(),
        path: path.clone(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/net/ipv4/ipip.ko: kernel/net/ipv4/tunnel4.ko kernel/net/ipv4/ip_tunnel.ko\n\
kernel/net/ipv4/tunnel4.ko:\n\
kernel/net/ipv4/ip_tunnel.ko:\n\
kernel/net/ipv4/fou.ko: kernel/net/ipv4/ip_tunnel.ko kernel/net/ipv4/udp_tunnel.ko\n\
kernel/net/ipv4/udp_tunnel.ko:\n\
kernel/lib/crypto/chacha-x86_64.ko: kernel/lib/crypto/libchacha.ko\n\
kernel/lib/crypto/libchacha.ko:\n";

    #[test]
    fn closure_puts_dependencies_first_and_each_module_once() {
        let wanted = ["ipip", "fou", "chacha-x86_64"].map(String::from);
        let order = closure_from_dep(DEP, "", &wanted, "r").unwrap();
        let names: Vec<&str> = order.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "tunnel4",
                "ip_tunnel",
                "ipip",
                "udp_tunnel",
                "fou",
                "libchacha",
                "chacha_x86_64"
            ]
        );
        assert_eq!(order[2].path, "kernel/net/ipv4/ipip.ko");
    }

    #[test]
    fn builtin_modules_are_skipped_and_unknown_ones_reported() {
        let builtin = "kernel/drivers/virtio/virtio_pci.ko\n";
        let wanted = ["virtio_pci", "ipip"].map(String::from);
        assert_eq!(
            closure_from_dep(DEP, builtin, &wanted, "r").unwrap().len(),
            3
        );
        let err = closure_from_dep(DEP, builtin, &["e1000e".to_string()], "r").unwrap_err();
        assert!(err.to_string().contains("e1000e"));
    }
}
