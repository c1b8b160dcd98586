//! The messages on the channel between the running process and the new
//! one: a JSON object a line; the state follows the hello as raw bytes.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// The longest line either side reads: a reason is a few lines of text.
const LINE_MAX: u64 = 1 << 20;

/// From the running process to the new one.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum ToNew {
    /// First, at once: who hands over, and how many bytes of state follow.
    Hello { from: u32, state: u64 },
    /// systemd was told `MAINPID=` the new process (or has no notify socket).
    Handed,
}

/// From the new process to the running one.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum ToOld {
    /// Serving on the inherited sockets.
    Ready { pid: u32 },
    /// Its run ended before it was ready: its exit code and reason.
    Failed { code: u8, reason: String },
}

pub(super) async fn send<T: Serialize>(to: &mut (impl AsyncWrite + Unpin), message: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    to.write_all(&line).await?;
    to.flush().await
}

/// The next message; an error at the end of the stream or on a line that
/// is no message.
pub(super) async fn receive<T: DeserializeOwned>(from: &mut (impl AsyncBufRead + Unpin)) -> std::io::Result<T> {
    let mut line = Vec::new();
    (&mut *from).take(LINE_MAX).read_until(b'\n', &mut line).await?;
    if line.last() != Some(&b'\n') {
        let what = if line.is_empty() {
            "the channel closed"
        } else {
            "a message too long"
        };
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, what));
    }
    serde_json::from_slice(&line).map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
}

/// Exactly `len` bytes of state.
pub(super) async fn receive_state(from: &mut (impl AsyncRead + Unpin), len: u64) -> std::io::Result<Vec<u8>> {
    let mut state = Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(1 << 20));
    (&mut *from).take(len).read_to_end(&mut state).await?;
    if state.len() as u64 == len {
        Ok(state)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the state was cut short",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_and_state_cross_the_channel_in_order() {
        let (mut old, new) = tokio::net::UnixStream::pair().expect("pair");
        send(&mut old, &ToNew::Hello { from: 7, state: 3 }).await.expect("sent");
        old.write_all(b"abc").await.expect("state");
        send(&mut old, &ToNew::Handed).await.expect("sent");
        let mut new = tokio::io::BufReader::new(new);
        assert_eq!(
            receive::<ToNew>(&mut new).await.expect("hello"),
            ToNew::Hello { from: 7, state: 3 }
        );
        assert_eq!(receive_state(&mut new, 3).await.expect("state"), b"abc");
        assert_eq!(receive::<ToNew>(&mut new).await.expect("handed"), ToNew::Handed);
        drop(old);
        let end = receive::<ToNew>(&mut new).await.expect_err("closed");
        assert_eq!(end.to_string(), "the channel closed");
    }

    #[tokio::test]
    async fn a_reason_with_newlines_is_one_message() {
        let (mut new, old) = tokio::net::UnixStream::pair().expect("pair");
        let reason = "configuration:\nconf/site.yaml:2:3: unknown key".to_owned();
        send(
            &mut new,
            &ToOld::Failed {
                code: 78,
                reason: reason.clone(),
            },
        )
        .await
        .expect("sent");
        let mut old = tokio::io::BufReader::new(old);
        assert_eq!(
            receive::<ToOld>(&mut old).await.expect("failed"),
            ToOld::Failed { code: 78, reason }
        );
    }
}
