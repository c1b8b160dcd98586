//! The running process's side: starts its successor on the same sockets,
//! then waits until it is ready, ends, or runs out of time.

use std::ffi::OsString;
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use command_fds::{CommandFdExt as _, FdMapping};
use tokio::io::{AsyncWriteExt as _, BufReader};
use tokio::net::UnixStream;

use super::UpgradeError;
use super::inherit::{ADMIN, CHANNEL, FROM, HTTP, TIMEOUT_MS};
use super::wire::{self, ToNew, ToOld};

/// The binary and its arguments, as this process was started.
#[derive(Debug)]
pub(crate) struct Program {
    exe: PathBuf,
    argv0: OsString,
    args: Vec<OsString>,
}

impl Program {
    /// Captured once, at the start of the process's first run, before a
    /// new build can replace the file. The path the process was started
    /// by (`argv[0]`, made absolute), so that a deploy that switches a
    /// symlink (`current -> releases/v2`) upgrades to what it points at
    /// now; the kernel's path of the image when the process was started
    /// by a bare name.
    pub(crate) fn capture() -> Result<&'static Self, &'static str> {
        static PROGRAM: OnceLock<Result<Program, String>> = OnceLock::new();
        PROGRAM
            .get_or_init(|| {
                let mut args = std::env::args_os();
                let argv0 = args.next().unwrap_or_default();
                let started_by = PathBuf::from(&argv0);
                let exe = if started_by.is_absolute() {
                    started_by
                } else if started_by.components().count() > 1 {
                    let cwd =
                        std::env::current_dir().map_err(|err| format!("cannot tell the working directory: {err}"))?;
                    cwd.join(started_by)
                } else {
                    std::env::current_exe().map_err(|err| format!("cannot tell this binary's path: {err}"))?
                };
                Ok(Program {
                    exe,
                    argv0,
                    args: args.collect(),
                })
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

/// What the running process hands over.
pub(crate) struct Handover {
    pub(crate) http: TcpListener,
    pub(crate) admin: Option<TcpListener>,
    pub(crate) state: Vec<u8>,
    /// `site.upgrade.timeout`, for the new process to bound its side.
    pub(crate) bound: Duration,
}

/// The new process, until it is ready (then confirmed) or has failed
/// (then stopped). Dropped otherwise (the upgrade was abandoned), it is
/// asked to stop.
#[derive(Debug)]
pub(crate) struct Successor {
    pid: u32,
    process: tokio::process::Child,
    channel: BufReader<UnixStream>,
    settled: bool,
}

/// Starts the binary again with the same arguments and environment, and
/// `handover`'s sockets as descriptors 4 and up (the channel is 3), named
/// in `LISTEN_FDNAMES`.
pub(crate) async fn start(program: &Program, handover: Handover) -> Result<Successor, UpgradeError> {
    let prepare = |what: &str, err: std::io::Error| UpgradeError::Prepare(format!("{what}: {err}"));
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(|err| prepare("the channel", err))?;
    let mut names = vec![CHANNEL, HTTP];
    let mut fds: Vec<OwnedFd> = vec![theirs.into(), handover.http.into()];
    if let Some(admin) = handover.admin {
        names.push(ADMIN);
        fds.push(admin.into());
    }
    let count = fds.len();
    let mappings = fds
        .into_iter()
        .zip(3..)
        .map(|(parent_fd, child_fd)| FdMapping { parent_fd, child_fd })
        .collect();
    let mut command = tokio::process::Command::new(&program.exe);
    command
        .arg0(&program.argv0)
        .args(&program.args)
        // These name this process (systemd's, for its own socket
        // activation and watchdog); the new one gets its own.
        .env_remove("LISTEN_PID")
        .env_remove("WATCHDOG_PID")
        .env("LISTEN_FDS", count.to_string())
        .env("LISTEN_FDNAMES", names.join(":"))
        .env(FROM, std::process::id().to_string())
        .env(TIMEOUT_MS, handover.bound.as_millis().to_string())
        .kill_on_drop(false);
    command
        .fd_mappings(mappings)
        .map_err(|err| UpgradeError::Prepare(err.to_string()))?;
    let process = command.spawn().map_err(|source| UpgradeError::Spawn {
        path: program.exe.display().to_string(),
        source,
    })?;
    // Dropping the command closes this process's copies of what it handed.
    drop(command);
    let pid = process.id().unwrap_or_default();
    ours.set_nonblocking(true).map_err(|err| prepare("the channel", err))?;
    let channel = UnixStream::from_std(ours).map_err(|err| prepare("the channel", err))?;
    let mut successor = Successor {
        pid,
        process,
        channel: BufReader::new(channel),
        settled: false,
    };
    let hello = ToNew::Hello {
        from: std::process::id(),
        state: handover.state.len() as u64,
    };
    // A new process that dies at once closes the channel: that is told by
    // `ready`, which reads how it ended.
    let stream = successor.channel.get_mut();
    if wire::send(stream, &hello).await.is_ok() {
        let _ = stream.write_all(&handover.state).await;
    }
    Ok(successor)
}

impl Successor {
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Resolves once the new process is ready; an error when it ends first
    /// (with its reason when it gave one) or is not ready by `deadline`.
    pub(crate) async fn ready(&mut self, deadline: Instant, bound: Duration) -> Result<(), UpgradeError> {
        let said = tokio::select! {
            said = wire::receive::<ToOld>(&mut self.channel) => said,
            () = tokio::time::sleep_until(deadline.into()) => {
                return Err(UpgradeError::TimedOut { pid: self.pid, bound });
            }
        };
        let reason = match said {
            Ok(ToOld::Ready { .. }) => return Ok(()),
            Ok(ToOld::Failed { reason, .. }) => Some(reason),
            // The channel closed: the process is gone or going.
            Err(_) => None,
        };
        // It ended or is ending: how, once it has (within what is left).
        let status = match tokio::time::timeout_at(deadline.into(), self.process.wait()).await {
            Ok(Ok(status)) => describe(status),
            Ok(Err(err)) => format!("ended (its status is unknown: {err})"),
            Err(_) => "stopped talking before it was ready".to_owned(),
        };
        Err(UpgradeError::Exited {
            pid: self.pid,
            status,
            reason,
        })
    }

    /// Tells the new process that systemd now knows it as the main one.
    /// It serves on by itself: this process neither waits for nor stops it.
    pub(crate) async fn confirm(mut self, bound: Duration) {
        self.settled = true;
        let _ = tokio::time::timeout(bound, wire::send(self.channel.get_mut(), &ToNew::Handed)).await;
    }

    /// Stops a new process that failed: SIGTERM, then SIGKILL after
    /// `grace` (its own shutdown is bounded by its `shutdown.total`);
    /// reaped either way.
    pub(crate) async fn stop(mut self, grace: Duration) {
        self.settled = true;
        if matches!(self.process.try_wait(), Ok(Some(_))) {
            return;
        }
        terminate(self.pid);
        if tokio::time::timeout(grace, self.process.wait()).await.is_err() {
            tracing::warn!(target: "micro", "the new process {} did not stop within {}: killing it", self.pid, crate::exit::humantime(grace));
            let _ = self.process.kill().await;
        }
    }
}

impl Drop for Successor {
    fn drop(&mut self) {
        // An upgrade abandoned midway (the service is stopping): the new
        // process must not serve on as an orphan.
        if !self.settled && matches!(self.process.try_wait(), Ok(None)) {
            terminate(self.pid);
        }
    }
}

fn terminate(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
    }
}

/// `exited with 78`, `was killed by SIGSEGV`.
fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with {code}"),
        (None, Some(signal)) => match nix::sys::signal::Signal::try_from(signal) {
            Ok(name) => format!("was killed by {name}"),
            Err(_) => format!("was killed by signal {signal}"),
        },
        (None, None) => format!("ended ({status})"),
    }
}
