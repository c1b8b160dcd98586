//! The new process's side: the sockets it inherited (from the process it
//! succeeds, or from systemd's socket activation) and, after an upgrade,
//! the channel back to its predecessor. Taken once per process, at the
//! start of its first run; a later run in the same process binds anew.

use std::net::TcpListener;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::UnixStream;

use super::wire::{self, ToNew, ToOld};

/// Names the running process gives the descriptors it hands over, in
/// `LISTEN_FDNAMES` (systemd's variable for the same purpose).
pub(super) const CHANNEL: &str = "micro-upgrade";
pub(super) const HTTP: &str = "http";
pub(super) const ADMIN: &str = "admin";
/// The process handing over (its pid): a process it did not start
/// ignores the variable.
pub(super) const FROM: &str = "MICRO_UPGRADE_FROM";
/// How long the running process waits for this one (`site.upgrade.timeout`).
pub(super) const TIMEOUT_MS: &str = "MICRO_UPGRADE_TIMEOUT_MS";

/// The state handed over by the predecessor.
static STATE: OnceLock<Vec<u8>> = OnceLock::new();

pub(super) fn state() -> Option<&'static [u8]> {
    STATE.get().map(Vec::as_slice).filter(|state| !state.is_empty())
}

/// What this run inherited.
#[derive(Debug, Default)]
pub(crate) struct Inherited {
    http: Option<std::io::Result<TcpListener>>,
    admin: Option<std::io::Result<TcpListener>>,
    channel: Mutex<Option<Channel>>,
}

/// The channel to the predecessor, until this process is ready or its run
/// ended.
#[derive(Debug)]
pub(crate) struct Channel {
    stream: BufReader<UnixStream>,
    /// How long the predecessor waits: this side's bound too.
    bound: Duration,
}

impl Inherited {
    /// The service's listening socket, when one was inherited; an error
    /// when what was inherited is no TCP listener.
    pub(crate) fn http(&mut self) -> std::io::Result<Option<TcpListener>> {
        self.http.take().transpose()
    }

    /// The admin routes' listening socket, when one was inherited.
    pub(crate) fn admin(&mut self) -> std::io::Result<Option<TcpListener>> {
        self.admin.take().transpose()
    }

    /// The channel to the predecessor, once: whoever takes it reports.
    pub(crate) fn channel(&self) -> Option<Channel> {
        self.channel.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// What this process inherited, the first time it is asked; nothing after.
/// Reads the predecessor's hello and state, within its bound: a
/// predecessor that is gone leaves a process that serves on its own.
pub(crate) async fn inherited() -> Inherited {
    static TAKEN: Mutex<bool> = Mutex::new(false);
    if std::mem::replace(&mut *TAKEN.lock().unwrap_or_else(PoisonError::into_inner), true) {
        return Inherited::default();
    }
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|names| names.split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    let from = std::env::var(FROM)
        .ok()
        .and_then(|from| from.parse::<u32>().ok())
        .filter(|from| *from == std::os::unix::process::parent_id());
    let bound = std::env::var(TIMEOUT_MS)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(75), Duration::from_millis);
    let mut fds = listenfd::ListenFd::from_env();
    let index = |name: &str| names.iter().position(|named| named == name);
    let mut inherited = Inherited::default();
    // systemd names a socket after its unit unless told otherwise: an
    // unnamed (or otherwise named) first socket is the service's.
    let http = index(HTTP).or_else(|| (fds.len() > 0 && index(CHANNEL) != Some(0)).then_some(0));
    inherited.http = http.and_then(|at| fds.take_tcp_listener(at).transpose());
    inherited.admin = index(ADMIN).and_then(|at| fds.take_tcp_listener(at).transpose());
    let channel = from
        .and(index(CHANNEL))
        .and_then(|at| {
            fds.take_custom::<std::os::unix::net::UnixStream>(
                at,
                nix::libc::AF_UNIX,
                nix::libc::SOCK_STREAM,
                "the upgrade channel",
            )
            .transpose()
        })
        .map(|stream| stream.and_then(|stream| hello(stream, bound)));
    match channel {
        Some(Ok(opened)) => {
            let (channel, state) = match tokio::time::timeout(bound, opened).await {
                Ok(Ok(hello)) => hello,
                Ok(Err(err)) => return says(inherited, &format!("the upgrade channel failed: {err}")),
                Err(_) => {
                    let waited = crate::exit::humantime(bound);
                    return says(inherited, &format!("no word from the process upgraded within {waited}"));
                }
            };
            let _ = STATE.set(state);
            crate::systemd::silent_until_main();
            *inherited.channel.get_mut().unwrap_or_else(PoisonError::into_inner) = Some(channel);
            inherited
        }
        Some(Err(err)) => says(inherited, &format!("the upgrade channel is unusable: {err}")),
        None => inherited,
    }
}

/// Opens the channel and reads the predecessor's hello and state.
fn hello(
    stream: std::os::unix::net::UnixStream,
    bound: Duration,
) -> std::io::Result<impl Future<Output = std::io::Result<(Channel, Vec<u8>)>>> {
    stream.set_nonblocking(true)?;
    let mut stream = BufReader::new(UnixStream::from_std(stream)?);
    Ok(async move {
        let ToNew::Hello { from: _, state } = wire::receive(&mut stream).await? else {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "no hello first"));
        };
        let state = wire::receive_state(&mut stream, state).await?;
        Ok((Channel { stream, bound }, state))
    })
}

/// Serves on without a predecessor to tell, and says why (on stderr:
/// logging is not configured yet).
fn says(inherited: Inherited, why: &str) -> Inherited {
    eprintln!("started by an upgrade, but {why}: serving without reporting to it");
    inherited
}

/// Tells the predecessor this process serves, and resolves once it
/// handed systemd's main process over (or at the bound, or when it is
/// gone: this process serves either way).
pub(crate) async fn announce(mut channel: Channel) -> Result<(), String> {
    let ready = async {
        wire::send(
            channel.stream.get_mut(),
            &ToOld::Ready {
                pid: std::process::id(),
            },
        )
        .await?;
        match wire::receive::<ToNew>(&mut channel.stream).await? {
            ToNew::Handed => Ok(()),
            ToNew::Hello { .. } => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "a second hello")),
        }
    };
    match tokio::time::timeout(channel.bound, ready).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(format!("the process upgraded did not confirm: {err}")),
        Err(_) => Err(format!(
            "the process upgraded did not confirm within {}",
            crate::exit::humantime(channel.bound)
        )),
    }
}

/// Tells the predecessor, when this run was an upgrade that never got
/// ready (`channel` not taken by [`announce`]), how it ended: its exit
/// code and reason.
pub(crate) async fn report_end(channel: Option<Channel>, status: &crate::ExitStatus) {
    let Some(mut channel) = channel else {
        return;
    };
    let failed = ToOld::Failed {
        code: status.kind.code(),
        reason: status.reason.clone(),
    };
    let _ = tokio::time::timeout(channel.bound, wire::send(channel.stream.get_mut(), &failed)).await;
}
