#![no_main]
//! Any bytes: the filter parser must not panic, and what it accepts must print to a form
//! that parses back to the same tree.

use libfuzzer_sys::fuzz_target;
use roster::grammar::parse_filter;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match parse_filter(s) {
        Ok(f) => {
            let printed = f.to_string();
            assert_eq!(parse_filter(&printed).ok(), Some(f), "printed: {printed}");
        }
        Err(e) => {
            assert!(e.offset <= s.len());
            let _ = e.render(s);
        }
    }
});
