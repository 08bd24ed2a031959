//! Request parsing and reply encoding: the per-command cost every request pays.
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use resp::{encode, Frame, Proto, RequestParser};
use std::hint::black_box;

fn pipelined_set_get(c: &mut Criterion) {
    let mut input = Vec::new();
    for i in 0..16 {
        input.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n$6\r\nkey:{i:02}\r\n$3\r\nabc\r\n").as_bytes(),
        );
        input.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n$6\r\nkey:{i:02}\r\n").as_bytes());
    }
    let mut group = c.benchmark_group("resp_decode");
    group.throughput(Throughput::Elements(32));
    group.bench_function("pipeline_32", |b| {
        b.iter(|| {
            let mut parser = RequestParser::default();
            let mut buf = BytesMut::from(&input[..]);
            let mut n = 0;
            while let Ok(Some(argv)) = parser.parse(&mut buf) {
                n += argv.len();
            }
            black_box(n)
        })
    });
    group.finish();
}

fn encode_array(c: &mut Criterion) {
    let frame = Frame::Array((0..100).map(Frame::bulk_int).collect());
    c.bench_function("resp_encode_array_100", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            out.clear();
            encode(black_box(&frame), Proto::Resp2, &mut out);
            black_box(out.len())
        })
    });
}

criterion_group!(benches, pipelined_set_get, encode_array);
criterion_main!(benches);
