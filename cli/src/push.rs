//! `ferry push`: plan the uploads (one per file, destination = BASE_URL + relative path)
//! and run them through the queue (`transfer_run.rs`), then print the summary.
//!
//! What it is for: turning the arguments into one `Upload` per file and refusing two files
//! that would land on one URL; the enqueue, the wait and the summary are shared with
//! `pull` and `demo` (`transfer_run::execute`), and so are the options and the report
//! (`run_options.rs`).
//!
//! What it must never do: send anything before every argument was checked, or read a
//! database file (or its companions) as a file to upload.

use std::collections::HashMap;
use std::path::PathBuf;

use ferry::{Upload, UploadMethod};

use crate::app_data::AppData;
use crate::args::{MethodArg, PushArgs};
use crate::destination::BaseUrl;
use crate::error::{CliError, Outcome};
use crate::resumable::ResumableChoice;
use crate::run_options::{self, RunOptions};
use crate::sources::{self, Sources};
use crate::transfer_run::{self, TransferPlan};
use crate::{headers, url_credentials};

/// `ferry push ...`.
pub async fn run(args: PushArgs) -> Result<Outcome, CliError> {
    let common = &args.run;
    run_options::check_patience(common)?;
    let (base, basic) = url_credentials::parse_base_url(&args.base_url)?;
    let headers = headers::parse_all(&common.headers)?;
    let app_data = AppData::parse(&common.meta, common.group.clone())?;
    let chosen = run_options::choose_authorizer(basic, common, &headers)?;
    let method = match args.method {
        MethodArg::Put => UploadMethod::Put,
        MethodArg::Post => UploadMethod::Post,
    };
    let paths = args.paths.clone();
    let db = common.db.db.clone();
    let sources = tokio::task::spawn_blocking(move || {
        let mut found = sources::collect(&paths)?;
        sources::exclude_database(&mut found, &db);
        Ok::<_, CliError>(found)
    })
    .await??;
    let mut plan = plan(sources, &base, &method, &headers, &app_data)?;
    let resumable = ResumableChoice::from_args(&args, &base);
    if let Some(choice) = &resumable {
        choice.apply(&mut plan.uploads);
    }
    let mut options = RunOptions::new(common, chosen, vec![base.destination_prefix()])?;
    options.resumable = resumable;
    let summary = transfer_run::execute(plan, &options).await?;
    run_options::report(&summary, common.json)
}

/// One upload per file, refusing two files that would land on the same URL.
pub fn plan(
    sources: Sources,
    base: &BaseUrl,
    method: &UploadMethod,
    headers: &[(String, String)],
    app_data: &AppData,
) -> Result<TransferPlan, CliError> {
    let mut seen: HashMap<String, PathBuf> = HashMap::with_capacity(sources.files.len());
    let mut uploads = Vec::with_capacity(sources.files.len());
    for file in sources.files {
        let destination = base.join(&file.segments)?;
        if let Some(first) = seen.insert(destination.clone(), file.path.clone()) {
            return Err(CliError::usage(format!(
                "{} and {} would both be uploaded to {}; pass each file once, or push them \
                 in separate runs to different base URLs",
                first.display(),
                file.path.display(),
                ferry::redact_url(&destination)
            )));
        }
        let mut upload =
            app_data.apply(Upload::put(file.path, destination).with_method(method.clone()));
        for (name, value) in headers {
            upload = upload.with_header(name.clone(), value.clone());
        }
        uploads.push(upload);
    }
    Ok(TransferPlan {
        uploads,
        downloads: Vec::new(),
        unreadable: sources.unreadable,
        skipped: sources.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::SourceFile;

    fn file(path: &str, segments: &[&str]) -> SourceFile {
        SourceFile {
            path: path.into(),
            segments: segments.iter().map(|s| (*s).into()).collect(),
        }
    }

    #[test]
    fn two_files_on_one_url_are_refused() {
        let sources = Sources {
            files: vec![file("/a/x.txt", &["x.txt"]), file("/b/x.txt", &["x.txt"])],
            ..Sources::default()
        };
        let base = BaseUrl::parse("http://h/").expect("base");
        let error = plan(sources, &base, &UploadMethod::Put, &[], &AppData::default())
            .expect_err("collision");
        assert!(matches!(error, CliError::Usage(_)), "{error}");
    }

    #[test]
    fn every_upload_carries_the_method_headers_metadata_and_group() {
        let sources = Sources {
            files: vec![file("/a/x y.txt", &["d", "x y.txt"])],
            ..Sources::default()
        };
        let base = BaseUrl::parse("http://h/up/").expect("base");
        let headers = [("X-A".to_owned(), "1".to_owned())];
        let app_data =
            AppData::parse(&["album=7".to_owned()], Some("trip".into())).expect("app data");
        let plan = plan(sources, &base, &UploadMethod::Post, &headers, &app_data).expect("plan");
        let upload = &plan.uploads[0];
        assert_eq!(upload.destination, "http://h/up/d/x%20y.txt");
        assert_eq!(upload.method, UploadMethod::Post);
        assert_eq!(upload.headers, headers);
        assert_eq!(upload.group.as_deref(), Some("trip"));
        assert_eq!(upload.metadata.get("album").map(String::as_str), Some("7"));
    }
}
