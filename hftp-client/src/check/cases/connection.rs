//! Cases about connections rather than one request: disconnects, idle
//! and slow clients, many clients, long lines.

use super::*;

pub(super) fn half_close_mid_request(ctx: &Ctx) -> Result<(), Failure> {
    let mut conn = Conn::open(ctx.addr, ctx.deadline)?;
    conn.send(b"get_metad")?;
    conn.shutdown_write();
    conn.expect_nothing_then_close()
}

pub(super) fn line_of_16_mib(ctx: &Ctx) -> Result<(), Failure> {
    let mut conn = Conn::open(ctx.addr, ctx.deadline)?;
    let mut line = vec![b'a'; 16 << 20];
    line.extend_from_slice(b"\r\n");
    let said = "\"101 BAD REQUEST\\r\\n\" then close, or \"200 NO SUCH COMMAND\\r\\n\"";
    let first = with_writer(&mut conn, &[line], |conn| conn.line(said))?;
    if first == status(Status::BadRequest) {
        conn.expect_closed()
    } else if first == status(Status::NoSuchCommand) {
        conn.expect_open()
    } else {
        Err(conn.fail(
            said,
            format!("the reply began {}", escape(&first, first.len() as u64)),
        ))
    }
}

pub(super) fn disconnect_mid_request(ctx: &Ctx) -> Result<(), Failure> {
    let mut gone = Conn::open(ctx.addr, ctx.deadline)?;
    gone.send(b"get_slice hftp-check-abs")?;
    drop(gone);
    let mut other = Conn::open(ctx.addr, ctx.deadline)?;
    other.send(PROBE)?;
    other
        .expect(PROBE_REPLY)
        .map_err(|f| f.on("the other client"))?;
    other.expect_open().map_err(|f| f.on("the other client"))
}

fn vanish_mid(ctx: &Ctx, raw_form: bool) -> Result<(), Failure> {
    let big = big_data();
    let size = BIG_LEN.to_string();
    let (ask, whole) = if raw_form {
        (request(&["get_slice", BIG, "0", &size, "raw"]), raw(&big))
    } else {
        (request(&["get_slice", BIG, "0", &size]), slice(&big))
    };
    let mut gone = Conn::open(ctx.addr, ctx.deadline)?;
    gone.send(&ask)?;
    gone.expect(&whole[..64 * 1024])
        .map_err(|f| f.on("the client that vanishes"))?;
    // Closing with the rest unread: the server's next writes fail.
    drop(gone);
    let mut other = Conn::open(ctx.addr, ctx.deadline)?;
    other.send(&request(&["get_slice", BIG, "4096", "1000"]))?;
    other
        .expect(&slice(&big[4096..5096]))
        .map_err(|f| f.on("the other client"))?;
    other.expect_open().map_err(|f| f.on("the other client"))
}

pub(super) fn vanish_mid_slice(ctx: &Ctx) -> Result<(), Failure> {
    vanish_mid(ctx, false)
}

pub(super) fn vanish_mid_raw_slice(ctx: &Ctx) -> Result<(), Failure> {
    vanish_mid(ctx, true)
}

pub(super) fn idle_clients(ctx: &Ctx) -> Result<(), Failure> {
    let mut idle = Vec::new();
    for i in 0..CLIENTS {
        let mut conn =
            Conn::open(ctx.addr, ctx.deadline).map_err(|f| f.on(&format!("idle client {i}")))?;
        if i % 2 == 1 {
            conn.send(b"get_metadata hftp-check-ab")?;
        }
        idle.push(conn);
    }
    let mut other = Conn::open(ctx.addr, ctx.deadline)?;
    other.send(PROBE)?;
    other
        .expect(PROBE_REPLY)
        .map_err(|f| f.on(&format!("a client arriving after {CLIENTS} idle ones")))?;
    for (i, conn) in idle.iter_mut().enumerate().filter(|(i, _)| i % 2 == 1) {
        conn.send(b"sent\r\n")?;
        conn.expect(&status(Status::FileNotFound))
            .map_err(|f| f.on(&format!("idle client {i}, finishing its request")))?;
    }
    Ok(())
}

pub(super) fn slow_sender(ctx: &Ctx) -> Result<(), Failure> {
    let mut slow = Conn::open(ctx.addr, ctx.deadline)?;
    slow.send(b"get_metadata hftp-che")?;
    let mut other = Conn::open(ctx.addr, ctx.deadline)?;
    other.send(PROBE)?;
    other
        .expect(PROBE_REPLY)
        .map_err(|f| f.on("the other client"))?;
    slow.send(b"ck-absent\r\n")?;
    slow.expect(&status(Status::FileNotFound))
        .map_err(|f| f.on("the slow client"))
}

pub(super) fn slow_reader(ctx: &Ctx) -> Result<(), Failure> {
    let big = big_data();
    let mut slow = Conn::open(ctx.addr, ctx.deadline)?;
    slow.send(&request(&["get_slice", BIG, "0", &BIG_LEN.to_string()]))?;
    let mut other = Conn::open(ctx.addr, ctx.deadline)?;
    other.send(PROBE)?;
    other
        .expect(PROBE_REPLY)
        .map_err(|f| f.on("the other client"))?;
    slow.expect(&slice(&big))
        .map_err(|f| f.on("the client reading late"))
}

pub(super) fn many_clients(ctx: &Ctx) -> Result<(), Failure> {
    let mut conns = Vec::new();
    for i in 0..CLIENTS {
        conns.push(Conn::open(ctx.addr, ctx.deadline).map_err(|f| f.on(&format!("client {i}")))?);
    }
    for conn in &mut conns {
        conn.send(PROBE)?;
    }
    for (i, conn) in conns.iter_mut().enumerate() {
        conn.expect(PROBE_REPLY)
            .map_err(|f| f.on(&format!("client {i} of {CLIENTS}, all connected at once")))?;
    }
    Ok(())
}

pub(super) fn lockstep(ctx: &Ctx) -> Result<(), Failure> {
    let mut conn = Conn::open(ctx.addr, ctx.deadline)?;
    for i in 0..500 {
        conn.send(PROBE)?;
        conn.expect(PROBE_REPLY)
            .map_err(|f| f.on(&format!("request {}", i + 1)))?;
    }
    Ok(())
}
