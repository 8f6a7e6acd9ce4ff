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

use std::collections::VecDeque;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

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
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Bytes read off the socket at a time (on the stack, not kept).
const READ_CHUNK: usize = 4096;
/// Ready chunks gathered into one write at most.
const GATHER: usize = 32;
/// The largest answer other than a switch that is written back.
const MAX_ANSWER: usize = 64 * 1024;

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
    let payload = if req.method() == Method::GET {
        let socket: BoxedPayloadStream = Box::pin(SocketPayload { early, read });
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
    let mut out = BytesMut::new();
    let encoded = if switched {
        let size = body.size();
        codec
            .encode(Message::Item((head, size)), &mut out)
            .map(|()| Pump::new(write, out.freeze(), body))
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
            .map(|()| Pump::new(write, out.freeze(), BoxBody::new(())))
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
/// ready in one vectored write, then shuts the socket's write side.
struct Pump {
    io: OwnedWriteHalf,
    body: BoxBody,
    ended: bool,
    /// Chunks taken from the body and not yet written (the first may be
    /// partly written).
    queue: VecDeque<Bytes>,
}

impl Pump {
    /// Writes `first`, then `body`, to `io`.
    fn new(io: OwnedWriteHalf, first: Bytes, body: BoxBody) -> Self {
        Self {
            io,
            body,
            ended: false,
            queue: VecDeque::from([first]),
        }
    }

    /// Takes what the body has ready, up to [`GATHER`] chunks; an error
    /// from the body ends the connection.
    fn gather(&mut self, cx: &mut Context<'_>) -> Result<(), ()> {
        while !self.ended && self.queue.len() < GATHER {
            match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) if chunk.is_empty() => {}
                Poll::Ready(Some(Ok(chunk))) => self.queue.push_back(chunk),
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

    /// Writes the front of the queue; how many bytes went.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let mut slices = [IoSlice::new(&[]); GATHER];
        let count = self.queue.len().min(GATHER);
        for (slice, chunk) in slices.iter_mut().zip(&self.queue) {
            *slice = IoSlice::new(chunk);
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count])
    }

    /// Drops `written` bytes off the front of the queue.
    fn advance(&mut self, mut written: usize) {
        while let Some(front) = self.queue.front_mut() {
            if written < front.len() {
                front.advance(written);
                return;
            }
            written -= front.len();
            self.queue.pop_front();
        }
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
            if this.queue.is_empty() {
                if !this.ended {
                    return Poll::Pending;
                }
                // Done either way: a failed shutdown only means the client
                // is gone.
                let _shut = ready!(Pin::new(&mut this.io).poll_shutdown(cx));
                return Poll::Ready(());
            }
            match ready!(this.poll_write(cx)) {
                Ok(0) => return Poll::Ready(()),
                Ok(written) => this.advance(written),
                Err(e) => {
                    tracing::debug!(error = %e, "a WebSocket write failed");
                    return Poll::Ready(());
                }
            }
        }
    }
}
