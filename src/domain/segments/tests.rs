//! Unit tests of segment counting: GSM-7 and UCS-2 bodies measured the way Twilio bills them.

use super::*;
use serde_json::Value;

const ORACLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/twilio-segment-cases.json"
);

/// Grapheme clusters as this module sees them: the calculator's `numberOfCharacters` for UCS-2.
fn clusters(body: &str) -> u64 {
    let mut chars = body.chars().peekable();
    let mut n = 0;
    while next_cluster_units(&mut chars).is_some() {
        n += 1;
    }
    n
}

/// Item sizes in bits, as the calculator's `EncodedChar::sizeInBits` would give them.
fn item_bits(body: &str) -> Vec<i64> {
    match count(body).encoding {
        Encoding::Gsm7 => body
            .chars()
            .map(|c| i64::from(gsm7_septets(c)) * 7)
            .collect(),
        Encoding::Ucs2 => {
            let mut chars = body.chars().peekable();
            std::iter::from_fn(|| next_cluster_units(&mut chars))
                .map(|units| i64::from(units) * 16)
                .collect()
        }
    }
}

/// A literal transcription of the calculator's `_buildSegments` / `Segment.addHeader`
/// (1,120 bits per segment, a 48-bit header added to every segment once there are two), used
/// to check that the streaming packer gives the same answer.
fn calculator_segments(items: &[i64]) -> u32 {
    const MAX_BITS: i64 = 1120;
    const UDH_BITS: i64 = 48;
    struct Seg {
        udh: bool,
        items: Vec<i64>,
    }
    fn size(s: &Seg) -> i64 {
        s.items.iter().sum::<i64>() + if s.udh { UDH_BITS } else { 0 }
    }
    let mut segs = vec![Seg {
        udh: false,
        items: Vec::new(),
    }];
    for &item in items {
        if MAX_BITS - size(segs.last().unwrap()) < item {
            segs.push(Seg {
                udh: true,
                items: Vec::new(),
            });
            let n = segs.len();
            if !segs[n - 2].udh {
                segs[n - 2].udh = true;
                let mut removed = Vec::new();
                while MAX_BITS - size(&segs[n - 2]) < 0 {
                    removed.insert(0, segs[n - 2].items.pop().unwrap());
                }
                segs[n - 1].items.extend(removed);
            }
        }
        segs.last_mut().unwrap().items.push(item);
    }
    u32::try_from(segs.len()).unwrap()
}

#[test]
fn twilio_calculator_oracle() {
    let text = std::fs::read_to_string(ORACLE).expect("read oracle");
    let oracle: Value = serde_json::from_str(&text).expect("parse oracle");
    let cases = oracle["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 51);
    let mut failures = Vec::new();
    for case in cases {
        let description = case["description"].as_str().unwrap();
        let body = case["body"].as_str().unwrap();
        let expected = &case["expected"];
        let got = count(body);
        if let Some(encoding) = expected["encoding"].as_str()
            && encoding != got.encoding.as_str()
        {
            failures.push(format!("{description}: encoding {encoding} got {got:?}"));
        }
        let mut check = |field: &str, want: &Value, have: u64| {
            if want.as_u64() != Some(have) {
                failures.push(format!("{description}: {field} want {want} got {have}"));
            }
        };
        if !expected["segments"].is_null() {
            check("segments", &expected["segments"], u64::from(got.segments));
        }
        let bits = match got.encoding {
            Encoding::Gsm7 => 7,
            Encoding::Ucs2 => 16,
        };
        let message_bits = u64::from(got.units) * bits;
        if !expected["messageSize"].is_null() {
            check("messageSize", &expected["messageSize"], message_bits);
        }
        if !expected["totalSize"].is_null() {
            let udh = if got.segments > 1 {
                48 * u64::from(got.segments)
            } else {
                0
            };
            check("totalSize", &expected["totalSize"], message_bits + udh);
        }
        if !expected["characters"].is_null() {
            let characters = match got.encoding {
                Encoding::Gsm7 => u64::from(got.units),
                Encoding::Ucs2 => clusters(body),
            };
            check("characters", &expected["characters"], characters);
        }
        if !expected["unicodeScalars"].is_null() {
            let scalars = body.chars().count() as u64;
            check("unicodeScalars", &expected["unicodeScalars"], scalars);
        }
        let transcribed = calculator_segments(&item_bits(body));
        if transcribed != got.segments {
            failures.push(format!("{description}: transcription gives {transcribed}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn gsm(segments: u32, units: u32) -> SegmentCount {
    SegmentCount {
        encoding: Encoding::Gsm7,
        segments,
        units,
    }
}

fn ucs2(segments: u32, units: u32) -> SegmentCount {
    SegmentCount {
        encoding: Encoding::Ucs2,
        segments,
        units,
    }
}

#[test]
fn gsm7_limits() {
    assert_eq!(count(&"a".repeat(160)), gsm(1, 160));
    assert_eq!(count(&"a".repeat(161)), gsm(2, 161));
    assert_eq!(count(&"a".repeat(306)), gsm(2, 306));
    assert_eq!(count(&"a".repeat(307)), gsm(3, 307));
}

#[test]
fn extension_characters_cost_two_septets() {
    assert_eq!(count(&"[".repeat(80)), gsm(1, 160));
    assert_eq!(count(&"[".repeat(81)), gsm(2, 162));
    assert_eq!(count(&"€".repeat(80)), gsm(1, 160));
    assert_eq!(count("\u{0C}"), gsm(1, 2));
}

#[test]
fn escape_pair_at_the_153_boundary_moves_to_the_next_segment() {
    // 152 + 2 would be 154 septets in segment 1: the pair goes whole to segment 2, which then
    // has 2 + 152 = 154 septets, so one more character spills into a third segment.
    let body = format!("{}[{}", "a".repeat(152), "a".repeat(152));
    assert_eq!(count(&body), gsm(3, 306));
    // Naively 306 septets fit in two 153-septet segments.
    let body = "a".repeat(306);
    assert_eq!(count(&body), gsm(2, 306));
    // With 151 after the pair segment 2 is exactly full.
    let body = format!("{}[{}", "a".repeat(152), "a".repeat(151));
    assert_eq!(count(&body), gsm(2, 305));
}

#[test]
fn ucs2_limits() {
    assert_eq!(count(&"á".repeat(70)), ucs2(1, 70));
    assert_eq!(count(&"á".repeat(71)), ucs2(2, 71));
    assert_eq!(count(&"á".repeat(134)), ucs2(2, 134));
    assert_eq!(count(&"á".repeat(135)), ucs2(3, 135));
    // Emoji are two UTF-16 units: 35 fit in one segment, 36 do not.
    assert_eq!(count(&"😀".repeat(35)), ucs2(1, 70));
    assert_eq!(count(&"😀".repeat(36)), ucs2(2, 72));
}

#[test]
fn one_non_gsm_character_switches_the_whole_body() {
    // Twilio's example: 152 GSM characters plus 1 Unicode character = 3 segments.
    assert_eq!(count(&format!("{}ç", "a".repeat(152))), ucs2(3, 153));
    assert_eq!(count(&format!("{}😀", "a".repeat(152))), ucs2(3, 154));
    // The extension characters cost 1 unit, not 2, once the body is UCS-2.
    assert_eq!(count(&format!("ç{}", "[".repeat(69))), ucs2(1, 70));
    assert_eq!(count("hello`"), ucs2(1, 6));
}

#[test]
fn emoji_at_the_67_boundary_moves_whole_to_the_next_segment() {
    // 66 + 2 would be 68 units in segment 1, so the emoji starts segment 2 (2 + 65 = 67) and
    // the last character needs a third segment.
    let body = format!("{}😀{}", "á".repeat(66), "á".repeat(66));
    assert_eq!(count(&body), ucs2(3, 134));
    let body = format!("{}😀{}", "á".repeat(66), "á".repeat(65));
    assert_eq!(count(&body), ucs2(2, 133));
}

#[test]
fn grapheme_clusters_are_not_split() {
    // ❤️ is U+2764 U+FE0F: two BMP characters, one cluster.
    let body = format!("{}❤️{}", "á".repeat(66), "á".repeat(66));
    assert_eq!(count(&body), ucs2(3, 134));
    // A Devanagari consonant with its vowel sign.
    let body = format!("{}कि{}", "क".repeat(66), "क".repeat(66));
    assert_eq!(count(&body), ucs2(3, 134));
    // A flag (two regional indicators, 4 units) that would straddle the boundary.
    let body = format!("{}🇮🇹{}", "á".repeat(65), "á".repeat(64));
    assert_eq!(count(&body), ucs2(3, 133));
    assert_eq!(clusters("🇮🇹🇬🇧🇫"), 3);
    assert_eq!(clusters("👨‍👩‍👧"), 1);
    assert_eq!(clusters("👍🏽"), 1);
    assert_eq!(clusters("1️⃣"), 1);
    assert_eq!(clusters("🏳️‍🌈"), 1);
    assert_eq!(clusters("e\u{301}\u{301}\u{301}"), 1);
    // A ZWJ after a letter stays with the letter; the emoji after it is its own cluster.
    assert_eq!(clusters("a\u{200D}😀"), 2);
    // CR LF are two characters, as in the calculator; a mark after a control stands alone.
    assert_eq!(clusters("\r\n"), 2);
    assert_eq!(clusters("\n\u{301}"), 2);
}

#[test]
fn oversized_clusters_are_cut_at_segment_size() {
    let zalgo = format!("e{}", "\u{301}".repeat(200));
    assert_eq!(count(&zalgo), ucs2(3, 201));
    let zalgo = format!("e{}", "\u{301}".repeat(201));
    assert_eq!(count(&zalgo), ucs2(4, 202));
}

#[test]
fn empty_body_is_one_gsm7_segment() {
    assert_eq!(count(""), gsm(1, 0));
}

#[test]
fn gsm7_alphabet() {
    let mut basic = 0;
    let mut extension = 0;
    for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
        match gsm7_septets(c) {
            0 => assert!(!is_gsm7(c)),
            1 => basic += 1,
            2 => extension += 1,
            other => panic!("{c:?} costs {other}"),
        }
    }
    // 128 basic positions minus ESC; 9 extension characters plus form feed.
    assert_eq!(basic, 127);
    assert_eq!(extension, 10);
    for c in "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà".chars()
    {
        assert_eq!(gsm7_septets(c), 1, "{c:?}");
    }
    for c in "çáíóúâê`\u{1B}\t".chars() {
        assert!(!is_gsm7(c), "{c:?}");
    }
}

#[test]
fn encoding_names() {
    assert_eq!(Encoding::Gsm7.as_str(), "GSM-7");
    assert_eq!(Encoding::Ucs2.to_string(), "UCS-2");
    assert_eq!(serde_json::to_string(&Encoding::Gsm7).unwrap(), "\"GSM-7\"");
    let back: Encoding = serde_json::from_str("\"UCS-2\"").unwrap();
    assert_eq!(back, Encoding::Ucs2);
    assert_eq!(Encoding::Gsm7.single_segment_units(), 160);
    assert_eq!(Encoding::Ucs2.concatenated_segment_units(), 67);
}

#[test]
fn extend_table_is_sorted_and_disjoint() {
    assert!(EXTEND.iter().all(|&(lo, hi)| lo <= hi));
    assert!(EXTEND.windows(2).all(|w| w[0].1 < w[1].0));
}

/// Deterministic pseudo-random bodies mixing every kind of character the counter treats
/// specially: no panic, units add up, and the streaming packer agrees with the transcription
/// of the calculator.
#[test]
fn random_bodies_agree_with_the_calculator() {
    const PIECES: &[&str] = &[
        "a",
        " ",
        "é",
        "[",
        "€",
        "\u{C}",
        "\r\n",
        "ç",
        "😀",
        "🇮",
        "\u{200D}",
        "\u{FE0F}",
        "\u{301}",
        "कि",
        "👍🏽",
        "\u{1B}",
        "\u{0}",
        "\u{FFFF}",
        "\u{10FFFF}",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    for _ in 0..3_000 {
        let len = next() % 400;
        // Mostly GSM, sometimes everything: both encodings get exercised near the limits.
        let spread = if next() % 2 == 0 { 6 } else { PIECES.len() };
        let body: String = (0..len).map(|_| PIECES[next() % spread]).collect();
        let got = count(&body);
        assert!(got.segments >= 1);
        match got.encoding {
            Encoding::Gsm7 => {
                let septets: u32 = body.chars().map(gsm7_septets).sum();
                assert_eq!(got.units, septets, "{body:?}");
            }
            Encoding::Ucs2 => {
                assert!(body.chars().any(|c| !is_gsm7(c)));
                assert_eq!(got.units as usize, body.encode_utf16().count(), "{body:?}");
            }
        }
        assert_eq!(
            got.segments,
            calculator_segments(&item_bits(&body)),
            "{body:?}"
        );
    }
}
