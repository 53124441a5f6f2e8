//! `Upload-Limit` (IETF draft) and `Tus-Max-Size` (tus): what a server accepts.
//!
//! Pure parsing: no I/O. An unparsable member is ignored, never fatal, so a server that
//! adds new limit keys does not break uploads.

/// Limits a server announced. `None` means "not announced".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UploadLimits {
    pub max_size: Option<u64>,
    pub max_append_size: Option<u64>,
}

impl UploadLimits {
    /// Reads `Upload-Limit: max-size=100, max-append-size=10` (a structured-field
    /// dictionary of integers), and tus' `Tus-Max-Size`.
    pub(crate) fn from_headers(headers: &reqwest::header::HeaderMap) -> Self {
        let mut limits = Self::default();
        for value in headers.get_all("upload-limit") {
            let Ok(text) = value.to_str() else { continue };
            for member in text.split(',') {
                let Some((key, number)) = member.trim().split_once('=') else {
                    continue;
                };
                let Ok(number) = number.trim().parse::<u64>() else {
                    continue;
                };
                match key.trim() {
                    "max-size" => limits.max_size = Some(number),
                    "max-append-size" => limits.max_append_size = Some(number),
                    _ => {}
                }
            }
        }
        if let Some(max) = headers
            .get("tus-max-size")
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse().ok())
        {
            limits.max_size = Some(max);
        }
        limits
    }

    /// Newer announcements win; what they leave out stays known.
    pub(crate) fn merge(&mut self, newer: Self) {
        self.max_size = newer.max_size.or(self.max_size);
        self.max_append_size = newer.max_append_size.or(self.max_append_size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn reads_the_dictionary_and_ignores_what_it_does_not_know() {
        let limits = UploadLimits::from_headers(&headers(&[(
            "upload-limit",
            "min-size=0, max-size=1000,max-append-size=64, max-age=3600, max-size=x",
        )]));
        assert_eq!(limits.max_size, Some(1000));
        assert_eq!(limits.max_append_size, Some(64));
        assert_eq!(
            UploadLimits::from_headers(&headers(&[("tus-max-size", "77")])).max_size,
            Some(77)
        );
        assert_eq!(
            UploadLimits::from_headers(&HeaderMap::new()),
            UploadLimits::default()
        );
    }

    #[test]
    fn merge_keeps_what_newer_leaves_out() {
        let mut known = UploadLimits {
            max_size: Some(10),
            max_append_size: Some(5),
        };
        known.merge(UploadLimits {
            max_size: Some(20),
            max_append_size: None,
        });
        assert_eq!(known.max_size, Some(20));
        assert_eq!(known.max_append_size, Some(5));
    }
}
