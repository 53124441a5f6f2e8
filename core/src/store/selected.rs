//! The conditions a [`crate::Selection`]'s destination prefix and group add to a query
//! over `transfers`: one copy for the bulk calls (`bulk.rs`) and for listing
//! (`transfers.rs`).
//!
//! What it must never do: put the app's text into SQL. The prefix and the group are bound
//! parameters; the prefix is compared with `substr`, never as a `LIKE` pattern, so `%` and
//! `_` in it are plain characters.

use rusqlite::types::Value;

/// Appends ` AND ...` for a destination prefix and a group (none for `None`), with their
/// parameters in order, to a clause whose parameters are anonymous (`?`). A group is
/// compared with `=`, so the partial `transfers_by_group` index serves it.
pub(super) fn push_prefix_and_group(
    sql: &mut String,
    values: &mut Vec<Value>,
    destination_prefix: Option<&str>,
    group: Option<&str>,
) {
    if let Some(prefix) = destination_prefix {
        sql.push_str(" AND substr(destination, 1, length(?)) = ?");
        values.push(Value::Text(prefix.to_owned()));
        values.push(Value::Text(prefix.to_owned()));
    }
    if let Some(group) = group {
        sql.push_str(" AND group_name = ?");
        values.push(Value::Text(group.to_owned()));
    }
}
