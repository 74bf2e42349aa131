//! Paging of lists: page sizes, numeric cursors, and the read-one-more-row rule that tells
//! whether another page follows (so no list needs a count).

use super::{ServiceError, ServiceResult};

/// Checks a page size against its bounds; `default` when none was asked for.
pub(super) fn page_size(
    field: &str,
    raw: Option<u32>,
    default: u32,
    max: u32,
) -> ServiceResult<u32> {
    match raw {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ServiceError::invalid(
            field,
            format!("must be between 1 and {max}"),
        )),
    }
}

/// Reads a numeric paging cursor this API handed out.
pub(super) fn parse_cursor(field: &str, raw: Option<&str>) -> ServiceResult<Option<i64>> {
    raw.map(|c| {
        c.parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ServiceError::invalid(field, "is not a cursor this API returned"))
    })
    .transpose()
}

/// How many rows to read for a page of `limit`: one more, whose presence says a next page
/// exists (see [`Page::from_rows`]).
pub(super) fn rows_to_read(limit: u32) -> u32 {
    limit + 1
}

/// One page of a list, and the cursor of the next page when there is one.
#[derive(Debug)]
pub(super) struct Page<T> {
    /// At most `limit` rows.
    pub rows: Vec<T>,
    /// The cursor that continues after the last row, when more rows follow.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page of `rows` read with [`rows_to_read`]`(limit)`: an extra row is dropped and
    /// means a next page, whose cursor `cursor_of` makes from the page's last row.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, cursor_of: impl FnOnce(&T) -> String) -> Self {
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(cursor_of)
        } else {
            None
        };
        Self { rows, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extra_row_means_a_next_page() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(page.rows, [1, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let page = Page::from_rows(vec![1, 2], 2, |n| n.to_string());
        assert_eq!(page.rows, [1, 2]);
        assert_eq!(page.next_cursor, None);
        assert_eq!(rows_to_read(2), 3);
    }

    #[test]
    fn sizes_and_cursors_are_checked() {
        assert_eq!(page_size("limit", None, 50, 500).unwrap(), 50);
        assert!(page_size("limit", Some(0), 50, 500).is_err());
        assert!(page_size("limit", Some(501), 50, 500).is_err());
        assert_eq!(parse_cursor("cursor", Some("7")).unwrap(), Some(7));
        assert!(parse_cursor("cursor", Some("-1")).is_err());
        assert!(parse_cursor("cursor", Some("x")).is_err());
    }
}
