//! A user name and password in BASE_URL (`https://user:pass@host/up/`), taken out of the
//! URL before anything is planned and sent from memory as `Authorization: Basic`.
//!
//! What it is for: a destination is stored, and is its transfer's identity in the store,
//! and a password must never be stored. So every destination is built from BASE_URL
//! without its user information (a rerun with the same BASE_URL finds the same transfers,
//! also with a corrected password), and the credentials live only in
//! [`BasicCredentials`], a request authorizer that adds them to requests to BASE_URL's
//! origin (scheme, host and port), as curl does. The query stays in the URL: a presigned
//! URL does not work without its signature, so it is stored (never shown).
//!
//! What it must never do: store, print or log the user name or password, put either in an
//! error, or send them to another origin (the queue may hold an earlier run's transfers to
//! other hosts, and `push` drains the whole queue).

use base64::Engine as _;
use ferry::{AuthReason, Authorization, AuthorizerError, RequestAuthorizer, RequestInfo};
use percent_encoding::percent_decode_str;
use url::{Origin, Url};

use crate::destination::BaseUrl;
use crate::error::CliError;

/// BASE_URL's user name and password, as the `Authorization` value that carries them, and
/// the one origin they are sent to. Deliberately not `Debug`: nothing can print it.
pub struct BasicCredentials {
    origin: Origin,
    header_value: String,
}

/// Checks BASE_URL and splits it into the base every destination is built on (without
/// user information) and the credentials it carried, if any. Errors quote the URL
/// redacted (`ferry::redact_url`), never as given.
pub fn parse_base_url(raw: &str) -> Result<(BaseUrl, Option<BasicCredentials>), CliError> {
    let shown = ferry::redact_url(raw);
    // `BaseUrl::parse` checks the scheme and the host, which the redacted text keeps, so
    // its refusals (which quote the URL) are decided on text that holds no secret.
    BaseUrl::parse(&shown)?;
    let not_a_base = || {
        CliError::usage(format!(
            "BASE_URL {shown:?} is not a valid URL (its user name, password or query is not \
             shown); give an http:// or https:// URL such as http://127.0.0.1:8080/uploads/"
        ))
    };
    let mut url = Url::parse(raw).map_err(|_| not_a_base())?;
    let credentials = take_credentials(&mut url, &shown)?;
    let base = BaseUrl::parse(url.as_str()).map_err(|_| not_a_base())?;
    Ok((base, credentials))
}

/// Removes the user information from `url` and returns it as Basic credentials.
fn take_credentials(url: &mut Url, shown: &str) -> Result<Option<BasicCredentials>, CliError> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(None);
    }
    let mut pair: Vec<u8> = percent_decode_str(url.username()).collect();
    if pair.contains(&b':') {
        return Err(CliError::usage(format!(
            "the user name in BASE_URL {shown:?} contains ':', which HTTP Basic \
             authentication cannot carry (RFC 7617); the user name is not shown"
        )));
    }
    pair.push(b':');
    pair.extend(percent_decode_str(url.password().unwrap_or_default()));
    // Both succeed on an http(s) URL with a host, which `parse_base_url` checked.
    let stripped = url.set_username("").and_then(|()| url.set_password(None));
    if stripped.is_err() {
        return Err(CliError::Internal(
            "the user information could not be removed from BASE_URL".into(),
        ));
    }
    Ok(Some(BasicCredentials {
        origin: url.origin(),
        header_value: format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ),
    }))
}

impl BasicCredentials {
    fn covers(&self, destination: &str) -> bool {
        Url::parse(destination).is_ok_and(|url| url.origin() == self.origin)
    }
}

impl RequestAuthorizer for BasicCredentials {
    fn authorize(
        &self,
        request: RequestInfo,
        reason: AuthReason,
    ) -> Result<Authorization, AuthorizerError> {
        let ours = self.covers(&request.destination);
        if reason == AuthReason::RefreshAfter401 {
            // Fixed credentials have nothing fresher to offer: the user must fix them.
            let message = if ours {
                "the server refused the user name and password given in BASE_URL; correct \
                 them and run the same command again"
            } else {
                "the server asks for credentials, and BASE_URL's are only sent to its own \
                 host; push to this host with its own BASE_URL"
            };
            return Err(AuthorizerError::SignInRequired {
                message: message.into(),
            });
        }
        let headers = if ours {
            vec![("Authorization".to_owned(), self.header_value.clone())]
        } else {
            Vec::new()
        };
        Ok(Authorization::headers(request.destination, headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(destination: &str) -> RequestInfo {
        RequestInfo::new("t", destination, "PUT", 1)
    }

    fn split(raw: &str) -> (String, Option<BasicCredentials>) {
        let (base, credentials) = parse_base_url(raw).expect("valid BASE_URL");
        (base.as_str().to_owned(), credentials)
    }

    #[test]
    fn user_information_leaves_the_url_and_the_query_stays() {
        let (base, credentials) =
            split("https://alice:p%40ss%3Aword@h.example:8443/up/?X-Amz-Signature=S");
        assert_eq!(base, "https://h.example:8443/up/?X-Amz-Signature=S");
        let credentials = credentials.expect("credentials");
        let authorization = credentials
            .authorize(
                request("https://h.example:8443/up/a.txt"),
                AuthReason::First,
            )
            .expect("authorized");
        assert_eq!(authorization.url, "https://h.example:8443/up/a.txt");
        // base64("alice:p@ss:word"): percent-decoded, the password may hold a colon.
        assert_eq!(
            authorization.headers,
            [(
                "Authorization".to_owned(),
                "Basic YWxpY2U6cEBzczp3b3Jk".to_owned()
            )]
        );
        let (plain, none) = split("http://h/up/");
        assert_eq!(plain, "http://h/up/");
        assert!(none.is_none());
    }

    #[test]
    fn credentials_go_to_their_origin_only_and_a_refusal_needs_the_user() {
        let (_, credentials) = split("http://u:pw@h:8080/up/");
        let credentials = credentials.expect("credentials");
        for other in [
            "http://h:8081/up/a",
            "https://h:8080/up/a",
            "http://g:8080/up/a",
        ] {
            let authorization = credentials
                .authorize(request(other), AuthReason::First)
                .expect("authorized");
            assert!(authorization.headers.is_empty(), "{other}");
        }
        let refused = credentials
            .authorize(request("http://h:8080/up/a"), AuthReason::RefreshAfter401)
            .expect_err("nothing fresher");
        assert!(
            matches!(refused, AuthorizerError::SignInRequired { .. }),
            "{refused}"
        );
        assert!(!refused.to_string().contains("pw"), "{refused}");
    }

    #[test]
    fn refusals_never_quote_the_password_or_the_query() {
        for bad in [
            "ftp://u:PASSWORD@h/up/?sig=SIGNATURE",
            "https://u:PASS/WORD@h/up/?sig=SIGNATURE",
            "https://u:PASSWORD@/up/?sig=SIGNATURE",
            "https://us%3Aer:PASSWORD@h/up/?sig=SIGNATURE",
            "u:PASSWORD@h/up/?sig=SIGNATURE",
        ] {
            let Err(error) = parse_base_url(bad) else {
                panic!("{bad} was accepted");
            };
            assert!(matches!(error, CliError::Usage(_)), "{bad}: {error}");
            let text = error.to_string();
            for secret in ["PASSWORD", "PASS", "WORD", "SIGNATURE"] {
                assert!(!text.contains(secret), "{bad}: {text}");
            }
        }
    }
}
