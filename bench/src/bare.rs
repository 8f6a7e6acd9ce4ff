//! The fan-out's baseline: a bare sender, the least any server does to
//! deliver a room's frames, in a child process of its own (the hidden
//! `bare-room` subcommand) so that its CPU is read apart from the load
//! generator's.
//!
//! It accepts WebSocket watchers, answers their upgrade and their subscribe,
//! and then makes an `auction.bid` frame of the server's shape at a steady
//! rate (`server_time` is when the frame is made, as a commit's time is the
//! server's). One thread writes every frame to every watcher: to each
//! watcher, all the frames it has not had in one write, so frames that
//! queue while a sweep is on its way go out together, as the server's
//! write loop sends them. No database, no auction, no bidders, no
//! per-watcher task or queue: what is left is the machine's cost of a send
//! to each socket, and how long a sweep of the room takes with it.
//!
//! Like the server, it prints `BLYTZ_BENCH_PORT <port>` once it listens.
//! It starts making frames when a line `go` arrives on its stdin, stops
//! making them at a line `stop` (what is made is still sent), and exits when
//! its stdin closes.

use std::io::{self, BufRead as _, IoSlice, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_http::ws::{OpCode, Parser};
use anyhow::{Context, bail};
use bytes::BytesMut;
use chrono::{SecondsFormat, Utc};

use crate::cli::BareArgs;
use crate::server::PORT_LINE;

/// The longest a watcher's upgrade and subscribe may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The room's name in its frames (the server's rooms are `auction:<uuid>`).
const AUCTION_ID: &str = "0b5f6e2a-8c1d-4f3e-9a7b-2c4d6e8f0a1b";
/// The longest upgrade request or subscribe read whole.
const MAX_HANDSHAKE: usize = 16 * 1024;
/// The longest subscribe read (the bench's are under 100 bytes).
const MAX_CLIENT_FRAME: usize = 16 * 1024;
/// A bidder's id in the frames.
const BIDDER_ID: &str = "5e9d1c3b-7a2f-4e6d-8b0c-1f3a5c7e9d2b";

/// The hidden `bare-room` subcommand: accept watchers, then make frames
/// from `go` to `stop` and send them until stdin closes.
pub fn serve(args: BareArgs) -> ExitCode {
    match serve_until_stdin_closes(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blytz-bench bare-room: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve_until_stdin_closes(args: &BareArgs) -> anyhow::Result<()> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate must be above 0");
    }
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1:0")?;
    let port = listener.local_addr().context("reading the port")?.port();
    let watchers = Arc::new(Mutex::new(Vec::new()));
    std::thread::Builder::new()
        .name("accept".into())
        .spawn({
            let watchers = Arc::clone(&watchers);
            move || accept(&listener, &watchers)
        })
        .context("starting the accepting thread")?;
    let mut out = io::stdout().lock();
    writeln!(out, "{PORT_LINE}{port}")?;
    out.flush()?;
    drop(out);

    let mut lines = io::stdin().lock().lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.trim() == "go" => break,
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Ok(()),
        }
    }
    let room = std::mem::take(&mut *watchers.lock().unwrap_or_else(PoisonError::into_inner));
    let log = Arc::new(Log::default());
    let (making, stop) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicBool::new(false)),
    );
    let ticker = std::thread::Builder::new()
        .name("frames".into())
        .spawn({
            let (log, making) = (Arc::clone(&log), Arc::clone(&making));
            let every = Duration::from_secs_f64(1.0 / args.rate);
            move || make_frames(&log, &making, every)
        })
        .context("starting the frames' thread")?;
    let sender = std::thread::Builder::new()
        .name("send".into())
        .spawn({
            let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
            move || send(room, &log, &stop)
        })
        .context("starting the sending thread")?;
    for line in lines.by_ref() {
        match line {
            Ok(line) if line.trim() == "stop" => making.store(false, Ordering::Release),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    making.store(false, Ordering::Release);
    stop.store(true, Ordering::Release);
    log.published.notify_all();
    ticker
        .join()
        .map_err(|_| anyhow::anyhow!("the frames' thread panicked"))?;
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("the sending thread panicked"))?;
    Ok(())
}

/// Takes each connection through its upgrade and subscribe, then keeps it.
fn accept(listener: &TcpListener, watchers: &Mutex<Vec<TcpStream>>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if let Err(e) = handshake(&mut stream) {
            eprintln!("bare-room: a watcher's handshake failed: {e:#}");
            continue;
        }
        // Answered while the room is held: a watcher that has its answer is
        // in the room for whoever takes it next.
        let mut room = watchers.lock().unwrap_or_else(PoisonError::into_inner);
        match subscribed(&mut stream) {
            Ok(()) => room.push(stream),
            Err(e) => eprintln!("bare-room: a watcher's subscribe went unanswered: {e:#}"),
        }
    }
}

/// Answers the upgrade request and reads the client's first frame (its
/// subscribe), to be answered by [`subscribed`].
fn handshake(stream: &mut TcpStream) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut buf = Vec::with_capacity(1024);
    let head_end = read_until(stream, &mut buf, |buf| {
        buf.windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|at| at + 4)
    })?;
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let key = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_owned())
        })
        .context("an upgrade without Sec-WebSocket-Key")?;
    let accept = actix_http::ws::hash_key(key.as_bytes());
    let mut answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                       Connection: Upgrade\r\nSec-WebSocket-Accept: "
        .to_vec();
    answer.extend_from_slice(&accept);
    answer.extend_from_slice(b"\r\n\r\n");
    stream.write_all(&answer)?;
    buf.drain(..head_end);
    // The subscribe: one masked client frame, read whole and not parsed
    // further (every watcher of this room subscribes to it).
    read_until(stream, &mut buf, client_frame_len)?;
    Ok(())
}

/// Answers a watcher's subscribe.
fn subscribed(stream: &mut TcpStream) -> anyhow::Result<()> {
    let answer = format!(
        r#"{{"type":"subscribed","id":"1","room":"auction:{AUCTION_ID}","snapshot":null}}"#
    );
    stream.write_all(&text_frame(answer.as_bytes()))?;
    stream.set_read_timeout(None)?;
    Ok(())
}

/// Reads into `buf` until `done` finds what it looks for; where it ends.
fn read_until(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> Option<usize>,
) -> anyhow::Result<usize> {
    let mut chunk = [0_u8; 1024];
    loop {
        if let Some(end) = done(buf) {
            return Ok(end);
        }
        if buf.len() > MAX_HANDSHAKE {
            bail!("a handshake longer than {MAX_HANDSHAKE} bytes");
        }
        match stream.read(&mut chunk)? {
            0 => bail!("closed during the handshake"),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Where the client frame at the start of `buf` ends, once it is whole:
/// read by actix-http's parser, as the server reads it.
fn client_frame_len(buf: &[u8]) -> Option<usize> {
    let mut rest = BytesMut::from(buf);
    Parser::parse(&mut rest, true, MAX_CLIENT_FRAME).ok()??;
    Some(buf.len() - rest.len())
}

/// An unmasked, final WebSocket text frame of `payload`.
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = BytesMut::with_capacity(payload.len() + 10);
    Parser::write_message(&mut frame, payload, OpCode::Text, true, false);
    frame.to_vec()
}

/// The frames made so far, each a whole WebSocket frame.
#[derive(Debug, Default)]
struct Log {
    frames: Mutex<Vec<Arc<[u8]>>>,
    /// How many there are, read without the lock.
    made: AtomicUsize,
    /// Signalled when a frame is added, and at the stop.
    published: Condvar,
}

impl Log {
    fn frames(&self) -> std::sync::MutexGuard<'_, Vec<Arc<[u8]>>> {
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, frame: Arc<[u8]>) {
        let mut frames = self.frames();
        frames.push(frame);
        self.made.store(frames.len(), Ordering::Release);
        drop(frames);
        self.published.notify_all();
    }

    /// Adds to `copy` the frames made since it was last brought up to date.
    fn catch_up(&self, copy: &mut Vec<Arc<[u8]>>) {
        if self.made.load(Ordering::Acquire) > copy.len() {
            let frames = self.frames();
            copy.extend(frames[copy.len()..].iter().cloned());
        }
    }
}

/// Makes a frame every `every` while `making`, on time: a frame late by
/// more than one period is made at once, not skipped (the server commits
/// each bid).
fn make_frames(log: &Log, making: &AtomicBool, every: Duration) {
    let start = Instant::now();
    let mut seq = 0_u64;
    while making.load(Ordering::Acquire) {
        seq += 1;
        log.push(text_frame(bid_frame(seq).as_bytes()).into());
        let due = start + every.mul_f64(seq as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

/// The `seq`-th bid's frame, in the shape and about the length of the
/// server's `auction.bid` (`docs/websocket.md`).
fn bid_frame(seq: u64) -> String {
    let now = Utc::now();
    let at = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let ends = (now + chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Millis, true);
    let amount = 1_000 + 100 * seq;
    format!(
        r#"{{"type":"auction.bid","auction_id":"{AUCTION_ID}","seq":{seq},"server_time":"{at}","amount":{amount},"bidder_id":"{BIDDER_ID}","automatic":false,"bid_count":{seq},"min_next_bid":{},"ends_at":"{ends}","current_price":{amount},"leader_id":"{BIDDER_ID}","reserve_met":false,"currency":"USD","buy_now_price":null}}"#,
        amount + 100
    )
}

/// Sweeps the room: to each watcher every frame it has not had, in one
/// write; waits for the next frame when a sweep sent nothing.
fn send(room: Vec<TcpStream>, log: &Log, stop: &AtomicBool) {
    let mut room: Vec<(TcpStream, usize)> = room.into_iter().map(|w| (w, 0)).collect();
    let mut frames: Vec<Arc<[u8]>> = Vec::new();
    while !stop.load(Ordering::Acquire) {
        let mut sent = false;
        for (stream, had) in &mut room {
            log.catch_up(&mut frames);
            if *had < frames.len() {
                let slices: Vec<IoSlice<'_>> =
                    frames[*had..].iter().map(|f| IoSlice::new(f)).collect();
                // A watcher that closed is skipped from then on.
                *had = if write_all_vectored(stream, &slices).is_ok() {
                    frames.len()
                } else {
                    usize::MAX
                };
                sent = true;
            }
        }
        if !sent {
            let made = log.frames();
            if made.len() == frames.len() && !stop.load(Ordering::Acquire) {
                let _waited = log
                    .published
                    .wait_timeout(made, Duration::from_millis(100))
                    .map_err(|_| ());
            }
        }
    }
}

/// One vectored write, and more only for what a short write left.
fn write_all_vectored(stream: &mut TcpStream, slices: &[IoSlice<'_>]) -> io::Result<()> {
    let total: usize = slices.iter().map(|s| s.len()).sum();
    let mut written = stream.write_vectored(slices)?;
    if written == total {
        return Ok(());
    }
    for slice in slices {
        let len = slice.len();
        if written >= len {
            written -= len;
            continue;
        }
        stream.write_all(&slice[written..])?;
        written = 0;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_frame_carries_each_length_form() {
        assert_eq!(text_frame(b"hi"), [0x81, 2, b'h', b'i']);
        let mid = text_frame(&[b'x'; 300]);
        assert_eq!(&mid[..4], &[0x81, 126, 1, 44]);
        assert_eq!(mid.len(), 304);
        let long = text_frame(&vec![b'x'; 70_000]);
        assert_eq!(&long[..2], &[0x81, 127]);
        assert_eq!(long.len(), 70_010);
    }

    #[test]
    fn a_client_frame_is_whole_only_with_its_mask_and_payload() {
        let frame = [0x81, 0x80 | 3, 1, 2, 3, 4, b'a', b'b', b'c'];
        assert_eq!(client_frame_len(&frame[..8]), None);
        assert_eq!(client_frame_len(&frame), Some(9));
        assert_eq!(client_frame_len(&[0x81]), None);
        let mut mid = vec![0x81, 0x80 | 126, 1, 0, 9, 9, 9, 9];
        mid.extend_from_slice(&[b'x'; 256]);
        assert_eq!(client_frame_len(&mid), Some(264));
    }

    #[test]
    fn a_bid_frame_is_json_with_the_watchers_head() {
        let frame: serde_json::Value = serde_json::from_str(&bid_frame(7)).unwrap();
        assert_eq!(frame["type"], "auction.bid");
        assert_eq!(frame["seq"], 7);
        assert!(frame["server_time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn a_watcher_upgrades_subscribes_and_gets_every_frame_in_order() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .write_all(
                    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                      Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                )
                .unwrap();
            stream
                .write_all(&[0x81, 0x80 | 2, 0, 0, 0, 0, b'{', b'}'])
                .unwrap();
            let mut got = Vec::new();
            stream.read_to_end(&mut got).unwrap();
            got
        });
        let (mut stream, _) = listener.accept().unwrap();
        handshake(&mut stream).unwrap();
        subscribed(&mut stream).unwrap();
        let log = Log::default();
        for seq in 1..=3 {
            log.push(text_frame(bid_frame(seq).as_bytes()).into());
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| send(vec![stream], &log, &stop));
            std::thread::sleep(Duration::from_millis(200));
            stop.store(true, Ordering::Release);
            log.published.notify_all();
        });
        let got = String::from_utf8_lossy(&client.join().unwrap()).into_owned();
        // The RFC 6455 example key's answer.
        assert!(got.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        let subscribed = got.find("\"subscribed\"").unwrap();
        let seqs: Vec<usize> = (1..=3)
            .map(|seq| got.find(&format!("\"seq\":{seq},")).unwrap())
            .collect();
        assert!(subscribed < seqs[0] && seqs[0] < seqs[1] && seqs[1] < seqs[2]);
    }

    /// The whole baseline as the fan-out runs it, in one process: the
    /// bench's own watchers open, subscribe and read, and every frame made
    /// reaches every watcher once, timed from its `server_time`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_benchs_watchers_read_every_frame_the_bare_sender_makes() {
        use crate::watchers::{self, Reading, Seen};
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let waiting = Arc::new(Mutex::new(Vec::new()));
        std::thread::spawn({
            let waiting = Arc::clone(&waiting);
            move || accept(&listener, &waiting)
        });
        let opened = watchers::open_all(&url, "auction:bare", 5, 5)
            .await
            .unwrap();
        let seen = Arc::new(Seen::default());
        let reading = Reading::start(opened, Arc::clone(&seen)).unwrap();
        seen.measuring.store(true, Ordering::Release);
        let room = std::mem::take(&mut *waiting.lock().unwrap());
        assert_eq!(room.len(), 5);

        let log = Arc::new(Log::default());
        let (making, stop) = (
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicBool::new(false)),
        );
        let maker = std::thread::spawn({
            let (log, making) = (Arc::clone(&log), Arc::clone(&making));
            move || make_frames(&log, &making, Duration::from_millis(10))
        });
        let sender = std::thread::spawn({
            let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
            move || send(room, &log, &stop)
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        making.store(false, Ordering::Release);
        maker.join().unwrap();
        let made = log.frames().len() as u64;
        // Every frame made reaches all five watchers, then the sender stops.
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.delivered.load(Ordering::Relaxed) < made * 5 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let delays = reading.finish().unwrap();
        assert!(made >= 10, "{made} frames made in 300 ms at 100 a second");
        assert_eq!(seen.delivered.load(Ordering::Relaxed), made * 5);
        assert_eq!(delays.len(), made * 5);
        assert_eq!(seen.closed.load(Ordering::Relaxed), 0);
        stop.store(true, Ordering::Release);
        log.published.notify_all();
        sender.join().unwrap();
    }
}
