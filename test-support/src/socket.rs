//! The socket options the tests and the bench set that std has no setter
//! for, through socket2.

use std::io;
use std::net::TcpStream;
use std::time::Duration;

use socket2::SockRef;

/// Sets `stream`'s receive buffer (SO_RCVBUF; Linux doubles the value and
/// stops autotuning it), so that little of a reply fits in the kernel.
pub fn set_receive_buffer(stream: &TcpStream, bytes: usize) -> io::Result<()> {
    SockRef::from(stream).set_recv_buffer_size(bytes)
}

/// Sets `stream`'s send buffer (SO_SNDBUF; Linux caps it at
/// `net.core.wmem_max`).
pub fn set_send_buffer(stream: &TcpStream, bytes: usize) -> io::Result<()> {
    SockRef::from(stream).set_send_buffer_size(bytes)
}

/// Closes `stream` with a reset instead of a FIN (SO_LINGER with a zero
/// timeout): the abortive close of a crashing or hostile peer.
pub fn close_with_reset(stream: TcpStream) -> io::Result<()> {
    SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
    drop(stream);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    #[test]
    fn a_reset_close_is_seen_as_a_reset() -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        set_receive_buffer(&client, 64 * 1024)?;
        set_send_buffer(&client, 64 * 1024)?;
        let (mut server, _) = listener.accept()?;
        close_with_reset(client)?;
        let read = server.read(&mut [0; 16]);
        assert_eq!(
            read.map_err(|error| error.kind()),
            Err(io::ErrorKind::ConnectionReset)
        );
        Ok(())
    }
}
