//! Segment counting: never a panic, the encoding is GSM-7 exactly when every character is,
//! units are what the encoding says, the segment count agrees with the encoding's limits,
//! and a longer body never takes fewer segments than its beginning.
//!
//! Input: the body (bytes that are not UTF-8 are replaced).
#![no_main]

use herald::domain::segments::{self, Encoding, SegmentCount};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let count = check(&body);

    // Every prefix (at a character boundary) takes at most as many segments.
    let boundaries: Vec<usize> = body.char_indices().map(|(i, _)| i).collect();
    if let Some(&cut) =
        boundaries.get(usize::from(data.first().copied().unwrap_or(0)) % (boundaries.len() + 1))
    {
        let prefix = check(&body[..cut]);
        assert!(
            prefix.segments <= count.segments,
            "{:?} of {body:?}",
            &body[..cut]
        );
    }
    // Appending a character never lowers the count either.
    for extra in ['a', '€', 'é', '😀', '\u{301}', '\u{200D}', '🇬'] {
        let longer = check(&format!("{body}{extra}"));
        assert!(longer.segments >= count.segments, "{body:?} + {extra:?}");
    }
});

fn check(body: &str) -> SegmentCount {
    let count = segments::count(body);
    let gsm = body.chars().all(segments::is_gsm7);
    assert_eq!(count.encoding == Encoding::Gsm7, gsm, "{body:?}");
    let units: usize = match count.encoding {
        Encoding::Gsm7 => body
            .chars()
            .map(|c| if is_extension(c) { 2 } else { 1 })
            .sum(),
        Encoding::Ucs2 => body.encode_utf16().count(),
    };
    assert_eq!(count.units as usize, units, "{body:?}");

    let single = count.encoding.single_segment_units();
    let per = count.encoding.concatenated_segment_units();
    assert!(count.segments >= 1);
    if count.units <= single {
        assert_eq!(count.segments, 1, "{body:?}");
    } else {
        // Never fewer than the units need; never more than one item moved per segment allows:
        // two neighbouring segments always hold more than one segment's worth.
        let least = count.units.div_ceil(per);
        assert!(count.segments >= least, "{body:?}: {count:?}");
        let most = match count.encoding {
            // An escape pair is the largest item: each full segment holds at least 152.
            Encoding::Gsm7 => count.units.div_ceil(per - 1),
            Encoding::Ucs2 => 2 * least + 1,
        };
        assert!(count.segments <= most, "{body:?}: {count:?}");
    }
    count
}

/// GSM 03.38 extension table: ESC + character, two septets.
fn is_extension(c: char) -> bool {
    matches!(
        c,
        '\u{0C}' | '[' | '\\' | ']' | '^' | '{' | '|' | '}' | '~' | '€'
    )
}
