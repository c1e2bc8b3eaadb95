//! Properties no table of examples can cover: any split of the input gives
//! the same events, the request decoder agrees with a plain line-at-a-time
//! model of HFTP.md, encode→decode is the identity, and no input panics a
//! decoder or makes it hold more than a fixed amount of memory. The server
//! session's tests (`session/`) share this binary, its model and its
//! allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hftp_proto::*;
use hftp_test_support::split_body_into_lines;
use proptest::prelude::*;

mod session;

// ---------------------------------------------------------------------------
// Memory accounting: a global allocator that counts, per thread, the bytes
// currently allocated, so a test can bound what a decoder holds.

struct CountingAllocator;

thread_local! {
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
    static PEAK_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn record(delta: isize) {
    // `try_with`: the thread-locals may be gone while a thread exits.
    let _ = LIVE_BYTES.try_with(|live| {
        live.set(live.get() + delta);
        let _ = PEAK_BYTES.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the bookkeeping only touches const-initialised
// thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as isize);
        // SAFETY: same layout as given to us.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(-(layout.size() as isize));
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size as isize - layout.size() as isize);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` and returns its result with the most bytes it held at once.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let start = LIVE_BYTES.with(Cell::get);
    PEAK_BYTES.with(|peak| peak.set(start));
    let result = f();
    (result, PEAK_BYTES.with(Cell::get) - start)
}

// ---------------------------------------------------------------------------
// A model of HFTP.md's request rules, written the plain way: cut whole
// lines, then judge each one with string operations.

fn model(input: &[u8]) -> Vec<RequestEvent> {
    let mut events = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    for &byte in input {
        if byte != b'\n' {
            line.push(byte);
            continue;
        }
        if line.pop() != Some(b'\r') {
            events.push(RequestEvent::Refused(Status::BadEol));
            return events;
        }
        let event = judge(&line);
        events.push(event);
        line.clear();
        if matches!(event, RequestEvent::Refused(s) if s.is_fatal())
            || event == RequestEvent::Request(Request::Quit)
        {
            return events;
        }
    }
    events
}

fn judge(line: &[u8]) -> RequestEvent {
    if line.iter().any(|b| !(0x20..=0x7E).contains(b)) {
        return RequestEvent::Refused(Status::BadRequest);
    }
    if line.iter().all(|&b| b == b' ') {
        // Blank: empty, or spaces only.
        return RequestEvent::Refused(Status::BadRequest);
    }
    let text = std::str::from_utf8(line).expect("printable ASCII");
    let mut parts = text.split(' ');
    let command = parts.next().unwrap_or_default();
    let args: Vec<&str> = parts.collect();
    let arities: &[usize] = match command {
        "get_file_listing" | "help" | "quit" => &[0],
        "get_metadata" => &[1],
        "get_slice" => &[3, 4],
        _ => return RequestEvent::Refused(Status::NoSuchCommand),
    };
    let is_name = |s: &str| !s.is_empty() && s.bytes().all(is_file_name_byte);
    let is_number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let number = |s: &str| s.parse::<u64>().unwrap_or(u64::MAX);
    let well_formed = arities.contains(&args.len())
        && args.first().is_none_or(|n| is_name(n))
        && args.iter().skip(1).take(2).all(|n| is_number(n))
        && args.get(3).is_none_or(|flag| *flag == "raw");
    if !well_formed {
        return RequestEvent::Refused(Status::InvalidArguments);
    }
    if args.first().is_some_and(|n| n.len() > MAX_FILE_NAME_LEN) {
        return RequestEvent::Refused(Status::FileNotFound);
    }
    let name = || FileName::new(args[0]).expect("checked above");
    RequestEvent::Request(match command {
        "get_file_listing" => Request::GetFileListing,
        "help" => Request::Help,
        "quit" => Request::Quit,
        "get_metadata" => Request::GetMetadata { name: name() },
        _ => Request::GetSlice {
            name: name(),
            offset: number(args[1]),
            size: number(args[2]),
            raw: args.len() == 4,
        },
    })
}

/// Request-like byte streams: mostly valid pieces, with every kind of
/// mistake mixed in.
fn request_stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => Just(b"get_file_listing".to_vec()),
        4 => Just(b"get_metadata".to_vec()),
        4 => Just(b"get_slice".to_vec()),
        2 => Just(b"quit".to_vec()),
        2 => Just(b"help".to_vec()),
        2 => Just(b"raw".to_vec()),
        1 => Just(b"ra".to_vec()),
        2 => Just(b"verdura".to_vec()),
        8 => Just(b" ".to_vec()),
        8 => Just(b"\r\n".to_vec()),
        1 => Just(b"\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => prop::sample::select(vec![0u8, b'\t', 0x7F, 0x80, 0xFF]).prop_map(|b| vec![b]),
        4 => "[a-zA-Z0-9._-]{1,12}".prop_map(String::into_bytes),
        1 => "[a-z/~*\\\\+]{1,4}".prop_map(String::into_bytes),
        4 => "[0-9]{1,25}".prop_map(String::into_bytes),
        1 => Just(b"-1".to_vec()),
        1 => (250usize..270).prop_map(|n| vec![b'n'; n]),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// Feeds `input` in the given chunk sizes (cycled) and collects the events.
fn decode_in_chunks(input: &[u8], sizes: &[usize]) -> Vec<RequestEvent> {
    let mut decoder = RequestDecoder::new();
    let mut events = Vec::new();
    let mut rest = input;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        events.extend(decoder.events(chunk));
        rest = tail;
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_split_gives_the_events_of_the_whole(
        input in request_stream(),
        sizes in prop::collection::vec(1usize..9, 1..8),
    ) {
        let whole = RequestDecoder::new().events(&input).collect::<Vec<_>>();
        prop_assert_eq!(decode_in_chunks(&input, &sizes), whole);
    }

    #[test]
    fn the_decoder_agrees_with_the_model(input in request_stream()) {
        let events = RequestDecoder::new().events(&input).collect::<Vec<_>>();
        prop_assert_eq!(events, model(&input));
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_allocate(
        input in prop::collection::vec(any::<u8>(), 0..2048),
        sizes in prop::collection::vec(1usize..64, 1..8),
    ) {
        let mut decoder = RequestDecoder::new();
        let (count, peak) = peak_heap(|| {
            let mut count = 0;
            for chunk in input.chunks(sizes[0]) {
                count += decoder.events(chunk).count();
            }
            count
        });
        prop_assert!(count <= input.len());
        prop_assert_eq!(peak, 0, "the request decoder allocated");
    }

    #[test]
    fn requests_round_trip(request in any_request()) {
        let mut wire = Vec::new();
        request.encode(&mut wire);
        let events = RequestDecoder::new().events(&wire).collect::<Vec<_>>();
        prop_assert_eq!(events, vec![RequestEvent::Request(request)]);
    }

    #[test]
    fn slices_round_trip(
        data in prop::collection::vec(any::<u8>(), 0..3000),
        encode_chunks in prop::collection::vec(1usize..700, 1..6),
        decode_chunks in prop::collection::vec(1usize..700, 1..6),
        line_len in prop::option::of(1usize..40),
    ) {
        let mut wire = Vec::new();
        let mut encoder = SliceEncoder::new(data.len() as u64, &mut wire);
        let mut rest = &data[..];
        for &size in encode_chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            prop_assert_eq!(encoder.encode(chunk, &mut wire), chunk.len());
            rest = tail;
        }
        prop_assert!(encoder.finish(&mut wire).is_ok());
        prop_assert_eq!(wire.len() as u64, 6 + SliceEncoder::encoded_len(data.len() as u64));
        if let Some(quads) = line_len {
            wire = split_body_into_lines(&wire, quads * 4);
        }
        let request = Request::GetSlice { name: FileName::new("f").expect("valid"), offset: 0, size: data.len() as u64, raw: false };
        prop_assert_eq!(decode_slice(&request, &wire, &decode_chunks), Ok(data));
    }

    #[test]
    fn listings_and_sizes_round_trip(
        names in prop::collection::btree_set("[a-zA-Z0-9._-]{1,20}", 0..20),
        size in any::<u64>(),
    ) {
        let mut names: Vec<FileName> = names.iter().map(|n| FileName::new(n).expect("valid")).collect();
        let mut wire = Vec::new();
        encode_listing(&mut names, &mut wire);
        encode_metadata(size, &mut wire);
        let mut decoder = ReplyDecoder::new(&Request::GetFileListing);
        let mut input = &wire[..];
        let mut decoded = Vec::new();
        while !decoder.is_done() {
            let (consumed, event) = decoder.decode(input).expect("valid listing");
            input = &input[consumed..];
            if let Some(ReplyEvent::FileName(name)) = event {
                decoded.push(name);
            }
        }
        prop_assert_eq!(&decoded, &names);
        decoder.reset(&Request::GetMetadata { name: FileName::new("f").expect("valid") });
        let mut sizes = Vec::new();
        while !decoder.is_done() {
            let (consumed, event) = decoder.decode(input).expect("valid metadata");
            input = &input[consumed..];
            if let Some(ReplyEvent::Size(size)) = event {
                sizes.push(size);
            }
        }
        prop_assert_eq!(sizes, vec![size]);
        prop_assert!(input.is_empty());
    }

    #[test]
    fn arbitrary_replies_never_panic_and_memory_stays_bounded(
        request in any_request(),
        reply in prop::collection::vec(any::<u8>(), 0..20_000),
        prefix in prop::sample::select(vec![&b""[..], b"0 OK\r\n"]),
    ) {
        let input = [prefix, &reply[..]].concat();
        let mut decoder = ReplyDecoder::new(&request);
        let (_, peak) = peak_heap(|| {
            let mut rest = &input[..];
            while let Ok((consumed, event)) = decoder.decode(rest) {
                rest = &rest[consumed..];
                if event.is_none() || decoder.is_done() {
                    break;
                }
            }
        });
        prop_assert!(peak <= 64 * 1024, "the reply decoder held {peak} bytes");
    }
}

fn any_request() -> impl Strategy<Value = Request> {
    let name = "[a-zA-Z0-9._-]{1,255}".prop_map(|n| FileName::new(&n).expect("valid"));
    prop_oneof![
        Just(Request::GetFileListing),
        Just(Request::Quit),
        Just(Request::Help),
        name.clone().prop_map(|name| Request::GetMetadata { name }),
        (name, any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(name, offset, size, raw)| {
            Request::GetSlice {
                name,
                offset,
                size,
                raw,
            }
        }),
    ]
}

fn decode_slice(request: &Request, wire: &[u8], sizes: &[usize]) -> Result<Vec<u8>, ReplyError> {
    let mut decoder = ReplyDecoder::new(request);
    let mut data = Vec::new();
    let mut rest = wire;
    for &size in sizes.iter().cycle() {
        if decoder.is_done() {
            break;
        }
        let mut chunk = &rest[..size.min(rest.len())];
        rest = &rest[chunk.len()..];
        loop {
            let (consumed, event) = decoder.decode(chunk)?;
            chunk = &chunk[consumed..];
            match event {
                Some(ReplyEvent::Data(bytes)) => data.extend_from_slice(bytes),
                Some(ReplyEvent::Status(status)) => assert_eq!(status, Status::Ok),
                Some(ReplyEvent::End) => {
                    return if rest.is_empty() && chunk.is_empty() {
                        Ok(data)
                    } else {
                        Err(ReplyError::Truncated)
                    };
                }
                Some(_) => return Err(ReplyError::BadBase64),
                None => break,
            }
        }
        if rest.is_empty() && chunk.is_empty() && !decoder.is_done() {
            decoder.finish()?;
        }
    }
    Ok(data)
}
