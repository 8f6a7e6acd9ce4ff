//! The switch to the WebSocket protocol: the connection leaves the HTTP
//! dispatcher and keeps no buffer while it idles.
//!
//! actix-http hands every request that asks for an upgrade, with its socket,
//! to this service rather than answering it itself. The request still goes
//! through the whole application (middleware, routing, `GET /ws`'s checks);
//! what the application answers is written here. When the answer is
//! `101 Switching Protocols`, the socket is split: the read half is the
//! request's payload, which the connection's [`super::reader::Reader`]
//! decodes, and the response body (the [`super::writer`]) goes to the write
//! half through a [`Pump`]. Any other answer is written and the connection
//! closed.
//!
//! Left in the dispatcher, a WebSocket would keep its 8 KiB read and write
//! buffers for its whole life, most of what an idle connection costs; here
//! they are freed at the switch. The pump also writes the frames that are
//! ready at once in one vectored write, each frame's bytes as the room
//! encoded them, not copied into a buffer first.

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_codec::{Encoder, Framed};
use actix_http::body::{BodySize, BoxBody, MessageBody, to_bytes_limited};
use actix_http::error::PayloadError;
use actix_http::h1::{Codec, Message};
use actix_http::{
    BoxedPayloadStream, ConnectionType, Method, Payload, Request, Response, StatusCode,
};
use actix_web::dev::Service;
use actix_web::dev::{ServiceFactory, ServiceResponse, always_ready, fn_factory};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use futures_util::future::LocalBoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::oneshot;
use tokio::time::Sleep;

use super::fanout::Socket;

/// Bytes read off the socket at a time (on the stack, not kept).
const READ_CHUNK: usize = 4096;
/// Ready chunks gathered into one write at most.
const GATHER: usize = 32;
/// The largest answer other than a switch that is written back.
const MAX_ANSWER: usize = 64 * 1024;
/// Once the session is over, how long the connection's last bytes may wait
/// for a client that does not read before it is dropped without them.
pub const LAST_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The upgrade service over `app` (the application's service factory): one
/// application per worker, as for the requests the dispatcher answers.
pub fn factory<F, S, B>(
    app: F,
) -> impl ServiceFactory<
    (Request, Framed<TcpStream, Codec>),
    Config = (),
    Response = (),
    Error = actix_web::Error,
    InitError = (),
>
where
    F: ServiceFactory<
            Request,
            Config = (),
            Service = S,
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    let app = Rc::new(app);
    fn_factory(move || {
        let app = Rc::clone(&app);
        async move {
            let app = app.new_service(()).await?;
            Ok(Upgrade { app: Rc::new(app) })
        }
    })
}

/// Answers upgrade requests through the application.
struct Upgrade<S> {
    app: Rc<S>,
}

impl<S, B> Service<(Request, Framed<TcpStream, Codec>)> for Upgrade<S>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ();
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<(), actix_web::Error>>;

    always_ready!();

    fn call(&self, (req, framed): (Request, Framed<TcpStream, Codec>)) -> Self::Future {
        let app = Rc::clone(&self.app);
        Box::pin(async move {
            // Boxed: the application's future is large and lives only until
            // the answer; the connection keeps the pump alone.
            let pump = Box::pin(answer(app, req, framed)).await;
            if let Some(pump) = pump {
                pump.await;
            }
            Ok(())
        })
    }
}

/// Runs `req` through the application with the socket's read half as its
/// payload; the pump that writes the answer, none when it cannot be encoded.
async fn answer<S, B>(app: Rc<S>, req: Request, framed: Framed<TcpStream, Codec>) -> Option<Pump>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let parts = framed.into_parts();
    let mut codec = parts.codec;
    // What the client sent after the request head belongs to the new
    // protocol; copied out so that the dispatcher's buffers are freed.
    let early = Bytes::copy_from_slice(&parts.read_buf);
    drop((parts.read_buf, parts.write_buf));
    let (read, write) = parts.io.into_split();
    // Only a GET can switch (RFC 6455); any other method gets no body.
    let (alive, reader_gone) = oneshot::channel();
    let payload = if req.method() == Method::GET {
        let socket: BoxedPayloadStream = Box::pin(SocketPayload {
            early,
            read,
            _alive: alive,
        });
        Payload::Stream { payload: socket }
    } else {
        Payload::None
    };
    let (req, _none) = req.replace_payload(payload);
    let response: Response<BoxBody> = match app.call(req).await {
        Ok(res) => res.map_into_boxed_body().into_parts().1.into(),
        Err(e) => e.into(),
    };
    let (mut head, body) = response.into_parts();
    let switched = head.status() == StatusCode::SWITCHING_PROTOCOLS;
    // A WebSocket's writer made the write side the rooms' hubs write to.
    let socket = head
        .extensions_mut()
        .remove::<Rc<Socket>>()
        .unwrap_or_else(|| Socket::new(None));
    socket.attach(write);
    let mut out = BytesMut::new();
    let encoded = if switched {
        let size = body.size();
        codec
            .encode(Message::Item((head, size)), &mut out)
            .map(|()| Pump::new(socket, out.freeze(), body, reader_gone))
    } else {
        head.head_mut().set_connection_type(ConnectionType::Close);
        let bytes = match to_bytes_limited(body, MAX_ANSWER).await {
            Ok(Ok(bytes)) => bytes,
            _ => Bytes::new(),
        };
        codec
            .encode(
                Message::Item((head, BodySize::Sized(bytes.len() as u64))),
                &mut out,
            )
            .and_then(|()| codec.encode(Message::Chunk(Some(bytes)), &mut out))
            .and_then(|()| codec.encode(Message::Chunk(None), &mut out))
            .map(|()| Pump::new(socket, out.freeze(), BoxBody::new(()), reader_gone))
    };
    match encoded {
        Ok(pump) => Some(pump),
        Err(e) => {
            tracing::warn!(error = %e, "could not encode an upgrade answer");
            None
        }
    }
}

/// The client's bytes: what came with the request head, then the socket.
/// Reads land on the stack and are copied out, so nothing is held between
/// reads.
struct SocketPayload {
    early: Bytes,
    read: OwnedReadHalf,
    /// Dropped with the payload: tells the pump the session is over.
    _alive: oneshot::Sender<()>,
}

impl Stream for SocketPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if !this.early.is_empty() {
            return Poll::Ready(Some(Ok(std::mem::take(&mut this.early))));
        }
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut chunk);
        match ready!(Pin::new(&mut this.read).poll_read(cx, &mut buf)) {
            Ok(()) if buf.filled().is_empty() => Poll::Ready(None),
            Ok(()) => Poll::Ready(Some(Ok(Bytes::copy_from_slice(buf.filled())))),
            Err(e) => Poll::Ready(Some(Err(PayloadError::Io(e)))),
        }
    }
}

/// Writes a response body to the socket as it comes, every chunk that is
/// ready in one vectored write, then shuts the socket's write side. Once
/// the session is over (its reader is gone, or the body has ended), what is
/// left gets [`LAST_WRITE_TIMEOUT`] to leave: a client that stopped reading
/// does not hold its connection open after that. The socket and the
/// bytes not yet written are shared with the rooms' hubs ([`Socket`]),
/// which write to an idle connection themselves.
pub(super) struct Pump {
    socket: Rc<Socket>,
    body: BoxBody,
    ended: bool,
    /// Resolves when the connection's reader is dropped (with the session).
    reader_gone: oneshot::Receiver<()>,
    /// Armed once the session is over.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl Pump {
    /// Writes `first`, then `body`, to `socket`; `reader_gone` tells when
    /// the session is over.
    pub(super) fn new(
        socket: Rc<Socket>,
        first: Bytes,
        body: BoxBody,
        reader_gone: oneshot::Receiver<()>,
    ) -> Self {
        if !first.is_empty() {
            socket.out.borrow_mut().push_back(first);
        }
        Self {
            socket,
            body,
            ended: false,
            reader_gone,
            deadline: None,
        }
    }

    /// Whether the bytes left have waited too long: the clock starts when
    /// the session is over.
    fn out_of_time(&mut self, cx: &mut Context<'_>) -> bool {
        if self.deadline.is_none() {
            // Polled only until it resolves: the deadline is armed then.
            let over = self.ended || Pin::new(&mut self.reader_gone).poll(cx).is_ready();
            if !over {
                return false;
            }
            self.deadline = Some(Box::pin(tokio::time::sleep(LAST_WRITE_TIMEOUT)));
        }
        self.deadline
            .as_mut()
            .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready())
    }

    /// Takes what the body has ready, up to [`GATHER`] chunks; an error
    /// from the body ends the connection.
    fn gather(&mut self, cx: &mut Context<'_>) -> Result<(), ()> {
        while !self.ended && self.socket.out.borrow().len() < GATHER {
            match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) if chunk.is_empty() => {}
                Poll::Ready(Some(Ok(chunk))) => self.socket.out.borrow_mut().push_back(chunk),
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!(error = %e, "a WebSocket body failed");
                    return Err(());
                }
                Poll::Ready(None) => self.ended = true,
                Poll::Pending => break,
            }
        }
        Ok(())
    }

    /// Writes the front of what waits; how many bytes went (none once the
    /// socket is gone).
    fn poll_write(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let out = self.socket.out.borrow();
        let mut io = self.socket.io.borrow_mut();
        let Some(io) = io.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        let mut slices = [IoSlice::new(&[]); GATHER];
        let count = out.len().min(GATHER);
        for (slice, chunk) in slices.iter_mut().zip(out.iter()) {
            *slice = IoSlice::new(chunk);
        }
        Pin::new(io).poll_write_vectored(cx, &slices[..count])
    }

    /// Drops `written` bytes off the front of what waits.
    fn advance(&self, mut written: usize) {
        let mut out = self.socket.out.borrow_mut();
        while let Some(front) = out.front_mut() {
            if written < front.len() {
                front.advance(written);
                return;
            }
            written -= front.len();
            out.pop_front();
        }
    }

    /// Shuts the socket's write side; done at once without a socket.
    fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.socket.io.borrow_mut().as_mut() {
            Some(io) => Pin::new(io).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        // Nothing more is written: the hubs skip the connection, and the
        // socket's write half goes now rather than with the last reference.
        self.socket.close();
        drop(self.socket.io.borrow_mut().take());
        self.socket.out.borrow_mut().clear();
    }
}

impl Future for Pump {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if this.gather(cx).is_err() {
                return Poll::Ready(());
            }
            if this.socket.out.borrow().is_empty() {
                if !this.ended {
                    return Poll::Pending;
                }
                // Done either way: a failed shutdown only means the client
                // is gone.
                let _shut = ready!(this.poll_shutdown(cx));
                return Poll::Ready(());
            }
            match this.poll_write(cx) {
                // Only a client that does not read runs out of time.
                Poll::Pending if this.out_of_time(cx) => {
                    tracing::debug!("a WebSocket client did not read its last frames");
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => return Poll::Ready(()),
                Poll::Ready(Ok(written)) => this.advance(written),
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "a WebSocket write failed");
                    return Poll::Ready(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_http::body::BodyStream;
    use futures_util::{StreamExt, stream};
    use tokio::io::AsyncReadExt;
    use tokio::net::tcp::OwnedWriteHalf;

    use super::*;

    /// More than loopback's socket buffers take from a client that does not
    /// read.
    const MORE_THAN_BUFFERED: usize = 32 * 1024 * 1024;

    /// The server's write half (and its read half, kept open) and the client.
    async fn connection() -> (OwnedWriteHalf, OwnedReadHalf, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (read, write) = server.into_split();
        (write, read, client)
    }

    /// A write side on `write`, as the switch makes it.
    fn attached(write: OwnedWriteHalf) -> Rc<Socket> {
        let socket = Socket::new(None);
        socket.attach(write);
        socket
    }

    /// A body of `bytes`, then nothing until the session ends.
    fn open_body(bytes: Bytes) -> BoxBody {
        let chunks = stream::iter([Ok::<_, std::io::Error>(bytes)]).chain(stream::pending());
        BoxBody::new(BodyStream::new(chunks))
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_does_not_read_is_dropped_once_the_session_is_over() {
        let (write, _read, _client) = connection().await;
        let (alive, reader_gone) = oneshot::channel();
        let body = open_body(Bytes::from(vec![7u8; MORE_THAN_BUFFERED]));
        let mut pump = Box::pin(Pump::new(
            attached(write),
            Bytes::from_static(b"head"),
            body,
            reader_gone,
        ));

        // While the session lives, a client that does not read only waits.
        let waited = tokio::time::timeout(Duration::from_secs(600), &mut pump).await;
        assert!(waited.is_err(), "the pump ended while the session lived");

        // The session ends: what is left gets its time, then goes unsent.
        drop(alive);
        let started = tokio::time::Instant::now();
        tokio::time::timeout(LAST_WRITE_TIMEOUT * 2, &mut pump)
            .await
            .expect("the connection is dropped");
        assert!(
            started.elapsed() >= LAST_WRITE_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_reading_client_gets_everything_then_the_end() {
        let (write, _read, mut client) = connection().await;
        let (alive, reader_gone) = oneshot::channel();
        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..64u8)
            .map(|i| Ok(Bytes::from(vec![i; 64 * 1024])))
            .collect();
        let body = BoxBody::new(BodyStream::new(stream::iter(chunks)));
        let pump = Pump::new(
            attached(write),
            Bytes::from_static(b"head"),
            body,
            reader_gone,
        );
        // The session is already over: the rest still leaves in time.
        drop(alive);
        let reading = tokio::spawn(async move {
            let mut received = Vec::new();
            client.read_to_end(&mut received).await.unwrap();
            received
        });
        pump.await;
        let received = reading.await.unwrap();
        assert_eq!(received.len(), 4 + 64 * 64 * 1024);
        assert_eq!(&received[..4], b"head");
        for (i, chunk) in received[4..].chunks(64 * 1024).enumerate() {
            assert!(
                chunk.iter().all(|b| usize::from(*b) == i),
                "chunk {i} in order"
            );
        }
    }
}
