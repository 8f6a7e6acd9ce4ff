//! A room full of watchers read by one thread: the fan-out's audience.
//!
//! A watcher is a plain `ws://` connection that subscribes to a room and
//! then only reads. Ten thousand of them on the load generator's side of a
//! two-core machine cost as much CPU as the server spends writing to them
//! when each is a task with a general WebSocket client (a wake-up, a poll,
//! two reads, an owned message and UTF-8 checks per frame). Here the
//! handshake and the subscribe are done once per connection with tokio, and
//! then every socket is handed to one thread that waits on all of them with
//! `mio` and reads each frame where it lands: what the server sends, and
//! how, is the same.
//!
//! The frames are parsed here, not by actix-http's WebSocket codec (the
//! server's, `http/src/ws/reader.rs`): a build that decoded them with it in
//! client mode, each read appended to a per-connection `BytesMut`, cost the
//! reader 3.87 / 3.96 µs a frame against 3.58 / 3.67 (two alternated pairs
//! of `fanout --watchers 10000`), and on two shared cores what the reader
//! spends the server's worker waits for (commit to arrival p99 79 / 81 ms
//! against 68 / 64). Here a read that ends on a frame's boundary, nearly
//! every one, is parsed where it was read, and nothing is allocated a frame.

use std::io::{self, Read as _, Write as _};
use std::net::TcpStream as StdTcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::bidding::histogram;
use crate::client::open_counted;

/// The longest a watcher's connect, upgrade and subscribe may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes taken from a socket at once.
const READ_SIZE: usize = 64 * 1024;
/// A frame larger than this is not the server's (it sends room frames of a
/// few hundred bytes, and snapshots of a few KiB).
const MAX_FRAME: usize = 1 << 20;
/// The client's masking key. RFC 6455 asks for a fresh one per frame against
/// proxies that cache; between the bench and the server there are none.
const MASK: [u8; 4] = [0x5b, 0x1e, 0xa7, 0x3c];

const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xa;

/// What the watchers saw, as it happens.
#[derive(Debug, Default)]
pub struct Seen {
    /// Frames count only while this is set.
    pub measuring: AtomicBool,
    /// `auction.bid` frames timed.
    pub delivered: AtomicU64,
    /// `auction.snapshot` frames (a lagging watcher resynced).
    pub resyncs: AtomicU64,
    /// Connections the server closed or broke.
    pub closed: AtomicU64,
    /// Tells the reading thread to stop.
    stop: AtomicBool,
}

/// The head of a room frame.
#[derive(Debug, Deserialize)]
struct FrameHead<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    server_time: Option<&'a str>,
}

/// Microseconds from `server_time` (RFC 3339) to `now`; 0 if `now` is earlier.
fn delay_micros(server_time: &str, now: DateTime<Utc>) -> Option<u64> {
    let sent = DateTime::parse_from_rfc3339(server_time).ok()?;
    let delay = now.signed_duration_since(sent).num_microseconds()?;
    Some(u64::try_from(delay).unwrap_or(0))
}

/// A subscribed connection, with the bytes read past its last whole frame.
#[derive(Debug)]
pub struct Watcher {
    stream: StdTcpStream,
    carry: Vec<u8>,
}

/// A frame from the server.
#[derive(Debug, PartialEq, Eq)]
enum Frame<'a> {
    Text(&'a [u8]),
    Ping(&'a [u8]),
    Close,
    /// Binary, pong, or a piece of a fragmented message: not counted.
    Other,
}

/// The first frame of `buf` and its length, `None` when it is not all in
/// `buf` yet.
fn next_frame(buf: &[u8]) -> anyhow::Result<Option<(Frame<'_>, usize)>> {
    let [first, second, ..] = *buf else {
        return Ok(None);
    };
    if second & 0x80 != 0 {
        bail!("the server sent a masked frame");
    }
    let (len, head) = match second & 0x7f {
        126 => match buf.get(2..4) {
            Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
            _ => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(bytes) => (u64::from_be_bytes(bytes.try_into()?), 10),
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    let len = usize::try_from(len)
        .ok()
        .filter(|&len| len <= MAX_FRAME)
        .with_context(|| format!("a frame of {len} bytes"))?;
    let end = head + len;
    let Some(payload) = buf.get(head..end) else {
        return Ok(None);
    };
    let whole = first & 0x80 != 0;
    let frame = match first & 0x0f {
        OP_TEXT if whole => Frame::Text(payload),
        OP_CLOSE => Frame::Close,
        OP_PING => Frame::Ping(payload),
        _ => Frame::Other,
    };
    Ok(Some((frame, end)))
}

/// A client frame (masked, as a client's must be).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | opcode);
    match u16::try_from(payload.len()) {
        Ok(len) if len < 126 => frame.push(0x80 | len as u8),
        Ok(len) => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&len.to_be_bytes());
        }
        Err(_) => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&MASK);
    frame.extend(
        payload
            .iter()
            .zip(MASK.iter().cycle())
            .map(|(byte, mask)| byte ^ mask),
    );
    frame
}

/// `ws://host:port/path` as (`host:port`, `/path`).
fn split_url(url: &str) -> anyhow::Result<(&str, &str)> {
    let rest = url
        .strip_prefix("ws://")
        .with_context(|| format!("watchers speak plain ws:// only, not {url}"))?;
    Ok(match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    })
}

/// Connects to `url`, upgrades, subscribes to `room` and waits for
/// `subscribed`.
pub async fn open(url: &str, room: &str) -> anyhow::Result<Watcher> {
    tokio::time::timeout(OPEN_TIMEOUT, open_now(url, room))
        .await
        .with_context(|| format!("no subscribed watcher within {OPEN_TIMEOUT:?}"))?
}

async fn open_now(url: &str, room: &str) -> anyhow::Result<Watcher> {
    let (authority, path) = split_url(url)?;
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    stream.set_nodelay(true)?;
    let upgrade = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(upgrade.as_bytes()).await?;
    let mut carry = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(at) = carry.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if carry.len() > 16 * 1024 || stream.read_buf(&mut carry).await? == 0 {
            bail!("no upgrade answer");
        }
    };
    let status = carry.split(|&b| b == b' ').nth(1);
    if status != Some(b"101".as_slice()) {
        bail!(
            "the upgrade was refused: {}",
            String::from_utf8_lossy(&carry[..head_end.min(80)])
        );
    }
    carry.drain(..head_end);
    let subscribe = serde_json::json!({"type": "subscribe", "id": "1", "room": room});
    stream
        .write_all(&client_frame(OP_TEXT, subscribe.to_string().as_bytes()))
        .await?;
    loop {
        let mut subscribed = false;
        let used = each_frame(&carry, |frame| {
            if let Frame::Text(text) = frame {
                subscribed |= text.windows(12).any(|w| w == b"\"subscribed\"");
            }
        })?;
        carry.drain(..used);
        if subscribed {
            break;
        }
        if stream.read_buf(&mut carry).await? == 0 {
            bail!("closed before subscribed");
        }
    }
    let stream = stream.into_std()?;
    stream.set_nonblocking(true)?;
    Ok(Watcher { stream, carry })
}

/// Opens `count` watchers of `room` at `url`, `concurrency` at a time,
/// saying every thousandth.
pub async fn open_all(
    url: &str,
    room: &str,
    count: u32,
    concurrency: usize,
) -> anyhow::Result<Vec<Watcher>> {
    let opened = AtomicU64::new(0);
    open_counted(count, concurrency, &opened, "watchers in the room", || {
        open(url, room)
    })
    .await
}

/// Calls `each` with every whole frame of `buf`; the bytes they take.
fn each_frame(buf: &[u8], mut each: impl FnMut(Frame<'_>)) -> anyhow::Result<usize> {
    let mut used = 0;
    while let Some((frame, len)) = next_frame(&buf[used..])? {
        each(frame);
        used += len;
    }
    Ok(used)
}

/// The thread that reads every watcher; [`Reading::finish`] stops it.
#[derive(Debug)]
pub struct Reading {
    seen: Arc<Seen>,
    /// Taken by [`Reading::finish`]; a reading dropped unfinished (a
    /// scenario that failed) still stops its thread.
    thread: Option<JoinHandle<anyhow::Result<Histogram<u64>>>>,
}

impl Reading {
    /// Starts reading `watchers` on a thread of their own. Each
    /// `auction.bid` frame that arrives while `seen.measuring` is set is
    /// timed from its `server_time`.
    pub fn start(watchers: Vec<Watcher>, seen: Arc<Seen>) -> anyhow::Result<Self> {
        let thread = std::thread::Builder::new()
            .name("watchers".into())
            .spawn({
                let seen = Arc::clone(&seen);
                move || read_all(watchers, &seen)
            })
            .context("starting the watchers' thread")?;
        Ok(Self {
            seen,
            thread: Some(thread),
        })
    }

    /// Stops reading and closes the connections; the delays timed.
    pub fn finish(mut self) -> anyhow::Result<Histogram<u64>> {
        self.seen.stop.store(true, Ordering::Release);
        self.thread
            .take()
            .context("the watchers' thread was finished already")?
            .join()
            .map_err(|_| anyhow::anyhow!("the watchers' thread panicked"))?
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.seen.stop.store(true, Ordering::Release);
    }
}

/// One watcher as the thread holds it.
#[derive(Debug)]
struct Open {
    stream: TcpStream,
    carry: Vec<u8>,
    closed: bool,
}

fn read_all(watchers: Vec<Watcher>, seen: &Seen) -> anyhow::Result<Histogram<u64>> {
    let mut delays = histogram()?;
    let mut poll = Poll::new().context("a poll for the watchers")?;
    let mut open = Vec::with_capacity(watchers.len());
    for (i, Watcher { stream, carry }) in watchers.into_iter().enumerate() {
        let mut stream = TcpStream::from_std(stream);
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)?;
        open.push(Open {
            stream,
            carry,
            closed: false,
        });
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0_u8; READ_SIZE];
    while !seen.stop.load(Ordering::Acquire) {
        match poll.poll(&mut events, Some(Duration::from_millis(100))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("waiting for the watchers"),
        }
        for event in &events {
            if let Some(watcher) = open.get_mut(event.token().0) {
                watcher.read(&mut buf, seen, &mut delays);
            }
        }
    }
    Ok(delays)
}

impl Open {
    /// Reads what the socket holds. mio waits edge-triggered: a read shorter
    /// than the buffer emptied the socket, and whatever arrives later is a
    /// new edge, so it needs no second read to see `WouldBlock`.
    fn read(&mut self, buf: &mut [u8], seen: &Seen, delays: &mut Histogram<u64>) {
        while !self.closed {
            let n = match self.stream.read(buf) {
                Ok(0) => return self.close(seen),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return self.close(seen),
            };
            self.take(&buf[..n], seen, delays);
            if n < buf.len() {
                return;
            }
        }
    }

    /// Handles the frames `data` completes, keeping the rest.
    fn take(&mut self, data: &[u8], seen: &Seen, delays: &mut Histogram<u64>) {
        let now = Utc::now();
        let measuring = seen.measuring.load(Ordering::Acquire);
        let mut pongs = Vec::new();
        let mut closing = false;
        let mut handle = |frame: Frame<'_>| match frame {
            Frame::Text(text) if measuring => {
                let Ok(head) = serde_json::from_slice::<FrameHead<'_>>(text) else {
                    return;
                };
                match head.kind {
                    "auction.bid" => {
                        if let Some(delay) = head.server_time.and_then(|t| delay_micros(t, now)) {
                            seen.delivered.fetch_add(1, Ordering::Relaxed);
                            delays.saturating_record(delay.max(1));
                        }
                    }
                    "auction.snapshot" => {
                        seen.resyncs.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
            Frame::Ping(payload) => pongs.push(client_frame(OP_PONG, payload)),
            Frame::Close => closing = true,
            Frame::Text(_) | Frame::Other => {}
        };
        // Parsed where it was read when nothing is carried over; the carry
        // only holds the start of a frame a read cut.
        let used = if self.carry.is_empty() {
            let used = each_frame(data, &mut handle);
            if let Ok(used) = used {
                self.carry.extend_from_slice(&data[used..]);
            }
            used
        } else {
            self.carry.extend_from_slice(data);
            let used = each_frame(&self.carry, &mut handle);
            if let Ok(used) = used {
                self.carry.drain(..used);
            }
            used
        };
        // A pong that does not fit is not retried: the server pings again.
        for pong in pongs {
            let _unsent = self.stream.write(&pong);
        }
        if used.is_err() || closing {
            self.close(seen);
        }
    }

    fn close(&mut self, seen: &Seen) {
        if !self.closed {
            self.closed = true;
            self.carry = Vec::new();
            let _gone = self.stream.shutdown(std::net::Shutdown::Both);
            seen.closed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server frame: unmasked.
    fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![first];
        match payload.len() {
            len @ 0..126 => frame.push(len as u8),
            len @ 126..65536 => {
                frame.push(126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn reads_frames_of_each_length_form_and_waits_for_the_rest() {
        for size in [0, 5, 125, 126, 300, 65535, 65536, 70_000] {
            let payload = vec![b'x'; size];
            let wire = server_frame(0x81, &payload);
            assert_eq!(
                next_frame(&wire).unwrap(),
                Some((Frame::Text(&payload), wire.len())),
                "{size} bytes"
            );
            for cut in [0, 1, wire.len() / 2, wire.len() - 1] {
                if cut < wire.len() {
                    assert_eq!(
                        next_frame(&wire[..cut]).unwrap(),
                        None,
                        "{size} cut at {cut}"
                    );
                }
            }
        }
    }

    #[test]
    fn tells_pings_closes_and_pieces_from_text() {
        assert_eq!(
            next_frame(&server_frame(0x89, b"hb")).unwrap().map(|f| f.0),
            Some(Frame::Ping(b"hb"))
        );
        assert_eq!(
            next_frame(&server_frame(0x88, &[3, 232]))
                .unwrap()
                .map(|f| f.0),
            Some(Frame::Close)
        );
        // The first piece of a fragmented text message is not a whole one.
        assert_eq!(
            next_frame(&server_frame(0x01, b"{")).unwrap().map(|f| f.0),
            Some(Frame::Other)
        );
        assert!(next_frame(&[0x81, 0x85, 1, 2, 3, 4, 0]).is_err(), "masked");
        let mut huge = vec![0x81, 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(next_frame(&huge).is_err(), "too large");
    }

    #[test]
    fn frames_back_to_back_are_each_taken() {
        let mut wire = server_frame(0x81, br#"{"type":"auction.bid"}"#);
        wire.extend(server_frame(0x89, b""));
        wire.extend(server_frame(0x81, b"second"));
        wire.extend_from_slice(&[0x81, 10, b'p']);
        let mut seen = Vec::new();
        let used = each_frame(&wire, |frame| seen.push(format!("{frame:?}"))).unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(used, wire.len() - 3, "the partial frame stays");
    }

    #[test]
    fn client_frames_are_masked_and_unmask_to_the_payload() {
        for size in [3, 200, 70_000] {
            let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let frame = client_frame(OP_TEXT, &payload);
            assert_eq!(frame[0], 0x81);
            assert_ne!(frame[1] & 0x80, 0, "masked");
            let head = match frame[1] & 0x7f {
                126 => 4,
                127 => 10,
                _ => 2,
            };
            let mask = &frame[head..head + 4];
            let unmasked: Vec<u8> = frame[head + 4..]
                .iter()
                .zip(mask.iter().cycle())
                .map(|(b, m)| b ^ m)
                .collect();
            assert_eq!(unmasked, payload, "{size} bytes");
        }
    }

    #[test]
    fn delay_from_server_time() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:15:21.007500Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(delay_micros("2026-11-22T10:15:21.004Z", now), Some(3500));
        assert_eq!(delay_micros("2026-11-22T10:15:21.009Z", now), Some(0));
        assert_eq!(delay_micros("yesterday", now), None);
    }

    #[test]
    fn reads_the_frame_head_only() {
        let head: FrameHead<'_> = serde_json::from_slice(
            br#"{"type":"auction.bid","seq":3,"server_time":"2026-11-22T10:15:21.004Z","amount":1000}"#,
        )
        .unwrap();
        assert_eq!(head.kind, "auction.bid");
        assert_eq!(head.server_time, Some("2026-11-22T10:15:21.004Z"));
    }

    #[test]
    fn urls_split_into_authority_and_path() {
        assert_eq!(
            split_url("ws://127.0.0.1:8080/ws").unwrap(),
            ("127.0.0.1:8080", "/ws")
        );
        assert_eq!(split_url("ws://localhost:1").unwrap(), ("localhost:1", "/"));
        assert!(split_url("wss://example.com/ws").is_err());
    }
}
