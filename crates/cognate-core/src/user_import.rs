//! Bulk user import jobs (Cognito's CreateUserImportJob, StartUserImportJob, …): the job
//! and its states, the CSV header a pool expects (GetCSVHeader), and the reading of an
//! uploaded file — lines split into fields as Cognito's import reads them, the header
//! checked against the pool's schema, each row turned into a username and attributes or
//! into the reason it cannot be imported. Pure functions; the server's import service
//! drives them and the store keeps jobs, files and per-row errors.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::attributes::SchemaAttribute;
use crate::clock::{Rng, random_chars};
use crate::ids::PoolId;

/// The column holding each user's username.
pub const USERNAME_COLUMN: &str = "cognito:username";
/// The column saying whether the user has MFA (SMS) on.
pub const MFA_COLUMN: &str = "cognito:mfa_enabled";
/// How long a job's upload URL works after CreateUserImportJob: 15 minutes, as long as
/// the S3 pre-signed URL Cognito hands out.
pub const UPLOAD_URL_TTL_MS: i64 = 15 * 60 * 1000;

/// Cognito's import job states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStatus {
    /// Created, not started (the file may or may not be uploaded yet).
    Created,
    /// Started; no worker has taken it yet.
    Pending,
    /// A worker is importing its rows.
    InProgress,
    /// Stop requested; the worker stops at its next batch.
    Stopping,
    /// Never uploaded, and its upload URL expired (shown, never stored).
    Expired,
    Stopped,
    /// Finished with failed rows, or refused as a whole (a wrong header).
    Failed,
    /// Finished, every row imported or skipped.
    Succeeded,
}

impl ImportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "Created",
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Stopping => "Stopping",
            Self::Expired => "Expired",
            Self::Stopped => "Stopped",
            Self::Failed => "Failed",
            Self::Succeeded => "Succeeded",
        }
    }

    /// Whether the job is over (no worker will touch it again).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Expired | Self::Stopped | Self::Failed | Self::Succeeded)
    }
}

impl fmt::Display for ImportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ImportStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "Created" => Self::Created,
            "Pending" => Self::Pending,
            "InProgress" => Self::InProgress,
            "Stopping" => Self::Stopping,
            "Expired" => Self::Expired,
            "Stopped" => Self::Stopped,
            "Failed" => Self::Failed,
            "Succeeded" => Self::Succeeded,
            other => return Err(format!("unknown import job status {other}")),
        })
    }
}

/// One import job. Lines are numbered as in the file: the header is line 1, the first user
/// line 2; `next_line` is the first line not yet processed, so a worker that takes the job
/// over (after a crash or a restart) resumes there and no line is imported twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJob {
    pub pool_id: PoolId,
    pub job_id: String,
    pub name: String,
    pub role_arn: String,
    pub status: ImportStatus,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// SHA-256 (hex) of the upload capability in the URL (the capability itself is never
    /// stored); kept after the upload, which `uploaded_at` makes the only one.
    pub upload_hash: Option<String>,
    pub upload_expires_at: i64,
    pub uploaded_at: Option<i64>,
    /// Which upload attempt's file the job reads (several PUTs may race; one wins).
    pub upload_attempt: Option<String>,
    pub file_bytes: i64,
    /// Lines after the header (users, blank lines included).
    pub total_rows: i64,
    pub next_line: i64,
    pub imported: i64,
    pub skipped: i64,
    pub failed: i64,
    pub completion_message: Option<String>,
    /// The worker holding the job until `lease_until` (ms).
    pub lease_owner: Option<String>,
    pub lease_until: i64,
}

impl ImportJob {
    /// A new job in `Created`, whose upload URL carries a capability hashing to
    /// `upload_hash` and works until `now + UPLOAD_URL_TTL_MS`.
    pub fn new(pool_id: PoolId, job_id: String, name: String, role_arn: String, upload_hash: String, now: i64) -> Self {
        Self {
            pool_id,
            job_id,
            name,
            role_arn,
            status: ImportStatus::Created,
            created_at: now,
            started_at: None,
            completed_at: None,
            upload_hash: Some(upload_hash),
            upload_expires_at: now + UPLOAD_URL_TTL_MS,
            uploaded_at: None,
            upload_attempt: None,
            file_bytes: 0,
            total_rows: 0,
            next_line: 2,
            imported: 0,
            skipped: 0,
            failed: 0,
            completion_message: None,
            lease_owner: None,
            lease_until: 0,
        }
    }

    /// The status a client sees at `now`: a created job whose URL expired without an
    /// upload can never start, so it shows as `Expired`.
    pub fn visible_status(&self, now: i64) -> ImportStatus {
        if self.status == ImportStatus::Created && self.uploaded_at.is_none() && now >= self.upload_expires_at {
            ImportStatus::Expired
        } else {
            self.status
        }
    }

    /// The last line of the file.
    pub fn last_line(&self) -> i64 {
        self.total_rows + 1
    }

    /// The job's key in list order (creation time, zero-padded so keys sort as times, then
    /// id): ListUserImportJobs' cursor.
    pub fn list_key(&self) -> String {
        format!("{:020}:{}", self.created_at, self.job_id)
    }
}

/// A new job id: `import-` and 10 alphanumerics, in Cognito's shape (`import-[0-9a-zA-Z-]+`).
pub fn generate_job_id(rng: &dyn Rng) -> String {
    format!("import-{}", random_chars(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 10))
}

/// Whether `id` has the shape of a job id (`import-[0-9a-zA-Z-]+`, at most 55 characters).
pub fn valid_job_id(id: &str) -> bool {
    id.len() <= 55
        && id
            .strip_prefix("import-")
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// A stored piece of an uploaded file: whole lines `first_line ..= first_line + lines - 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportChunk {
    pub first_line: i64,
    pub lines: i64,
    pub data: String,
}

/// Why one line was not imported, for the operator (`cognate user-import errors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: i64,
    /// The username the line names, when it could be read.
    pub username: Option<String>,
    pub message: String,
}

/// The header GetCSVHeader answers for a pool, in Cognito's order: the standard
/// attributes (without `sub`), the custom ones, then `cognito:mfa_enabled` and
/// `cognito:username`. Developer-only attributes appear as `dev:custom:NAME`.
pub fn csv_header(schema: &[SchemaAttribute]) -> Vec<String> {
    let standard = crate::attributes::standard_schema();
    let mut out: Vec<String> = standard.iter().filter(|a| a.name != "sub").map(|a| a.name.clone()).collect();
    out.extend(schema.iter().filter(|a| a.is_custom()).map(SchemaAttribute::display_name));
    out.push(MFA_COLUMN.to_owned());
    out.push(USERNAME_COLUMN.to_owned());
    out
}

/// Splits one line into fields. Cognito's format puts values unquoted and escapes a comma
/// inside a value with a backslash (`Doe\, Jane`); values in double quotes (as spreadsheets
/// and Python's `csv` write them, `""` for a quote) are read too. A trailing `\r` is dropped.
pub fn split_line(line: &str) -> Result<Vec<String>, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted value is not closed".to_owned()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("a quoted value is followed by more text before the comma".to_owned()),
            }
            continue;
        }
        loop {
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some('\\') if chars.peek() == Some(&',') => {
                    chars.next();
                    field.push(',');
                }
                Some(',') => break,
                Some(c) => field.push(c),
            }
        }
        fields.push(field);
    }
}

/// One readable user line: the username and the non-empty attribute values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub username: String,
    pub attributes: Vec<(String, String)>,
}

/// A checked header: which column holds what.
#[derive(Debug, Clone)]
pub struct Columns {
    names: Vec<String>,
    username: usize,
    mfa: usize,
}

impl Columns {
    /// Checks the header line against the pool's header ([`csv_header`]): the columns may
    /// come in any order, but each must be one of the pool's and every one of the pool's
    /// must be there, once (Cognito's rules). The error names what is wrong.
    pub fn parse(line: &str, schema: &[SchemaAttribute]) -> Result<Self, String> {
        let names: Vec<String> = split_line(line)?.into_iter().map(|n| n.trim().to_owned()).collect();
        let expected = csv_header(schema);
        let mut seen = std::collections::BTreeSet::new();
        for name in &names {
            if !expected.contains(name) {
                return Err(format!("the header names a column the user pool does not have: '{name}'"));
            }
            if !seen.insert(name.as_str()) {
                return Err(format!("the header names the column '{name}' twice"));
            }
        }
        let missing: Vec<&str> = expected.iter().map(String::as_str).filter(|n| !seen.contains(n)).collect();
        if !missing.is_empty() {
            return Err(format!("the header lacks the columns {}", missing.join(", ")));
        }
        let position = |name: &str| names.iter().position(|n| n == name).unwrap_or(0);
        let (username, mfa) = (position(USERNAME_COLUMN), position(MFA_COLUMN));
        Ok(Self { names, username, mfa })
    }

    /// Reads one user line: as many values as columns, a username, `cognito:mfa_enabled`
    /// true or false; empty values are left out. Attribute values are checked later,
    /// against the pool's schema.
    pub fn row(&self, line: &str) -> Result<ImportRow, (Option<String>, String)> {
        let fields = split_line(line).map_err(|e| (None, e))?;
        let username = fields.get(self.username).map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
        if fields.len() != self.names.len() {
            return Err((
                username,
                format!("the line has {} values where the header has {} columns", fields.len(), self.names.len()),
            ));
        }
        let Some(username) = username else {
            return Err((None, format!("{USERNAME_COLUMN} is empty")));
        };
        let fail = |why: String| Err((Some(username.clone()), why));
        let mfa = fields[self.mfa].trim();
        if mfa.eq_ignore_ascii_case("true") {
            return fail(format!("{MFA_COLUMN} is true, but Cognate offers no SMS MFA to import users into"));
        }
        if !mfa.eq_ignore_ascii_case("false") {
            return fail(format!("{MFA_COLUMN} must be true or false"));
        }
        if let Some(i) = fields.iter().position(|f| crate::text::has_forbidden_control(f)) {
            return fail(format!("the value of {} holds a control character", self.names[i]));
        }
        let attributes = self
            .names
            .iter()
            .zip(fields)
            .enumerate()
            .filter(|(i, (_, v))| *i != self.username && *i != self.mfa && !v.is_empty())
            .map(|(_, (n, v))| (n.clone(), v))
            .collect();
        Ok(ImportRow { username, attributes })
    }
}

/// Cognito's rules on a new user's contact details: `email` when `email_verified` is true,
/// `phone_number` when `phone_number_verified` is; and where the pool verifies contacts
/// automatically, at least one of those verified (users reset their password through it).
pub fn check_contacts(attrs: &BTreeMap<String, String>, auto_verified: &[String]) -> Result<(), String> {
    let verified = |flag: &str| attrs.get(flag).is_some_and(|v| v == "true");
    for (contact, flag) in [("email", "email_verified"), ("phone_number", "phone_number_verified")] {
        if verified(flag) && attrs.get(contact).is_none_or(|v| v.is_empty()) {
            return Err(format!("{flag} is true but {contact} is empty"));
        }
    }
    let flag_of = |a: &String| match a.as_str() {
        "email" => Some("email_verified"),
        "phone_number" => Some("phone_number_verified"),
        _ => None,
    };
    let flags: Vec<&str> = auto_verified.iter().filter_map(flag_of).collect();
    if !flags.is_empty() && !flags.iter().any(|f| verified(f)) {
        return Err(format!("the user pool verifies contacts automatically, so {} must be true", flags.join(" or ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{RequestedAttribute, build_schema};

    fn schema() -> Vec<SchemaAttribute> {
        let dept = RequestedAttribute {
            name: "dept".into(),
            attribute_data_type: Some("String".into()),
            ..RequestedAttribute::default()
        };
        build_schema(&[dept]).unwrap()
    }

    #[test]
    fn the_header_lists_standard_then_custom_then_cognito_columns() {
        let header = csv_header(&schema());
        assert_eq!(header.first().map(String::as_str), Some("name"));
        assert!(!header.iter().any(|h| h == "sub"));
        let n = header.len();
        assert_eq!(&header[n - 3..], ["custom:dept", MFA_COLUMN, USERNAME_COLUMN]);
        assert_eq!(header.iter().position(|h| h == "updated_at"), Some(n - 4));
    }

    #[test]
    fn lines_split_on_unescaped_commas_and_read_quotes() {
        assert_eq!(split_line("a,b\\,c,,d\r").unwrap(), ["a", "b,c", "", "d"]);
        assert_eq!(split_line("\"x, \"\"y\"\"\",z").unwrap(), ["x, \"y\"", "z"]);
        assert_eq!(split_line("").unwrap(), [""]);
        assert!(split_line("\"open,x").is_err());
        assert!(split_line("\"a\"b,c").is_err());
    }

    #[test]
    fn headers_must_hold_every_column_once_in_any_order() {
        let s = schema();
        let mut header = csv_header(&s);
        header.reverse();
        let columns = Columns::parse(&header.join(","), &s).unwrap();
        let mut values = vec![String::new(); header.len()];
        values[0] = "ann".into(); // cognito:username, first once reversed
        values[1] = "FALSE".into();
        let email = header.iter().position(|h| h == "email").unwrap();
        values[email] = "ann@example.com".into();
        let row = columns.row(&values.join(",")).unwrap();
        assert_eq!(row.username, "ann");
        assert_eq!(row.attributes, vec![("email".to_owned(), "ann@example.com".to_owned())]);

        let missing = header[1..].join(",");
        assert!(Columns::parse(&missing, &s).unwrap_err().contains("lacks the columns cognito:username"));
        let unknown = format!("{},custom:nope", header.join(","));
        assert!(Columns::parse(&unknown, &s).unwrap_err().contains("'custom:nope'"));
        let twice = format!("{},email", header.join(","));
        assert!(Columns::parse(&twice, &s).unwrap_err().contains("twice"));
    }

    #[test]
    fn rows_need_a_username_a_known_mfa_flag_and_every_value() {
        let s = schema();
        let header = csv_header(&s);
        let columns = Columns::parse(&header.join(","), &s).unwrap();
        let line = |mfa: &str, user: &str| {
            let mut v = vec![String::new(); header.len()];
            let n = v.len();
            v[n - 2] = mfa.into();
            v[n - 1] = user.into();
            v.join(",")
        };
        assert!(columns.row(&line("false", "bob")).is_ok());
        assert_eq!(columns.row(&line("false", "")).unwrap_err().0, None);
        assert!(columns.row(&line("maybe", "bob")).unwrap_err().1.contains("true or false"));
        assert!(columns.row(&line("true", "bob")).unwrap_err().1.contains("SMS MFA"));
        assert!(columns.row("bob,false").unwrap_err().1.contains("values where the header has"));
        assert!(columns.row(&line("false", "b\u{1}ob")).unwrap_err().1.contains("control character"));
    }

    #[test]
    fn contacts_follow_the_verified_flags_and_auto_verification() {
        let attrs = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let auto = vec!["email".to_owned()];
        assert!(check_contacts(&attrs(&[("email", "a@b.co"), ("email_verified", "true")]), &auto).is_ok());
        assert!(check_contacts(&attrs(&[("email", "a@b.co")]), &auto).unwrap_err().contains("email_verified"));
        assert!(check_contacts(&attrs(&[("email_verified", "true")]), &[]).unwrap_err().contains("email is empty"));
        assert!(check_contacts(&attrs(&[]), &[]).is_ok());
    }

    #[test]
    fn job_ids_have_cognitos_shape_and_unuploaded_jobs_expire() {
        let id = generate_job_id(&crate::SystemRng);
        assert!(valid_job_id(&id) && id.len() == "import-".len() + 10);
        assert!(!valid_job_id("import-") && !valid_job_id("export-abc") && !valid_job_id("import-a b"));
        let pool = PoolId::parse("local_abc").unwrap();
        let mut job = ImportJob::new(pool, id, "n".into(), "arn".into(), "h".into(), 0);
        assert_eq!(job.visible_status(UPLOAD_URL_TTL_MS - 1), ImportStatus::Created);
        assert_eq!(job.visible_status(UPLOAD_URL_TTL_MS), ImportStatus::Expired);
        job.uploaded_at = Some(1);
        assert_eq!(job.visible_status(UPLOAD_URL_TTL_MS), ImportStatus::Created);
    }
}
