//! The client's side of one WebSocket connection: its frames, decoded
//! straight off the request's payload with actix-http's WebSocket codec.
//!
//! It keeps no buffer between messages (a client sends little and seldom,
//! and an idle connection should cost as little as it can) and ends when the
//! client's side of the connection ends or when the connection's writer
//! ([`super::writer`]) is gone, whichever comes first.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_codec::Decoder;
use actix_http::ws::{Codec, Frame, Message, ProtocolError};
use actix_web::dev::Payload;
use bytes::BytesMut;
use bytestring::ByteString;
use futures_util::Stream;
use tokio::sync::oneshot;

/// The messages of one client, in the order it sent them.
pub struct Reader {
    payload: Payload,
    /// Bytes of a frame not complete yet; empty (and unallocated) between
    /// frames.
    buf: BytesMut,
    codec: Codec,
    /// Resolves when the writer is dropped: the connection is done.
    writer_gone: oneshot::Receiver<()>,
    /// The payload ended, failed, or the writer is gone: whatever is
    /// buffered is decoded, then the stream ends.
    ending: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("buffered", &self.buf.len())
            .field("ending", &self.ending)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// The client's messages on `payload`, frames up to `max_frame` bytes.
    /// Dropping `writer_gone`'s sender (the writer's) ends the stream.
    pub fn new(payload: Payload, max_frame: usize, writer_gone: oneshot::Receiver<()>) -> Self {
        Self {
            payload,
            buf: BytesMut::new(),
            codec: Codec::new().max_size(max_frame),
            writer_gone,
            ending: false,
        }
    }

    /// The next complete message in the buffer, if any.
    fn decode(&mut self) -> Result<Option<Message>, ProtocolError> {
        let frame = self.codec.decode(&mut self.buf)?;
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            // Nothing is left over: give the memory back until the client
            // sends again.
            self.buf = BytesMut::new();
        }
        frame.map(message_of).transpose()
    }
}

/// A decoded frame as the session handles it; text must be UTF-8.
fn message_of(frame: Frame) -> Result<Message, ProtocolError> {
    Ok(match frame {
        Frame::Text(bytes) => Message::Text(
            ByteString::try_from(bytes)
                .map_err(|e| ProtocolError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))?,
        ),
        Frame::Binary(bytes) => Message::Binary(bytes),
        Frame::Continuation(item) => Message::Continuation(item),
        Frame::Ping(bytes) => Message::Ping(bytes),
        Frame::Pong(bytes) => Message::Pong(bytes),
        Frame::Close(reason) => Message::Close(reason),
    })
}

impl Stream for Reader {
    type Item = Result<Message, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.decode() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) => {}
                Err(e) => {
                    // The stream cannot be resynchronised after a bad frame.
                    this.ending = true;
                    this.buf = BytesMut::new();
                    return Poll::Ready(Some(Err(e)));
                }
            }
            if this.ending {
                return Poll::Ready(None);
            }
            if Pin::new(&mut this.writer_gone).poll(cx).is_ready() {
                this.ending = true;
                continue;
            }
            match Pin::new(&mut this.payload).poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => this.buf.extend_from_slice(&bytes),
                Poll::Ready(Some(Err(e))) => {
                    this.ending = true;
                    this.buf = BytesMut::new();
                    return Poll::Ready(Some(Err(ProtocolError::Io(io::Error::other(e)))));
                }
                Poll::Ready(None) => this.ending = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser};
    use actix_web::error::PayloadError;
    use bytes::Bytes;
    use futures_util::StreamExt;
    use tokio::sync::mpsc;

    use super::*;

    /// A reader fed by `chunks`, and the writer's side of its end signal.
    fn reader() -> (
        mpsc::UnboundedSender<Result<Bytes, PayloadError>>,
        oneshot::Sender<()>,
        Reader,
    ) {
        let (chunks, rx) = mpsc::unbounded_channel();
        let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
        let (alive, writer_gone) = oneshot::channel();
        let stream: actix_http::BoxedPayloadStream = Box::pin(stream);
        let payload = Payload::Stream { payload: stream };
        (chunks, alive, Reader::new(payload, 64, writer_gone))
    }

    /// One masked frame as a client sends it.
    fn client_frame(op: OpCode, payload: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        Parser::write_message(&mut out, payload, op, true, true);
        out.freeze()
    }

    #[actix_web::test]
    async fn frames_split_anywhere_come_out_whole_and_in_order() {
        let (chunks, _alive, mut reader) = reader();
        let mut wire = BytesMut::new();
        wire.extend_from_slice(&client_frame(OpCode::Text, br#"{"type":"ping"}"#));
        wire.extend_from_slice(&client_frame(OpCode::Ping, b"hi"));
        let mut close = BytesMut::new();
        let reason = CloseReason::from(CloseCode::Normal);
        Parser::write_close(&mut close, Some(reason), true);
        wire.extend_from_slice(&close);
        // One byte at a time: every frame is split.
        for byte in wire.iter() {
            chunks.send(Ok(Bytes::copy_from_slice(&[*byte]))).unwrap();
        }
        let Some(Ok(Message::Text(text))) = reader.next().await else {
            panic!("a text frame first");
        };
        assert_eq!(&*text, r#"{"type":"ping"}"#);
        assert!(matches!(reader.next().await, Some(Ok(Message::Ping(p))) if &p[..] == b"hi"));
        assert!(matches!(
            reader.next().await,
            Some(Ok(Message::Close(Some(CloseReason {
                code: CloseCode::Normal,
                ..
            }))))
        ));
        assert_eq!(reader.buf.capacity(), 0, "nothing is kept between frames");
        drop(chunks);
        assert!(reader.next().await.is_none());
    }

    #[actix_web::test]
    async fn a_frame_over_the_limit_is_an_overflow_and_the_end() {
        let (chunks, _alive, mut reader) = reader();
        chunks
            .send(Ok(client_frame(OpCode::Text, &[b'a'; 65])))
            .unwrap();
        assert!(matches!(
            reader.next().await,
            Some(Err(ProtocolError::Overflow))
        ));
        assert!(reader.next().await.is_none());
    }

    #[actix_web::test]
    async fn text_that_is_not_utf8_is_refused() {
        let (chunks, _alive, mut reader) = reader();
        chunks
            .send(Ok(client_frame(OpCode::Text, &[0xff, 0xfe])))
            .unwrap();
        assert!(matches!(
            reader.next().await,
            Some(Err(ProtocolError::Io(_)))
        ));
        assert!(reader.next().await.is_none());
    }

    #[actix_web::test]
    async fn the_stream_ends_when_the_writer_is_gone() {
        let (_chunks, alive, mut reader) = reader();
        drop(alive);
        assert!(reader.next().await.is_none());
    }

    #[actix_web::test]
    async fn a_broken_connection_is_an_error_then_the_end() {
        let (chunks, _alive, mut reader) = reader();
        chunks.send(Err(PayloadError::Incomplete(None))).unwrap();
        assert!(matches!(
            reader.next().await,
            Some(Err(ProtocolError::Io(_)))
        ));
        assert!(reader.next().await.is_none());
    }
}
