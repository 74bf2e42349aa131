//! A campaign's recipients as a CSV file (`GET /v1/sms/campaigns/{id}/recipients.csv` and the
//! dashboard's "Download CSV"), produced page by page so that any campaign streams in
//! constant memory.

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{App, ServiceError, ServiceResult};
use crate::domain::export::{BOM, RECIPIENT_COLUMNS, push_row, variable_text};
use crate::domain::ids::{AccountId, CampaignId};
use crate::domain::status::RecipientStatus;
use crate::store::{DynStore, Recipient, RecipientQuery};

/// Recipients read from the store per page (and written per chunk).
const PAGE: u32 = 1_000;

/// `?status=` of the CSV export.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsvParams {
    /// Only recipients with this status (pending, queued, sent, delivered, undelivered,
    /// failed or cancelled); `recipient_status` is read the same way, as on the campaign.
    #[serde(alias = "recipient_status")]
    #[param(value_type = Option<RecipientStatus>)]
    pub status: Option<String>,
}

/// The file being written: call [`RecipientsCsv::next_chunk`] until it gives `None`.
pub struct RecipientsCsv {
    store: DynStore,
    account: AccountId,
    id: CampaignId,
    status: Option<RecipientStatus>,
    variables: Vec<String>,
    after: Option<i64>,
    header_written: bool,
    done: bool,
}

/// A file name for the download.
pub fn file_name(id: &str) -> String {
    let safe: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    format!("{safe}-recipients.csv")
}

/// Checks the request and reads the variables' names, in alphabetical order (a first pass
/// over the recipients, a page at a time: the columns must be known before the first row). `NotFound` for another
/// account's campaign, a 422 naming `status` for an unknown status.
pub async fn recipients_csv(
    app: &App,
    account: &AccountId,
    id: &str,
    params: &CsvParams,
) -> ServiceResult<RecipientsCsv> {
    let id = CampaignId::parse(id).ok_or(ServiceError::NotFound("campaign"))?;
    let status = params
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            RecipientStatus::parse(s).ok_or_else(|| {
                ServiceError::invalid(
                    "status",
                    "must be one of pending, queued, sent, delivered, undelivered, failed, cancelled",
                )
            })
        })
        .transpose()?;
    let mut csv = RecipientsCsv {
        store: app.store.clone(),
        account: account.clone(),
        id,
        status,
        variables: Vec::new(),
        after: None,
        header_written: false,
        done: false,
    };
    // The store answers NotFound for another account's campaign on the first page.
    let mut variables: Vec<String> = Vec::new();
    while let Some(page) = csv.page().await? {
        for r in &page {
            for name in r.variables.keys() {
                if !variables.iter().any(|v| v == name) {
                    variables.push(name.clone());
                }
            }
        }
    }
    variables.sort();
    csv.variables = variables;
    csv.after = None;
    Ok(csv)
}

fn time_text(t: Option<OffsetDateTime>) -> String {
    t.and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

impl RecipientsCsv {
    /// The next page of recipients after `self.after`; `None` after the last.
    async fn page(&mut self) -> ServiceResult<Option<Vec<Recipient>>> {
        let rows = self
            .store
            .list_recipients(
                &self.account,
                &self.id,
                &RecipientQuery {
                    status: self.status,
                    after: self.after,
                    limit: PAGE,
                },
            )
            .await
            .map_err(ServiceError::from_store("campaign"))?;
        if rows.is_empty() {
            return Ok(None);
        }
        self.after = rows.last().map(|r| r.position);
        Ok(Some(rows))
    }

    /// The next piece of the file (the BOM and header first, then a page of rows at a time);
    /// `None` once everything was written.
    pub async fn next_chunk(&mut self) -> ServiceResult<Option<String>> {
        if self.done {
            return Ok(None);
        }
        let mut out = String::new();
        if !self.header_written {
            self.header_written = true;
            out.push_str(BOM);
            push_row(
                &mut out,
                RECIPIENT_COLUMNS
                    .iter()
                    .copied()
                    .chain(self.variables.iter().map(String::as_str)),
            );
        }
        let Some(page) = self.page().await? else {
            self.done = true;
            return Ok(Some(out).filter(|o| !o.is_empty()));
        };
        for r in &page {
            let fixed = [
                r.phone.clone(),
                r.status.as_str().to_owned(),
                r.error_code.clone().unwrap_or_default(),
                r.error_message.clone().unwrap_or_default(),
                r.twilio_sid.clone().unwrap_or_default(),
                r.from_number.clone(),
                r.segments.to_string(),
                time_text(r.sent_at),
                time_text(r.delivered_at),
                time_text(Some(r.updated_at)),
            ];
            let vars: Vec<String> = self
                .variables
                .iter()
                .map(|name| variable_text(r.variables.get(name)))
                .collect();
            push_row(
                &mut out,
                fixed.iter().chain(vars.iter()).map(String::as_str),
            );
        }
        Ok(Some(out))
    }
}

impl RecipientsCsv {
    /// The file as a stream of chunks, for a streamed response body. A failure mid-way ends
    /// the stream with an error (the answer's status line has left by then, so the client
    /// sees a cut download); it is logged.
    pub fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static {
        futures_util::stream::unfold(Some(self), |csv| async move {
            let mut csv = csv?;
            match csv.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(csv))),
                Ok(None) => None,
                Err(e) => {
                    tracing::error!(error = ?e, "writing the recipients CSV failed");
                    Some((
                        Err(std::io::Error::other("the CSV could not be completed")),
                        None,
                    ))
                }
            }
        })
    }
}
