//! The sans-IO core of HFTP, the Home-made File Transfer Protocol.
//!
//! Everything protocol-shaped lives here, and nothing else does: no
//! sockets, files, threads or clocks. Bytes go in, events and bytes come
//! out, so a server or a client only moves bytes and files.
//!
//! - Servers run one [`ServerSession`] per connection: it takes the bytes
//!   read, asks the driver for what only the file system knows
//!   ([`Action`]: list, look up, open, read, send a body), and gives back the bytes to
//!   send, back-pressure, timeouts and the close, keeping every rule of
//!   HFTP.md about a connection. Its parts are public too, for a server of
//!   another shape: [`RequestDecoder`] turns bytes into one [`RequestEvent`] per
//!   request line; [`servability`], [`is_visible`] and [`check_slice`]
//!   decide 202, 199 and 203; [`encode_status`], [`encode_metadata`],
//!   [`Listing`] and [`SliceEncoder`] write the replies.
//! - Clients write a [`Request`] with [`Request::encode`] and feed what they
//!   read to a [`ReplyDecoder`], which yields the status and the body.
//!
//! The decoders keep bounded memory whatever the peer sends: the request
//! decoder classifies a line while it streams past and never allocates.
//!
//! # The request decoder and encoders by hand
//!
//! What a [`ServerSession`] does for each request, without its buffering,
//! back-pressure and timeouts (see its own example for the whole thing):
//!
//! ```
//! use hftp_proto::{check_slice, encode_metadata, encode_status, RequestEvent, Request, RequestDecoder, SliceEncoder, Status};
//!
//! let file = b"!Que calor que hace hoy, pinta una birra!";
//! // What the peer sent, in the splits the network chose.
//! let reads: [&[u8]; 3] = [b"get_metadata archivo.txt\r\nget_sl", b"ice archivo.txt 5 20\r", b"\nquit\r\n"];
//!
//! let mut decoder = RequestDecoder::new();
//! let mut replies = Vec::new();
//! for read in reads {
//!     for event in decoder.events(read) {
//!         match event {
//!             RequestEvent::Request(Request::GetMetadata { .. }) => encode_metadata(file.len() as u64, &mut replies),
//!             RequestEvent::Request(Request::GetSlice { offset, size, .. }) => {
//!                 match check_slice(offset, size, file.len() as u64) {
//!                     Ok(()) => {
//!                         let mut encoder = SliceEncoder::new(size, &mut replies);
//!                         encoder.encode(&file[offset as usize..][..size as usize], &mut replies);
//!                         encoder.finish(&mut replies)?;
//!                     }
//!                     Err(status) => encode_status(status, &mut replies),
//!                 }
//!             }
//!             RequestEvent::Request(Request::Quit) => encode_status(Status::Ok, &mut replies),
//!             RequestEvent::Request(Request::Help) => hftp_proto::encode_help(&mut replies),
//!             RequestEvent::Request(Request::GetFileListing) => unreachable!(),
//!             RequestEvent::Refused(status) => encode_status(status, &mut replies),
//!         }
//!     }
//!     // A real server writes `replies` to the socket here, once per read.
//! }
//! assert!(decoder.is_closed());
//! assert_eq!(replies, b"0 OK\r\n41\r\n0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n0 OK\r\n");
//! # Ok::<(), hftp_proto::IncompleteSlice>(())
//! ```

#![deny(missing_docs)]

mod base64;
mod line_head;
mod name;
mod reply;
mod reply_decoder;
mod request;
mod request_decoder;
mod servable;
mod session;
mod status;

pub use line_head::LineHead;
pub use name::{FileName, FileNameError, MAX_FILE_NAME_LEN, is_file_name_byte};
pub use reply::{
    COMMANDS, IncompleteSlice, SliceEncoder, encode_help, encode_listing, encode_metadata,
    encode_raw_slice_head, encode_status,
};
pub use reply_decoder::{MAX_REPLY_LINE_LEN, ReplyDecoder, ReplyError, ReplyEvent};
pub use request::{Request, check_slice};
pub use request_decoder::{MAX_LINE_LEN, RequestDecoder, RequestEvent, RequestEvents};
pub use servable::{Entry, Listing, ListingBuilder, is_visible, servability};
pub use session::{Action, Answered, CloseReason, OUTPUT_LIMIT, ServerSession, SessionConfig};
pub use status::Status;
