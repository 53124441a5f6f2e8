//! Redirects of a download: which answers send it elsewhere, where to, and which headers
//! may go along.
//!
//! The client follows no redirect on its own (`client.rs`: uploads never follow one); a
//! download follows at most [`MAX_REDIRECTS`] hops within one attempt, and every attempt
//! starts again from the URL it was given (the stored one, or the authorizer's answer),
//! so a redirect target that expires is asked for anew. A hop to another origin (scheme,
//! host or port) carries none of the secrets: `Authorization`, `Proxy-Authorization`,
//! cookies, the app's sensitive headers and every header the authorizer supplied.
//!
//! Pure: this module must never send, log or keep anything it is given.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};
use url::Url;

use crate::auth::is_sensitive_header;

/// Hops one attempt follows before it gives up (browsers allow 20, curl 50; a file
/// behind more than a few is misconfigured).
pub(super) const MAX_REDIRECTS: usize = 10;

/// Where an answer redirects to: `None` if it is no redirect, an error text if it is one
/// that cannot be followed.
pub(super) fn target(
    from: &Url,
    status: StatusCode,
    headers: &HeaderMap,
) -> Option<Result<Url, String>> {
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let Some(location) = headers.get(LOCATION) else {
        return Some(Err(format!(
            "the server answered {} without a Location to follow",
            status.as_u16()
        )));
    };
    let next = location
        .to_str()
        .ok()
        .and_then(|location| from.join(location).ok());
    Some(match next {
        Some(next) if matches!(next.scheme(), "http" | "https") => Ok(next),
        Some(next) => Err(format!(
            "the server redirected to a {} URL, which Ferry does not fetch",
            next.scheme()
        )),
        None => Err(format!(
            "the server answered {} with a Location that is not a URL",
            status.as_u16()
        )),
    })
}

/// The headers that go to `to` when the attempt started at `origin`: all of them on the
/// same origin; elsewhere, none of the secrets.
pub(super) fn headers_for<'a>(
    origin: &Url,
    to: &Url,
    headers: &'a [(String, String)],
    authorizer_headers: &[String],
    sensitive_headers: &[String],
) -> Vec<&'a (String, String)> {
    let same_origin = origin.origin() == to.origin();
    headers
        .iter()
        .filter(|(name, _)| {
            same_origin
                || !(is_sensitive_header(name, sensitive_headers)
                    || authorizer_headers
                        .iter()
                        .any(|supplied| supplied.eq_ignore_ascii_case(name)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn located(location: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_str(location).unwrap());
        headers
    }

    #[test]
    fn only_the_five_redirect_statuses_redirect() {
        let from = url("https://a.example/files/x");
        for code in [301, 302, 303, 307, 308] {
            let status = StatusCode::from_u16(code).unwrap();
            let next = target(&from, status, &located("/y")).unwrap().unwrap();
            assert_eq!(next.as_str(), "https://a.example/y", "{code}");
        }
        for code in [200, 206, 300, 304, 305, 404] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(target(&from, status, &located("/y")).is_none(), "{code}");
        }
    }

    #[test]
    fn a_relative_location_is_resolved_against_the_current_url() {
        let from = url("http://a.example/dir/x?sig=1");
        let next = target(&from, StatusCode::FOUND, &located("y?sig=2"))
            .unwrap()
            .unwrap();
        assert_eq!(next.as_str(), "http://a.example/dir/y?sig=2");
    }

    #[test]
    fn a_missing_or_foreign_location_is_an_error_that_says_why() {
        let from = url("http://a.example/x");
        let missing = target(&from, StatusCode::FOUND, &HeaderMap::new()).unwrap();
        assert!(missing.unwrap_err().contains("without a Location"));
        let file = target(&from, StatusCode::FOUND, &located("file:///etc/passwd")).unwrap();
        assert!(file.unwrap_err().contains("file URL"));
    }

    #[test]
    fn secrets_stay_on_their_origin() {
        let headers = vec![
            ("Authorization".to_owned(), "Bearer t".to_owned()),
            ("cookie".to_owned(), "c=1".to_owned()),
            ("X-Api-Key".to_owned(), "k".to_owned()),
            ("X-Signed-By".to_owned(), "authorizer".to_owned()),
            ("X-App".to_owned(), "1".to_owned()),
        ];
        let authorizer = vec!["x-signed-by".to_owned()];
        let sensitive = vec!["X-API-KEY".to_owned()];
        let origin = url("https://a.example/x");
        let names = |to: &str| -> Vec<String> {
            headers_for(&origin, &url(to), &headers, &authorizer, &sensitive)
                .into_iter()
                .map(|(name, _)| name.clone())
                .collect()
        };
        assert_eq!(names("https://a.example/elsewhere").len(), 5);
        for foreign in [
            "https://b.example/x",
            "http://a.example/x",
            "https://a.example:8443/x",
        ] {
            assert_eq!(names(foreign), vec!["X-App".to_owned()], "{foreign}");
        }
    }
}
