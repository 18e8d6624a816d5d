//! QEMU guests for the image tests: start a VM, read its serial console line by line, wait
//! for console markers with a deadline, press the ACPI power button, kill it by PID on drop.
//!
//! The QEMU command line (TCG, no user-mode networking, direct/UEFI/BIOS boot, disk
//! overlay or in place) is `image_builder::guest`, shared with `routerd-tool demo`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

pub use image_builder::guest::{Arch, Boot, GuestSpec};
use image_builder::guest::{DiskMode, qmp_socket};

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
        let qmp = qmp_socket(&scratch);
        let mode = if in_place {
            DiskMode::InPlace
        } else {
            DiskMode::Overlay
        };
        let mut cmd = image_builder::guest::command(spec, &scratch, mode)?;
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
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

/// True when `qemu-system-*` for `arch` is installed.
pub fn available(arch: Arch) -> bool {
    image_builder::guest::available(arch)
}
