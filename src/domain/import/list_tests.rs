//! Unit tests of lists of numbers: mixed separators, several numbers per row, spaces inside numbers.

use super::*;

fn phones(import: &Import) -> Vec<&str> {
    import.recipients.iter().map(|r| r.phone.as_str()).collect()
}

fn errors(import: &Import) -> Vec<(usize, &str)> {
    import
        .errors
        .iter()
        .map(|e| (e.line, e.value.as_str()))
        .collect()
}

#[test]
fn mixed_separators_within_and_across_lines_lose_nothing() {
    let import = parse_paste(
        "+447111000501,+447111000502\t+447111000503\n+447111000504 +447111000505",
        None,
    );
    assert_eq!(
        phones(&import),
        [
            "+447111000501",
            "+447111000502",
            "+447111000503",
            "+447111000504",
            "+447111000505"
        ]
    );
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    assert!(import.variables.is_empty(), "no phantom {{col2}}");
    let lines: Vec<usize> = import.recipients.iter().map(|r| r.line).collect();
    assert_eq!(lines, [1, 1, 1, 2, 2]);

    let import = parse_paste(
        "+447723456789;+14155552671, +8613800138000\n\n+447723456780\t+447723456781",
        None,
    );
    assert_eq!(import.recipients.len(), 5);
    assert!(import.variables.is_empty());
}

#[test]
fn several_numbers_per_row_each_one_counted_bad_ones_reported() {
    // A bad entry among good ones is an error line, not a variable, and not lost.
    let import = parse_paste(
        "+447723456789, +4477, +14155552671\n+447723456780\t+44 7700 900123",
        None,
    );
    assert_eq!(
        phones(&import),
        ["+447723456789", "+14155552671", "+447723456780"]
    );
    assert_eq!(errors(&import), [(1, "+4477"), (2, "+44 7700 900123")]);
    assert!(import.variables.is_empty());

    // In a CSV too: a row of numbers with no other columns yields each number.
    let import = parse_csv(b"+447723456789,+14155552671\n+447723456780\n", None).unwrap();
    assert_eq!(
        phones(&import),
        ["+447723456789", "+14155552671", "+447723456780"]
    );
    assert!(import.variables.is_empty());
    // Under a header naming only the phone column, extra unnamed cells are numbers too.
    let import = parse_csv(b"phone\n+447723456789,+14155552671\n", None).unwrap();
    assert_eq!(phones(&import), ["+447723456789", "+14155552671"]);
    assert!(import.variables.is_empty());
}

#[test]
fn numbers_with_spaces_inside() {
    // One number written in groups is one number.
    let import = parse_paste("+44 7723 456789", None);
    assert_eq!(phones(&import), ["+447723456789"]);
    // International numbers with spaces inside, separated by spaces: cut before each `+`.
    let import = parse_paste("+44 7723 456789 +1 415 555 2671 +44 7723 456780", None);
    assert_eq!(
        phones(&import),
        ["+447723456789", "+14155552671", "+447723456780"]
    );
    // A bad one among them is reported, the good ones kept.
    let import = parse_paste("+44 7723 456789 +44 7723", None);
    assert_eq!(phones(&import), ["+447723456789"]);
    assert_eq!(errors(&import), [(1, "+44 7723")]);
    // National numbers with spaces inside: the one way to group them into valid numbers.
    let import = parse_paste("07723 456789 07723 456780", Some("GB"));
    assert_eq!(phones(&import), ["+447723456789", "+447723456780"]);
    let import = parse_paste("+44 7723 456789 07723 456780", Some("GB"));
    assert_eq!(phones(&import), ["+447723456789", "+447723456780"]);
    // No valid grouping: the whole entry is one error line, echoed as written.
    let import = parse_paste("0772 3456 0772", Some("GB"));
    assert!(import.recipients.is_empty());
    assert_eq!(errors(&import), [(1, "0772 3456 0772")]);
    // Whole numbers separated by spaces, one of them bad: each stands alone.
    let import = parse_paste("+447723456789 447723456780 07723456781", None);
    assert_eq!(phones(&import), ["+447723456789"]);
    assert_eq!(errors(&import), [(1, "447723456780"), (1, "07723456781")]);
    assert!(import.errors[0].reason.contains("+447723456780"));
    // A long list of national numbers on one line with one bad entry keeps the others.
    let mut line = "07723 456789 ".repeat(50);
    line.push_str("0772");
    let import = parse_paste(&line, Some("GB"));
    assert_eq!(import.recipients.len(), 50);
    assert_eq!(errors(&import), [(1, "0772")]);
    let import = parse_paste("07723 456789 0772 07723 456780", Some("GB"));
    assert_eq!(phones(&import), ["+447723456789", "+447723456780"]);
    assert_eq!(errors(&import), [(1, "0772")]);
}

#[test]
fn tables_with_variables_are_unchanged() {
    // Header-less rows with names: the phone column and `colN` variables, as before.
    let import = parse_paste("+447723456789, Alice, 12.50\n+14155552671, Bob, 3\n", None);
    assert_eq!(phones(&import), ["+447723456789", "+14155552671"]);
    assert_eq!(import.variables, ["col2", "col3"]);
    // A named second phone column stays a variable.
    let import = parse_csv(b"phone,backup phone\n+447723456789,+14155552671\n", None).unwrap();
    assert_eq!(phones(&import), ["+447723456789"]);
    assert_eq!(import.variables, ["backup_phone"]);
    // An id column of bare digits is no phone.
    let import = parse_paste("+447723456789\t12345678\n+14155552671\t12345679\n", None);
    assert_eq!(import.variables, ["col2"]);
    assert_eq!(import.recipients.len(), 2);
}

#[test]
fn numbers_read_in_the_default_country_keep_what_was_written() {
    let import = parse_paste(
        "07723 456789, 7723456780\n447723456781\t+447723456782\n00447723456783\n07723 456784 07723 456785",
        Some("GB"),
    );
    let got: Vec<(&str, Option<&str>)> = import
        .recipients
        .iter()
        .map(|r| (r.phone.as_str(), r.converted_from.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("+447723456789", Some("07723 456789")),
            ("+447723456780", Some("7723456780")),
            ("+447723456781", Some("447723456781")),
            ("+447723456782", None),
            ("+447723456783", None),
            ("+447723456784", Some("07723 456784")),
            ("+447723456785", Some("07723 456785")),
        ]
    );
    let import = parse_csv(b"phone,name\n07723456789,Zo\xC3\xAB\n", Some("GB")).unwrap();
    assert_eq!(
        import.recipients[0].converted_from.as_deref(),
        Some("07723456789")
    );
}
