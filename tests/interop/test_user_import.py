"""Bulk user import jobs with boto3, as AWS documents them: GetCSVHeader, CreateUserImportJob,
the CSV PUT to the job's PreSignedUrl (with requests, and with AWS's own `curl -T` command),
StartUserImportJob, DescribeUserImportJob until the job ends, StopUserImportJob,
ListUserImportJobs; imported users are RESET_REQUIRED and sign in once a password is set.
Per-line errors are read with `cognate user-import errors`. A 100,000-line file is imported
on each backend and its time printed (`-s` shows it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import datetime

import pytest
import requests

from cognate_harness import CognateServer, assert_raw_error, raises_cognito, uid
from conftest import PASSWORD

ROLE_ARN = "arn:aws:iam::123456789012:role/CognitoImportRole"
SSE = {"x-amz-server-side-encryption": "aws:kms"}
FINAL = {"Succeeded", "Failed", "Stopped", "Expired"}


def header_of(cognito, pool_id: str) -> list[str]:
    return cognito.get_csv_header(UserPoolId=pool_id)["CSVHeader"]


def csv_text(header: list[str], rows: list[dict]) -> str:
    """Cognito's format: unquoted values, commas inside a value escaped with a backslash."""
    lines = [",".join(header)]
    for row in rows:
        values = {"cognito:mfa_enabled": "false", **row}
        lines.append(",".join(str(values.get(col, "")).replace(",", "\\,") for col in header))
    return "\n".join(lines) + "\n"


def person(n: int | str, **extra) -> dict:
    return {"cognito:username": f"user{n}", "email": f"user{n}@example.com", "email_verified": "true",
            "given_name": f"Given{n}", **extra}


def create_job(cognito, pool_id: str, name: str = "import") -> dict:
    return cognito.create_user_import_job(JobName=name, UserPoolId=pool_id,
                                          CloudWatchLogsRoleArn=ROLE_ARN)["UserImportJob"]


def upload(job: dict, body: str | bytes) -> requests.Response:
    data = body.encode() if isinstance(body, str) else body
    return requests.put(job["PreSignedUrl"], data=data, headers=SSE, timeout=120)


def wait_done(cognito, pool_id: str, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = cognito.describe_user_import_job(UserPoolId=pool_id, JobId=job_id)["UserImportJob"]
        if job["Status"] in FINAL:
            return job
        assert time.monotonic() < deadline, f"the job did not finish in {timeout} s: {job}"
        time.sleep(0.1)


def import_errors(server: CognateServer, pool_id: str, job_id: str) -> list[dict]:
    out = server.cli("user-import", "errors", "--pool", pool_id, "--job", job_id).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def import_pool(make_pool) -> str:
    """A pool that verifies emails automatically (imported users need a verified email), where
    users may sign in with their email (so emails are unique), with one custom attribute."""
    return make_pool(AutoVerifiedAttributes=["email"], AliasAttributes=["email"],
                     Schema=[{"Name": "dept", "AttributeDataType": "String", "Mutable": True}])["Id"]


def test_the_header_is_the_pools_attributes_in_cognitos_order(cognito, import_pool):
    header = header_of(cognito, import_pool)
    assert header[:3] == ["name", "given_name", "family_name"]
    assert header[-4:] == ["updated_at", "custom:dept", "cognito:mfa_enabled", "cognito:username"]
    assert "sub" not in header and len(header) == len(set(header))
    with raises_cognito("ResourceNotFoundException"):
        cognito.get_csv_header(UserPoolId="local_doesnotexist")


def test_the_whole_flow_with_per_line_errors_then_sign_in(server, cognito, import_pool, make_client):
    header = header_of(cognito, import_pool)
    job = create_job(cognito, import_pool, "first import")
    assert job["JobId"].startswith("import-") and job["Status"] == "Created"
    assert job["PreSignedUrl"].startswith(server.url + "/user-import/")
    assert job["CloudWatchLogsRoleArn"] == ROLE_ARN and job["JobName"] == "first import"
    assert (job["ImportedUsers"], job["SkippedUsers"], job["FailedUsers"]) == (0, 0, 0)
    assert isinstance(job["CreationDate"], datetime)

    rows = [
        person("a", family_name="Doe, Jane", **{"custom:dept": "sales"}),  # line 2
        person("b", email_verified="True"),                                 # line 3
        person("a", email="other@example.com"),                             # line 4: username taken
        person("c", email="not-an-email"),                                  # line 5
        person("d", email_verified="false"),                                # line 6: no verified contact
        person("e", email="usera@example.com"),                             # line 7: email taken
        {"cognito:username": "", "email": "x@example.com"},                # line 8: no username
        person("f", **{"custom:nope": "x"}),                                # line 9: not a column: ignored
    ]
    body = csv_text(header, rows).replace("\n\n", "\n") + "\n"  # one blank line at the end: skipped
    assert upload(job, body).status_code == 200

    started = cognito.start_user_import_job(UserPoolId=import_pool, JobId=job["JobId"])["UserImportJob"]
    assert started["Status"] in {"Pending", "InProgress", "Succeeded", "Failed"}
    assert isinstance(started["StartDate"], datetime)
    done = wait_done(cognito, import_pool, job["JobId"])
    assert done["Status"] == "Failed", done  # Cognito fails a job with failed lines
    assert done["CompletionMessage"] == "Too many users have failed or been skipped during the import."
    assert (done["ImportedUsers"], done["FailedUsers"], done["SkippedUsers"]) == (3, 5, 1)
    assert done["CompletionDate"] >= done["StartDate"] >= done["CreationDate"]
    assert "PreSignedUrl" not in done

    errors = import_errors(server, import_pool, job["JobId"])
    assert [e["line"] for e in errors] == [4, 5, 6, 7, 8]
    by_line = {e["line"]: e for e in errors}
    assert by_line[4]["username"] == "usera" and "already exists" in by_line[4]["message"]
    assert "email" in by_line[5]["message"]
    assert "email_verified must be true" in by_line[6]["message"]
    assert "email already exists" in by_line[7]["message"]
    assert "cognito:username is empty" in by_line[8]["message"]

    user = cognito.admin_get_user(UserPoolId=import_pool, Username="usera")
    assert user["UserStatus"] == "RESET_REQUIRED" and user["Enabled"]
    got = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert got["family_name"] == "Doe, Jane" and got["custom:dept"] == "sales"
    assert got["email_verified"] == "true"
    b = cognito.admin_get_user(UserPoolId=import_pool, Username="userb")
    assert {a["Name"]: a["Value"] for a in b["UserAttributes"]}["email_verified"] == "true"

    app = make_client(import_pool)
    with raises_cognito("PasswordResetRequiredException"):
        cognito.initiate_auth(ClientId=app.client_id, AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": "usera", "PASSWORD": PASSWORD})
    cognito.admin_set_user_password(UserPoolId=import_pool, Username="usera", Password=PASSWORD,
                                    Permanent=True)
    tokens = cognito.initiate_auth(ClientId=app.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": "usera", "PASSWORD": PASSWORD})
    assert "AccessToken" in tokens["AuthenticationResult"]

    # The job's creation and start are in the audit trail, and its end (the trail's writer
    # flushes in the background: give it time on a busy machine).
    deadline = time.monotonic() + 15
    while True:
        trail = server.raw_rows("SELECT action, target FROM audit_events WHERE target = ?", (job["JobId"],))
        if ("user_import.finish", job["JobId"]) in trail:
            break
        assert time.monotonic() < deadline, trail
        time.sleep(0.2)


def test_aws_documented_curl_upload(cognito, import_pool):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    header = header_of(cognito, import_pool)
    job = create_job(cognito, import_pool)
    path = f"/tmp/users-{uid()}.csv"
    with open(path, "w", encoding="utf-8") as f:
        f.write(csv_text(header, [person(i) for i in range(5)]))
    done = subprocess.run(["curl", "-sS", "-f", "-T", path, "-H", "x-amz-server-side-encryption:aws:kms",
                           job["PreSignedUrl"]], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    cognito.start_user_import_job(UserPoolId=import_pool, JobId=job["JobId"])
    job = wait_done(cognito, import_pool, job["JobId"])
    assert job["Status"] == "Succeeded" and job["ImportedUsers"] == 5
    assert job["CompletionMessage"] == "Import Job Completed Successfully."


def test_refusals(server, cognito, import_pool, make_pool):
    header = header_of(cognito, import_pool)
    job = create_job(cognito, import_pool)
    jid = job["JobId"]
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_user_import_job(UserPoolId=import_pool, JobId="import-doesnotexist")
    with raises_cognito("ResourceNotFoundException"):  # another pool's job
        cognito.describe_user_import_job(UserPoolId=make_pool()["Id"], JobId=jid)
    with raises_cognito("InvalidParameterException"):
        cognito.describe_user_import_job(UserPoolId=import_pool, JobId="export-1")
    with raises_cognito("PreconditionNotMetException"):  # nothing uploaded yet
        cognito.start_user_import_job(UserPoolId=import_pool, JobId=jid)
    with raises_cognito("PreconditionNotMetException"):  # not running
        cognito.stop_user_import_job(UserPoolId=import_pool, JobId=jid)
    with raises_cognito("InvalidParameterException"):
        cognito.create_user_import_job(JobName="x", UserPoolId=import_pool,
                                       CloudWatchLogsRoleArn="arn:aws:iam::not-an-account:role/x")
    with raises_cognito("InvalidParameterException"):
        cognito.create_user_import_job(JobName="bad/name", UserPoolId=import_pool, CloudWatchLogsRoleArn=ROLE_ARN)
    with raises_cognito("InvalidParameterException"):
        cognito.create_user_import_job(JobName="x", UserPoolId=import_pool, CloudWatchLogsRoleArn=ROLE_ARN,
                                       PasswordHashingAlgorithm="BCRYPT")
    for max_results in (0, 61):  # botocore itself refuses these: sent raw
        resp = server.raw("ListUserImportJobs", {"UserPoolId": import_pool, "MaxResults": max_results})
        assert_raw_error(resp, "InvalidParameterException")
    assert_raw_error(server.raw("ListUserImportJobs", {"UserPoolId": import_pool}), "InvalidParameterException")

    # The capability is checked before any byte is read; the answers are S3's.
    url = job["PreSignedUrl"]
    wrong = url[:-4] + ("aaaa" if not url.endswith("aaaa") else "bbbb")
    for bad in (wrong, url.rsplit("/", 1)[0] + "/short", url.replace(jid, "import-doesnotexist")):
        r = requests.put(bad, data=b"x", headers=SSE, timeout=30)
        assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    for bad_body, why in ((b"", "empty"), (b"a,b\n\x00\n", "line 2 holds a NUL byte"),
                          (b"a,b\n\xff\xfe\n", "line 2 is not UTF-8")):
        r = requests.put(url, data=bad_body, headers=SSE, timeout=30)
        assert r.status_code == 400 and why in r.text, r.text
    assert upload(job, csv_text(header, [person("x")])).status_code == 200
    again = upload(job, csv_text(header, [person("y")]))
    assert again.status_code == 403 and "already uploaded" in again.text
    cognito.start_user_import_job(UserPoolId=import_pool, JobId=jid)
    with raises_cognito("PreconditionNotMetException"):
        cognito.start_user_import_job(UserPoolId=import_pool, JobId=jid)
    assert wait_done(cognito, import_pool, jid)["ImportedUsers"] == 1
    with raises_cognito("UserNotFoundException"):  # the second upload was refused whole
        cognito.admin_get_user(UserPoolId=import_pool, Username="usery")

    # A wrong header row fails the job as a whole, saying why on line 1.
    bad = create_job(cognito, import_pool)
    wrong_header = [c for c in header if c != "email"] + ["emial"]
    assert upload(bad, csv_text(wrong_header, [person("z")])).status_code == 200
    cognito.start_user_import_job(UserPoolId=import_pool, JobId=bad["JobId"])
    failed = wait_done(cognito, import_pool, bad["JobId"])
    assert failed["Status"] == "Failed" and failed["CompletionMessage"] == "The CSV header is invalid."
    assert (failed["ImportedUsers"], failed["SkippedUsers"]) == (0, 1)
    (error,) = import_errors(server, import_pool, bad["JobId"])
    assert error["line"] == 1 and "'emial'" in error["message"]


def test_list_pages_through_the_pools_jobs(cognito, import_pool):
    ids = [create_job(cognito, import_pool, f"job {i}")["JobId"] for i in range(5)]
    seen, token = [], None
    while True:
        kw = {"PaginationToken": token} if token else {}
        page = cognito.list_user_import_jobs(UserPoolId=import_pool, MaxResults=2, **kw)
        assert len(page["UserImportJobs"]) <= 2
        seen += [j["JobId"] for j in page["UserImportJobs"]]
        token = page.get("PaginationToken")
        if not token:
            break
    assert seen == ids  # oldest first
    with raises_cognito("InvalidParameterException"):
        cognito.list_user_import_jobs(UserPoolId=import_pool, MaxResults=2, PaginationToken="bm9wZQ")


def test_stopping_mid_way_keeps_what_was_imported(cognito, import_pool):
    header = header_of(cognito, import_pool)
    total = 60_000
    job = create_job(cognito, import_pool)
    assert upload(job, csv_text(header, [person(i) for i in range(total)])).status_code == 200
    cognito.start_user_import_job(UserPoolId=import_pool, JobId=job["JobId"])
    deadline = time.monotonic() + 60
    while cognito.describe_user_import_job(UserPoolId=import_pool,
                                           JobId=job["JobId"])["UserImportJob"]["ImportedUsers"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    stopping = cognito.stop_user_import_job(UserPoolId=import_pool, JobId=job["JobId"])["UserImportJob"]
    assert stopping["Status"] == "Stopping"
    done = wait_done(cognito, import_pool, job["JobId"])
    assert done["Status"] == "Stopped" and done["CompletionMessage"] == "Import Job Stopped."
    assert 0 < done["ImportedUsers"] < total
    assert done["ImportedUsers"] + done["SkippedUsers"] + done["FailedUsers"] == total
    pool = cognito.describe_user_pool(UserPoolId=import_pool)["UserPool"]
    assert pool["EstimatedNumberOfUsers"] == done["ImportedUsers"]


def test_a_job_resumes_after_a_restart_and_on_another_node(fresh_server, make_pool):
    """Node A takes the upload and starts the job; it is stopped mid-way (SIGTERM) and the job
    finishes on node B, which shares A's database: every line once."""
    a = fresh_server()
    pool_id = a.cognito.create_user_pool(PoolName=f"it-{uid()}", AutoVerifiedAttributes=["email"])["UserPool"]["Id"]
    header = header_of(a.cognito, pool_id)
    total = 40_000
    job = create_job(a.cognito, pool_id)
    assert upload(job, csv_text(header, [person(i) for i in range(total)])).status_code == 200
    a.cognito.start_user_import_job(UserPoolId=pool_id, JobId=job["JobId"])
    deadline = time.monotonic() + 60
    while a.cognito.describe_user_import_job(UserPoolId=pool_id,
                                             JobId=job["JobId"])["UserImportJob"]["ImportedUsers"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert a.stop() == 0
    b = CognateServer(backend=a.backend, data_dir=a.data_dir, database_url=a.database_url)
    b.start()
    try:
        done = wait_done(b.cognito, pool_id, job["JobId"])
        assert done["Status"] == "Succeeded", done
        assert (done["ImportedUsers"], done["FailedUsers"], done["SkippedUsers"]) == (total, 0, 0)
        pool = b.cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
        assert pool["EstimatedNumberOfUsers"] == total
    finally:
        b.stop()


def test_a_hundred_thousand_lines(server, cognito, import_pool):
    header = header_of(cognito, import_pool)
    total = 100_000
    body = csv_text(header, [person(i, family_name=f"Family{i % 97}") for i in range(total)])
    job = create_job(cognito, import_pool, "100k")
    t0 = time.monotonic()
    assert upload(job, body).status_code == 200
    t1 = time.monotonic()
    cognito.start_user_import_job(UserPoolId=import_pool, JobId=job["JobId"])
    # SQLite takes about 30 s; PostgreSQL about 25 s of commits, but several minutes when the
    # server it shares stalls commits (docs/user-import.md, "How a job runs").
    done = wait_done(cognito, import_pool, job["JobId"], timeout=600)
    t2 = time.monotonic()
    assert done["Status"] == "Succeeded", done
    assert (done["ImportedUsers"], done["FailedUsers"], done["SkippedUsers"]) == (total, 0, 0)
    pool = cognito.describe_user_pool(UserPoolId=import_pool)["UserPool"]
    assert pool["EstimatedNumberOfUsers"] == total
    user = cognito.admin_get_user(UserPoolId=import_pool, Username=f"user{total - 1}")
    assert user["UserStatus"] == "RESET_REQUIRED"
    print(f"\n[{server.backend}] 100,000-line import: upload {len(body) / 1e6:.1f} MB in {t1 - t0:.2f} s, "
          f"import in {t2 - t1:.2f} s")


def test_a_file_over_the_size_limit_is_refused_streamed_or_not(fresh_server):
    srv = fresh_server({"COGNATE_MAX_IMPORT_BYTES": "4096"})
    pool_id = srv.cognito.create_user_pool(PoolName=f"it-{uid()}")["UserPool"]["Id"]
    header = header_of(srv.cognito, pool_id)
    body = csv_text(header, [person(i) for i in range(200)]).encode()
    assert len(body) > 4096
    job = create_job(srv.cognito, pool_id)
    # Refused from its Content-Length, before a byte is read…
    r = requests.put(job["PreSignedUrl"], data=body, headers=SSE, timeout=30)
    assert r.status_code == 413 and "<Code>EntityTooLarge</Code>" in r.text
    # …and without one (chunked), once the limit is passed.
    r = requests.put(job["PreSignedUrl"], data=(body[i:i + 1000] for i in range(0, len(body), 1000)),
                     headers=SSE, timeout=30)
    assert r.status_code == 413 and "<Code>EntityTooLarge</Code>" in r.text
    # The URL still works for a file within the limit.
    assert upload(job, csv_text(header, [person(1)])).status_code == 200
