//! Micro-benchmarks of the protocol core: `cargo bench -p hftp-proto`.
//!
//! - requests decoded per second from a pipelined stream;
//! - slice encoding and decoding in bytes per second: the crate's own path
//!   (`SliceEncoder`, `ReplyDecoder`: AVX-512 VBMI where the CPU has it),
//!   plain `base64-simd` on the same data in the same pieces, which that
//!   path is judged against, and the scalar `base64` crate, which
//!   `base64-simd` was chosen over.

use std::hint::black_box;

use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hftp_proto::{FileName, ReplyDecoder, ReplyEvent, Request, RequestDecoder, SliceEncoder};

fn pipelined_requests(c: &mut Criterion) {
    const REQUESTS: usize = 10_000;
    let line = b"get_metadata archivo.txt\r\n";
    let stream = line.repeat(REQUESTS);
    let mixed: Vec<u8> = [
        &b"get_metadata archivo.txt\r\n"[..],
        b"get_slice archivo.txt 1048576 65536\r\n",
        b"get_file_listing\r\n",
        b"verdura\r\n",
    ]
    .concat()
    .repeat(REQUESTS / 4);

    let mut group = c.benchmark_group("request_decoder");
    group.throughput(Throughput::Elements(REQUESTS as u64));
    for (name, input) in [("get_metadata", &stream), ("mixed", &mixed)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut decoder = RequestDecoder::new();
                decoder.events(black_box(input)).count()
            })
        });
    }
    group.finish();
}

fn slices(c: &mut Criterion) {
    const SIZE: usize = 4 * 1024 * 1024;
    const CHUNK: usize = 192 * 1024;
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut out = Vec::with_capacity(SIZE / 3 * 4 + 16);

    let mut group = c.benchmark_group("slice");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.bench_function("encode/SliceEncoder", |b| {
        b.iter(|| {
            out.clear();
            let mut encoder = SliceEncoder::new(SIZE as u64, &mut out);
            for chunk in data.chunks(CHUNK) {
                encoder.encode(black_box(chunk), &mut out);
            }
            encoder.finish(&mut out).map(|()| out.len())
        })
    });
    group.bench_function("encode/base64-simd", |b| {
        b.iter(|| {
            out.clear();
            for chunk in data.chunks(CHUNK) {
                base64_simd::STANDARD.encode_append(black_box(chunk), &mut out);
            }
            out.len()
        })
    });
    group.bench_function("encode/base64 (reference)", |b| {
        let engine = base64::engine::general_purpose::STANDARD;
        b.iter(|| {
            out.clear();
            for chunk in data.chunks(CHUNK) {
                let start = out.len();
                out.resize(start + chunk.len().div_ceil(3) * 4, 0);
                engine
                    .encode_slice(black_box(chunk), &mut out[start..])
                    .map(|_| ())
                    .unwrap_or_default();
            }
            out.len()
        })
    });

    let mut wire = Vec::new();
    let mut encoder = SliceEncoder::new(SIZE as u64, &mut wire);
    encoder.encode(&data, &mut wire);
    encoder.finish(&mut wire).expect("whole slice");
    let request = Request::GetSlice {
        name: FileName::new("archivo.txt").expect("valid"),
        offset: 0,
        size: SIZE as u64,
        raw: false,
    };
    group.bench_function("decode/ReplyDecoder", |b| {
        b.iter(|| {
            let mut decoder = ReplyDecoder::new(&request);
            let mut input = &wire[..];
            let mut total = 0;
            while let Ok((consumed, event)) = decoder.decode(input) {
                input = &input[consumed..];
                match event {
                    Some(ReplyEvent::Data(bytes)) => total += black_box(bytes).len(),
                    Some(ReplyEvent::End) | None => break,
                    Some(_) => {}
                }
            }
            total
        })
    });
    // The pieces and the reused buffer of the reply decoder's fast path.
    group.bench_function("decode/base64-simd", |b| {
        let body = &wire[6..wire.len() - 2];
        let mut decoded = Vec::new();
        b.iter(|| {
            let mut total = 0;
            for chunk in body.chunks(64 * 1024) {
                decoded.clear();
                base64_simd::STANDARD
                    .decode_append(black_box(chunk), &mut decoded)
                    .unwrap_or_default();
                total += black_box(&decoded).len();
            }
            total
        })
    });
    group.bench_function("decode/base64 (reference)", |b| {
        let engine = base64::engine::general_purpose::STANDARD;
        let body = &wire[6..wire.len() - 2];
        let mut decoded = vec![0u8; SIZE + 3];
        b.iter(|| {
            engine
                .decode_slice(black_box(body), &mut decoded)
                .unwrap_or_default()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = pipelined_requests, slices
}
criterion_main!(benches);
