//! JourneyEvent Avro encode/decode: `AvroCodec` (serde_avro_fast, straight
//! from the struct) against the `apache_avro` `types::Value` path.
//!
//! `cargo bench -p journey-benches --bench avro`
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use journey_benches::{apache_decode, apache_encode, sample_event};
use journey_core::avro::{AvroCodec, Framing, RecordType};
use journey_core::model::JourneyEvent;

fn avro(c: &mut Criterion) {
    let record = RecordType::JourneyEvent;
    let codec = AvroCodec::new(record, Framing::SingleObject);
    let event = sample_event();
    let framed = codec.encode(&event).unwrap();
    let datum = apache_encode(record, &event).unwrap();
    assert_eq!(&framed[codec.header().len()..], datum.as_slice());

    let mut encode = c.benchmark_group("journey_event_encode");
    encode.throughput(Throughput::Elements(1));
    encode.bench_function("apache_avro_value", |b| {
        b.iter(|| apache_encode(record, black_box(&event)).unwrap())
    });
    encode.bench_function("codec_encode", |b| {
        b.iter(|| codec.encode(black_box(&event)).unwrap())
    });
    let mut buf = Vec::with_capacity(512);
    encode.bench_function("codec_encode_into_reused_buf", |b| {
        b.iter(|| {
            buf.clear();
            codec.encode_into(black_box(&event), &mut buf).unwrap();
            buf.len()
        })
    });
    encode.finish();

    let mut decode = c.benchmark_group("journey_event_decode");
    decode.throughput(Throughput::Elements(1));
    decode.bench_function("apache_avro_value", |b| {
        b.iter(|| apache_decode::<JourneyEvent>(record, black_box(&datum)).unwrap())
    });
    decode.bench_function("codec_decode", |b| {
        b.iter(|| codec.decode::<JourneyEvent>(black_box(&framed)).unwrap())
    });
    decode.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = avro
}
criterion_main!(benches);
