#![no_main]
//! Any bytes: the PATCH path parser must not panic and must round-trip what it accepts.

use libfuzzer_sys::fuzz_target;
use roster::grammar::parse_path;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match parse_path(s) {
        Ok(p) => {
            let printed = p.to_string();
            assert_eq!(parse_path(&printed).ok(), Some(p), "printed: {printed}");
        }
        Err(e) => assert!(e.offset <= s.len()),
    }
});
