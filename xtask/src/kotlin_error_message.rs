//! Makes `FerryException.message` the error's sentence in the generated Kotlin.
//!
//! UniFFI 0.32 gives every case of a non-flat error an `override val message` built from
//! its fields (`"path=/x, description=..."`), and a field may not be named `message`
//! itself (it would clash with `Throwable.message`: uniffi-rs issues #1434, #2065). Each
//! case of `FerryError` carries `description`, the whole sentence; this rewrites each
//! case's `message` getter of `FerryException` to return it. It touches nothing else and
//! fails loudly when the generated code no longer has the shape it expects.

use anyhow::{Result, bail};

const CLASS: &str = "sealed class FerryException";
const GETTER: &str = "override val message\n            get() = \"";
const PATCHED: &str = "override val message: String\n            get() = `description`";

/// `source` with every case of `FerryException` answering `message` with its description.
pub fn patch(source: &str) -> Result<String> {
    let Some(start) = source.find(CLASS) else {
        bail!("the generated Kotlin has no `{CLASS}`: check bindings/src/error.rs");
    };
    let end = source[start..]
        .find("\n}\n")
        .map_or(source.len(), |offset| start + offset);
    let (head, rest) = source.split_at(start);
    let (class, tail) = rest.split_at(end - start);
    let mut patched = String::with_capacity(source.len());
    let mut cases = 0;
    let mut remaining = class;
    while let Some(at) = remaining.find(GETTER) {
        let after = &remaining[at + GETTER.len()..];
        let Some(close) = after.find("\"\n") else {
            bail!("a `message` getter of {CLASS} does not end on its line");
        };
        if !after[..close].contains("description=") {
            bail!("a case of {CLASS} has no `description` field: every FerryError case needs one");
        }
        patched.push_str(&remaining[..at]);
        patched.push_str(PATCHED);
        remaining = &after[close + 1..];
        cases += 1;
    }
    if cases == 0 {
        bail!("{CLASS} has no `message` getter to patch: UniFFI's Kotlin error template changed");
    }
    patched.push_str(remaining);
    Ok(format!("{head}{patched}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENERATED: &str = "sealed class FerryException: kotlin.Exception() {
    class SourceMissing(
        val `path`: kotlin.String,
        val `description`: kotlin.String
        ) : FerryException() {
        override val message
            get() = \"path=${ `path` }, description=${ `description` }\"
    }
    class Closed(
        val `description`: kotlin.String
        ) : FerryException() {
        override val message
            get() = \"description=${ `description` }\"
    }
}
sealed class PlatformException: kotlin.Exception() {
        override val message
            get() = \"reason=${ `reason` }\"
}
";

    #[test]
    fn every_case_of_ferry_exception_answers_its_description_and_nothing_else_changes() {
        let patched = patch(GENERATED).unwrap();
        assert_eq!(patched.matches(PATCHED).count(), 2);
        assert!(!patched.contains("get() = \"path="));
        assert!(patched.contains("get() = \"reason=${ `reason` }\""));
    }

    #[test]
    fn a_case_without_description_or_an_unknown_shape_is_refused() {
        let without = GENERATED.replace("description=", "text=");
        assert!(patch(&without).is_err());
        assert!(patch("class Other").is_err());
    }
}
