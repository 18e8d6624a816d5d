//! QEMU guests for the image tests: start a VM, read its serial console line by line, wait
//! for console markers with a deadline, press the ACPI power button, kill it by PID on drop.
//!
//! Always TCG: on the machines this project runs on, `/dev/kvm` is a nested software
//! hypervisor that cannot boot a guest, so it is never chosen from its mere presence.
//! Guests get `-nic none` unless the caller adds netdevs (dgram on 127.0.0.1 or taps inside
//! a namespace the test made); user-mode networking is never used.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Guest CPU architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// `qemu-system-x86_64`, console `ttyS0`.
    X86_64,
    /// `qemu-system-aarch64 -M virt -cpu cortex-a57`, console `ttyAMA0`.
    Aarch64,
}

/// How the guest boots.
#[derive(Clone, Debug)]
pub enum Boot {
    /// `-kernel/-initrd/-append`, optionally with the disk attached as virtio.
    Direct {
        /// Kernel image.
        kernel: PathBuf,
        /// Initramfs.
        initrd: PathBuf,
        /// Kernel command line.
        append: String,
    },
    /// UEFI firmware (OVMF / AAVMF) booting the disk.
    Uefi,
    /// Legacy BIOS (SeaBIOS) booting the disk.
    Bios,
}

/// A guest to start.
#[derive(Clone, Debug)]
pub struct GuestSpec {
    /// Architecture.
    pub arch: Arch,
    /// Boot method.
    pub boot: Boot,
    /// Disk image attached as a virtio disk (a copy-on-write overlay protects it).
    pub disk: Option<PathBuf>,
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// Extra QEMU arguments (netdevs...).
    pub extra: Vec<String>,
    /// Network namespace to run QEMU in (`ip netns exec`), so that `-netdev tap` devices
    /// are the namespace's own; `None`: the caller's namespace.
    pub netns: Option<String>,
}

/// A running guest. Dropping it kills QEMU by PID and removes its scratch files.
pub struct Guest {
    child: Child,
    lines: Receiver<String>,
    transcript: Vec<String>,
    started: Instant,
    scratch: PathBuf,
    qmp: PathBuf,
}

impl Guest {
    /// Starts QEMU for `spec`; `spec.disk` is protected by a throwaway copy-on-write overlay.
    pub fn start(spec: &GuestSpec) -> std::io::Result<Guest> {
        Guest::launch(spec, false)
    }

    /// Starts QEMU for `spec` with `spec.disk` (a raw image) attached directly: the
    /// guest's writes land in the file and survive the guest, as on a real disk (for
    /// power-cut and reboot tests).
    pub fn start_on_disk_in_place(spec: &GuestSpec) -> std::io::Result<Guest> {
        Guest::launch(spec, true)
    }

    fn launch(spec: &GuestSpec, in_place: bool) -> std::io::Result<Guest> {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let scratch = std::env::temp_dir().join(format!("routerd-qemu-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&scratch)?;
        let qmp = scratch.join("qmp.sock");
        let (binary, machine): (&str, &[&str]) = match spec.arch {
            Arch::X86_64 => ("qemu-system-x86_64", &["-M", "q35"]),
            Arch::Aarch64 => ("qemu-system-aarch64", &["-M", "virt", "-cpu", "cortex-a57"]),
        };
        let mut cmd = match &spec.netns {
            // `ip netns exec` execs QEMU in place, so the child's PID is QEMU's.
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, binary]);
                cmd
            }
            None => Command::new(binary),
        };
        cmd.args(machine)
            .args([
                "-accel",
                "tcg",
                "-smp",
                "1",
                "-m",
                &spec.memory_mib.to_string(),
            ])
            .args([
                "-display",
                "none",
                "-serial",
                "stdio",
                "-monitor",
                "none",
                "-no-reboot",
            ])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp.display()));
        if !spec.extra.iter().any(|a| a == "-netdev" || a == "-nic") {
            cmd.args(["-nic", "none"]);
        }
        cmd.args(&spec.extra);
        match &spec.boot {
            Boot::Direct {
                kernel,
                initrd,
                append,
            } => {
                cmd.arg("-kernel")
                    .arg(kernel)
                    .arg("-initrd")
                    .arg(initrd)
                    .arg("-append")
                    .arg(append);
            }
            Boot::Uefi => {
                let (code, vars) = match spec.arch {
                    Arch::X86_64 => (
                        "/usr/share/OVMF/OVMF_CODE_4M.fd",
                        "/usr/share/OVMF/OVMF_VARS_4M.fd",
                    ),
                    Arch::Aarch64 => (
                        "/usr/share/AAVMF/AAVMF_CODE.fd",
                        "/usr/share/AAVMF/AAVMF_VARS.fd",
                    ),
                };
                let copy = scratch.join("vars.fd");
                std::fs::copy(vars, &copy)?;
                cmd.arg("-drive")
                    .arg(format!("if=pflash,format=raw,readonly=on,file={code}"))
                    .arg("-drive")
                    .arg(format!("if=pflash,format=raw,file={}", copy.display()));
            }
            Boot::Bios => {}
        }
        if let (Some(disk), true) = (&spec.disk, in_place) {
            cmd.arg("-drive")
                .arg(format!("file={},format=raw,if=virtio", disk.display()));
        } else if let Some(disk) = &spec.disk {
            let overlay = scratch.join("disk.qcow2");
            let status = Command::new("qemu-img")
                .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
                .arg(std::path::absolute(disk)?)
                .arg(&overlay)
                .status()?;
            if !status.success() {
                return Err(std::io::Error::other("qemu-img create overlay failed"));
            }
            cmd.arg("-drive")
                .arg(format!("file={},format=qcow2,if=virtio", overlay.display()));
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let (tx, lines) = channel();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| std::io::Error::other("no stderr"))?;
        let tx2 = tx.clone();
        std::thread::spawn(move || forward(stdout, tx));
        std::thread::spawn(move || forward(stderr, tx2));
        Ok(Guest {
            child,
            lines,
            transcript: Vec::new(),
            started: Instant::now(),
            scratch,
            qmp,
        })
    }

    /// QEMU's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Cuts the power: kills QEMU (SIGKILL, by PID) without warning the guest.
    pub fn power_cut(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until a console line contains `marker`; returns the time since QEMU started.
    /// On timeout or QEMU exit, the error carries the console transcript.
    pub fn wait_for(&mut self, marker: &str, timeout: Duration) -> Result<Duration, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(marker);
                    self.transcript.push(line);
                    if found {
                        return Ok(self.started.elapsed());
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.failure(&format!("no {marker:?} within {timeout:?}")));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.failure(&format!("QEMU ended before {marker:?}")));
                }
            }
        }
    }

    /// How many console lines read so far contain `marker` (e.g. to check that a boot
    /// marker appeared once, i.e. nothing restarted).
    pub fn lines_containing(&self, marker: &str) -> usize {
        self.transcript
            .iter()
            .filter(|l| l.contains(marker))
            .count()
    }

    /// Presses the ACPI power button through QMP.
    pub fn power_button(&mut self) -> Result<(), String> {
        let mut stream = None;
        for _ in 0..50 {
            match UnixStream::connect(&self.qmp) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        let mut s = stream.ok_or_else(|| self.failure("cannot connect to QMP"))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
        let mut greeting = String::new();
        reader.read_line(&mut greeting).map_err(|e| e.to_string())?;
        for command in ["qmp_capabilities", "system_powerdown"] {
            writeln!(s, "{{\"execute\":\"{command}\"}}").map_err(|e| e.to_string())?;
            // Asynchronous events (e.g. POWERDOWN) may arrive before the reply.
            let mut reply = String::new();
            while reply.is_empty() || reply.contains("\"event\"") {
                reply.clear();
                if reader.read_line(&mut reply).map_err(|e| e.to_string())? == 0 {
                    break;
                }
            }
            if !reply.contains("return") {
                return Err(self.failure(&format!("QMP {command} answered {reply}")));
            }
        }
        Ok(())
    }

    /// Waits for QEMU to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Ok(line) = self.lines.try_recv() {
                self.transcript.push(line);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!("QEMU still running after {timeout:?}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The console lines read so far.
    pub fn transcript(&self) -> String {
        self.transcript.join("\n")
    }

    fn failure(&self, what: &str) -> String {
        format!(
            "{what}\n--- console ---\n{}\n---------------",
            self.transcript()
        )
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

fn forward<R: Read>(source: R, tx: std::sync::mpsc::Sender<String>) {
    let mut reader = BufReader::new(source);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\r', '\n'])
                    .to_string();
                if tx.send(line).is_err() {
                    return;
                }
            }
        }
    }
}

/// True when `qemu-system-*` for `arch` and its firmware files are installed.
pub fn available(arch: Arch) -> bool {
    let binary = match arch {
        Arch::X86_64 => "qemu-system-x86_64",
        Arch::Aarch64 => "qemu-system-aarch64",
    };
    Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
