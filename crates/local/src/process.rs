//! The processes local mode starts: each in its own process group, logged to a file, and
//! stopped with its children when dropped, on an error, or when the user presses Ctrl-C.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Process groups still running, for the Ctrl-C handler.
static GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// On Ctrl-C or SIGTERM: stop every process group local mode started, then exit 130.
/// Children are in their own groups (so a terminal's Ctrl-C does not reach them half-way
/// through a shutdown); this is what stops them when the user interrupts.
pub fn stop_everything_on_interrupt() {
    let _ = ctrlc::set_handler(|| {
        eprintln!("\ndockhand: interrupted; stopping everything local mode started");
        let groups = GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
        for pgid in groups {
            signal_group(pgid, "TERM");
        }
        std::thread::sleep(Duration::from_millis(500));
        let groups = GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
        for pgid in groups {
            signal_group(pgid, "KILL");
        }
        std::process::exit(130);
    });
}

/// The process groups started and not yet stopped.
pub fn running_groups() -> Vec<u32> {
    GROUPS.lock().map(|g| g.clone()).unwrap_or_default()
}

fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A background process, stopped with its whole group when dropped.
pub struct Service {
    name: String,
    child: Child,
    log: PathBuf,
    stopped: bool,
}

impl Service {
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Service, String> {
        let file = File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = file
            .try_clone()
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        command.stdin(Stdio::null()).stdout(file).stderr(err).process_group(0);
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {name} ({program}): {e}"))?;
        GROUPS.lock().expect("process registry").push(child.id());
        Ok(Service {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
            stopped: false,
        })
    }

    /// Waits until the service accepts connections on `port`, failing early if it exits.
    /// The port must be held by the service's own process group: a port chosen free can
    /// be taken first by another program (a test's moto server, running beside), and then
    /// the service exits, saying so, instead of its callers talking to that program.
    pub fn wait_for_port(&mut self, port: u16, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() && group_listens_on(self.child.id(), port) {
                return Ok(());
            }
            self.check_running()?;
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not listen on port {port} within {} s; its log:\n{}",
                    self.name,
                    timeout.as_secs(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// An error naming the service and quoting its log if it has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({status}); its log ({}):\n{}",
                self.name,
                self.log.display(),
                self.log_tail()
            )),
            Err(e) => Err(format!("cannot check on {}: {e}", self.name)),
        }
    }

    /// The process's peak resident memory (VmHWM), in KiB.
    pub fn peak_memory_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines of the service's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Stops the whole process group: TERM, then KILL after five seconds.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let pgid = self.child.id();
        signal_group(pgid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Whatever the leader did, its children may linger in the group.
        signal_group(pgid, "KILL");
        let _ = self.child.wait();
        if let Ok(mut groups) = GROUPS.lock() {
            groups.retain(|&g| g != pgid);
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a command to completion, answering its stdout or an error quoting its output.
pub fn run(what: &str, command: &mut Command) -> Result<String, String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Whether `program` is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Whether a process of process group `group` holds the socket listening on loopback
/// `port`: one of its descriptors names the inode of the port's LISTEN entry (`0A`) in
/// `/proc/net/tcp`, and field 5 of its `/proc/PID/stat` is the group (proc(5)).
fn group_listens_on(group: u32, port: u16) -> bool {
    let local = format!("0100007F:{port:04X}");
    let sockets: Vec<String> = std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A"))
                .then(|| fields.get(9).map(|inode| format!("socket:[{inode}]")))
                .flatten()
        })
        .collect();
    if sockets.is_empty() {
        return false;
    }
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return false;
    };
    let group = group.to_string();
    processes.filter_map(Result::ok).any(|entry| {
        let path = entry.path();
        // The command name (field 2) may hold spaces: the fields after it follow its `)`.
        let in_group = std::fs::read_to_string(path.join("stat"))
            .ok()
            .and_then(|stat| {
                stat.rsplit_once(')')
                    .map(|(_, rest)| rest.split_whitespace().nth(2) == Some(group.as_str()))
            })
            .unwrap_or(false);
        in_group
            && std::fs::read_dir(path.join("fd")).is_ok_and(|fds| {
                fds.filter_map(Result::ok)
                    .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                    .any(|target| sockets.iter().any(|s| target.as_os_str() == s.as_str()))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_answered_by_another_program_is_not_the_services() {
        let dir = std::env::temp_dir().join(format!("dockhand-port-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let mut holder = Command::new("python3");
        holder.args([
            "-c",
            &format!("import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',{port}))\ns.listen()\ntime.sleep(30)"),
        ]);
        let mut holder = Service::spawn("the holder", holder, &dir.join("holder.log")).unwrap();
        holder.wait_for_port(port, Duration::from_secs(20)).unwrap();
        // A service that never binds the port: it answers, but not for this service.
        let mut sleeper = Command::new("sleep");
        sleeper.arg("30");
        let mut other = Service::spawn("the other", sleeper, &dir.join("other.log")).unwrap();
        let e = other.wait_for_port(port, Duration::from_millis(500)).unwrap_err();
        assert!(e.contains("did not listen on port"), "{e}");
        drop((holder, other));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
