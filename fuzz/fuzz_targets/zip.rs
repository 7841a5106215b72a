#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fashion_mlp_fuzz::harness::shaped_zip(data));
