//! `push --group NAME` and `--meta KEY=VALUE`: the app data a push gives every upload it
//! enqueues, parsed and checked before anything runs.
//!
//! What it is for: turning the arguments into the metadata map and group `ferry::Upload`
//! carries, and refusing a malformed or out-of-bounds one once, as a usage error, instead
//! of once per file at enqueue.
//!
//! What it must never do: send any of it (metadata and groups are stored, never sent).

use std::collections::BTreeMap;

use ferry::{Download, Upload};

use crate::error::CliError;

/// What every upload of one push carries besides its file and destination.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppData {
    pub metadata: BTreeMap<String, String>,
    pub group: Option<String>,
}

impl AppData {
    /// Parses `--meta` arguments (`KEY=VALUE`, the first `=` splits; a key given twice
    /// keeps the last value) and `--group`, and checks them against the engine's bounds.
    pub fn parse(meta: &[String], group: Option<String>) -> Result<Self, CliError> {
        let mut metadata = BTreeMap::new();
        for text in meta {
            let Some((key, value)) = text.split_once('=') else {
                return Err(CliError::usage(format!(
                    "--meta {text:?} has no '='; write it as --meta KEY=VALUE"
                )));
            };
            metadata.insert(key.to_owned(), value.to_owned());
        }
        let data = Self { metadata, group };
        data.apply(Upload::put("", ""))
            .check_app_data()
            .map_err(|error| CliError::usage(format!("--meta/--group: {error}")))?;
        Ok(data)
    }

    /// `upload` with this metadata and group.
    pub fn apply(&self, mut upload: Upload) -> Upload {
        upload.metadata.clone_from(&self.metadata);
        upload.group.clone_from(&self.group);
        upload
    }

    /// `download` with this metadata and group.
    pub fn apply_download(&self, mut download: Download) -> Download {
        download.metadata.clone_from(&self.metadata);
        download.group.clone_from(&self.group);
        download
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_split_at_the_first_equals_sign_and_the_last_repeat_wins() {
        let meta = [
            "album=7".to_owned(),
            "note=a=b".to_owned(),
            "album=8".to_owned(),
        ];
        let data = AppData::parse(&meta, Some("trip".into())).expect("valid");
        assert_eq!(data.metadata["album"], "8");
        assert_eq!(data.metadata["note"], "a=b");
        let upload = data.apply(Upload::put("/f", "http://h/f"));
        assert_eq!(upload.group.as_deref(), Some("trip"));
        assert_eq!(upload.metadata.len(), 2);
    }

    #[test]
    fn malformed_or_out_of_bounds_data_is_a_usage_error_naming_the_flags() {
        for (meta, group) in [
            (vec!["no-equals".to_owned()], None),
            (vec!["=value".to_owned()], None),
            (Vec::new(), Some(String::new())),
            (Vec::new(), Some("g".repeat(ferry::MAX_GROUP_BYTES + 1))),
        ] {
            let error = AppData::parse(&meta, group).expect_err("refused");
            assert!(matches!(error, CliError::Usage(_)), "{error}");
            assert!(error.to_string().contains("--meta"), "{error}");
        }
    }
}
