//! The label selector parser: never panics; what parses prints to a form that parses back
//! to the same selector and prints the same again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidecast_server::LabelSelector;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match LabelSelector::parse(input) {
        Ok(sel) => {
            let printed = sel.to_string();
            let again = LabelSelector::parse(&printed)
                .unwrap_or_else(|e| panic!("{input:?} printed as {printed:?}: {e}"));
            assert_eq!(again, sel, "{input:?} printed as {printed:?}");
            assert_eq!(again.to_string(), printed);
        }
        Err(e) => {
            assert!(e.position <= input.len());
            let _ = e.to_string();
        }
    }
});
