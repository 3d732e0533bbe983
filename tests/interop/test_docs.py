"""The README and docs/*.md, run as a new user would run them: every fenced ```sh / ```bash
and ```python block of a document, in order, against a fresh server of its own.

Each document gets a temp dir laid out like the repository root after `cognate serve`:
`cognate-data/` is the server's data dir (so `cognate-data/admin-credentials.json`
resolves), `scripts/` links to the repository's scripts, `cognate` on PATH is COGNATE_BIN,
and `python3` and `aws` come from the interpreter running pytest (its venv's bin dir, with
tests/interop/requirements.txt installed). `http://127.0.0.1:9229` and `127.0.0.1:9229` in
a block are rewritten to the test server's address.

Blocks run one at a time, each in its own process, with the block's working directory and
shell variables carried to the next as a terminal would keep them: a sh block runs under
`bash -euo pipefail` after restoring the variables (exported or not) and the directory the
previous blocks left; a python block runs as `python3 block.py` with the exported variables
only (what a `python3` started from that terminal would see). A block fails the test when
it exits non-zero or outlives BLOCK_TIMEOUT; the failure names the file, the block's line
and shows its text and output.

A block that must not run (installing, starting the server, reference lists of commands
with placeholders) is marked on the line just before its fence:

    <!-- docs-test: skip -->

Skipped blocks are counted per document and must match EXPECTED_SKIPS, so skipping one
more is a deliberate change of this file too.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from cognate_harness import (
    REPO_ROOT,
    CognateServer,
    cognate_bin,
    dispose_server,
    pg_create_database,
    pg_skip_requested,
)

#: The documents under test: the README and every docs/*.md.
DOCS = ["README.md"] + sorted(
    str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "docs").glob("*.md"))

#: Blocks marked `<!-- docs-test: skip -->`, per document (0 when not listed).
EXPECTED_SKIPS = {
    # install + serve; the test suite; the PostgreSQL serve line; the operator reference
    "README.md": 4,
    # the app client as an aws CLI command with a placeholder pool id
    "docs/hosted-login.md": 1,
    # docker build and run (images cannot be pulled where the tests run)
    "docs/operations.md": 1,
}

#: The address the docs use; rewritten to the test server's.
DOC_URL = "http://127.0.0.1:9229"
DOC_HOSTPORT = "127.0.0.1:9229"
BLOCK_TIMEOUT = 120.0
MARKER = "docs-test:"
SKIP_MARKER = "<!-- docs-test: skip -->"
LANGS = {"sh": "sh", "bash": "sh", "shell": "sh", "python": "python", "python3": "python",
         "py": "python"}
FENCE_RE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")


@dataclass
class Block:
    path: str  # relative to the repository root
    line: int  # 1-based line of the opening fence
    lang: str  # "sh" | "python"
    text: str
    skip: bool

    def where(self) -> str:
        return f"{self.path}:{self.line}"


class DocBlockFailed(AssertionError):
    """A documentation block failed (its message has the block, its place and its output)."""


def parse_blocks(markdown: str, path: str) -> list[Block]:
    """The sh/python blocks of a Markdown text, in order. Other fences (json, text, plain)
    are not run. A `docs-test:` comment must be exactly the skip marker and be followed by
    a fence on the next line."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("<!--") and MARKER in line:
            if line.strip() != SKIP_MARKER:
                raise DocBlockFailed(f"{path}:{i + 1}: unknown docs-test marker {line.strip()!r}"
                                     f" (the only one is {SKIP_MARKER!r})")
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if not FENCE_RE.match(nxt):
                raise DocBlockFailed(f"{path}:{i + 1}: {SKIP_MARKER} must be on the line "
                                     "just before a code fence")
        m = FENCE_RE.match(line)
        if not m:
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        info = m.group("info").strip().split()
        lang = LANGS.get(info[0].lower()) if info else None
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            close = lines[j].strip()
            if close.startswith(fence[0] * len(fence)) and not close.strip(fence[0]):
                break
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        if lang:
            skip = i > 0 and lines[i - 1].strip() == SKIP_MARKER
            blocks.append(Block(path, i + 1, lang, "\n".join(body) + "\n", skip))
        i = j + 1
    return blocks


# --------------------------------------------------------------------------- running blocks

# Before each sh block: restore what the earlier blocks left (variables, directory), note
# the shell's own variable names; after it (also on failure): save every other variable.
SH_PROLOGUE = r"""set -euo pipefail
__docs_state=$1
compgen -v | sort > "$__docs_state.base"
if [[ -s "$__docs_state" ]]; then source "$__docs_state"; fi
__docs_save() {
  local __docs_rc=$? __docs_names
  __docs_names=$(compgen -v | sort | comm -13 "$__docs_state.base" - \
    | grep -Ev '^(__docs_.*|BASH.*|_|PIPESTATUS|COLUMNS|LINES|OPTARG|OPTIND|REPLY|FUNCNAME|GROUPS)$' || true)
  {
    if [[ -n "$__docs_names" ]]; then declare -p $__docs_names; fi
    printf 'cd %q\n' "$PWD"
  } > "$__docs_state.new" 2>/dev/null && mv "$__docs_state.new" "$__docs_state"
  exit $__docs_rc
}
trap __docs_save EXIT
# ---- the block
"""

# A python block sees the exported variables and the directory of the terminal.
PY_LAUNCHER = r"""__docs_state=$1; __docs_script=$2
if [[ -s "$__docs_state" ]]; then source "$__docs_state"; fi
exec python3 "$__docs_script"
"""


@dataclass
class Workspace:
    root: Path  # the "repository root" the blocks run in
    env: dict[str, str]
    base_url: str
    n: int = 0

    @property
    def scratch(self) -> Path:
        return self.root / ".docs-test"

    @property
    def state(self) -> Path:
        return self.scratch / "shell-state.sh"


def make_workspace(root: Path, base_url: str, extra_env: dict[str, str] | None = None) -> Workspace:
    """Lay out `root` as a reader's checkout: `cognate` on PATH, `scripts/`, the venv's
    `python3` and `aws`; AWS settings of the machine running the tests are left out."""
    scratch = root / ".docs-test"
    bindir = scratch / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    binary = cognate_bin()
    if not binary.exists():
        pytest.fail(f"cognate binary not found at {binary} (build it or set COGNATE_BIN)",
                    pytrace=False)
    (bindir / "cognate").symlink_to(binary.resolve())
    scripts = root / "scripts"
    if not scripts.exists():
        scripts.symlink_to(REPO_ROOT / "scripts")
    pybin = Path(sys.executable).parent  # the venv's bin: python3, aws (not resolved)
    path = os.pathsep.join([str(bindir), str(pybin), os.environ.get("PATH", "/usr/bin:/bin")])
    if shutil.which("aws", path=path) is None:
        pytest.fail(f"the AWS CLI (`aws`) is not installed beside {sys.executable}; "
                    "pip install -r tests/interop/requirements.txt", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COGNATE_", "AWS_"))}
    env.update({
        "PATH": path,
        "AWS_CONFIG_FILE": str(scratch / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "aws-credentials"),
        "AWS_PAGER": "",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra_env or {})
    return Workspace(root=root, env=env, base_url=base_url)


def rewrite(text: str, base_url: str) -> str:
    hostport = base_url.split("://", 1)[-1]
    return text.replace(DOC_URL, base_url).replace(DOC_HOSTPORT, hostport)


def run_block(ws: Workspace, block: Block, timeout: float = BLOCK_TIMEOUT) -> str:
    """Runs one block; returns its output, raises DocBlockFailed on failure or timeout."""
    ws.n += 1
    text = rewrite(block.text, ws.base_url)
    if block.lang == "sh":
        script = ws.scratch / f"block-{ws.n:02d}.sh"
        script.write_text(SH_PROLOGUE + text)
        argv = ["bash", str(script), str(ws.state)]
    else:
        script = ws.scratch / f"block-{ws.n:02d}.py"
        script.write_text(text)
        launcher = ws.scratch / "python-launcher.sh"
        launcher.write_text(PY_LAUNCHER)
        argv = ["bash", str(launcher), str(ws.state), str(script)]
    proc = subprocess.Popen(argv, cwd=ws.root, env=ws.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        status = f"exit code {proc.returncode}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        status = f"timeout after {timeout:.0f}s"
    output = out.decode("utf-8", "replace")
    if status != "exit code 0":
        raise DocBlockFailed(
            f"{block.where()}: the ```{block.lang} block failed ({status})\n"
            f"--- block ({block.where()}) ---\n{block.text.rstrip()}\n"
            f"--- output ---\n{output[-6000:].rstrip() or '<none>'}\n")
    return output


def run_document(ws: Workspace, blocks: list[Block]) -> list[tuple[Block, str]]:
    """Runs the document's runnable blocks in order; stops at the first failure."""
    return [(b, run_block(ws, b)) for b in blocks if not b.skip]


# --------------------------------------------------------------------------- the documents


def doc_blocks(doc: str) -> list[Block]:
    return parse_blocks((REPO_ROOT / doc).read_text(encoding="utf-8"), doc)


def start_doc_server(backend: str, root: Path) -> CognateServer:
    """A server whose data dir is `root/cognate-data`, run from `root` (like `cognate serve`
    in a checkout); on PostgreSQL a fresh database."""
    db_url = pg_create_database() if backend == "postgres" else None
    data_dir = root / "cognate-data"
    data_dir.mkdir()
    server = CognateServer(backend=backend, data_dir=data_dir, database_url=db_url)
    try:
        server.start()
    except BaseException:
        dispose_server(server)
        raise
    return server


@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize("doc", DOCS)
def test_doc_runs_as_written(doc, backend):
    blocks = doc_blocks(doc)
    skipped = sum(b.skip for b in blocks)
    assert skipped == EXPECTED_SKIPS.get(doc, 0), (
        f"{doc}: {skipped} blocks are marked {SKIP_MARKER!r}, expected "
        f"{EXPECTED_SKIPS.get(doc, 0)}: {[b.where() for b in blocks if b.skip]}")
    runnable = [b for b in blocks if not b.skip]
    if not runnable:
        return
    if backend == "postgres" and pg_skip_requested():
        pytest.skip("COGNATE_SKIP_PG=1: PostgreSQL backend skipped on request")
    root = Path(tempfile.mkdtemp(prefix="cognate-docs-"))
    server = start_doc_server(backend, root)
    failure = None
    try:
        extra = {"COGNATE_DATABASE_URL": server.database_url} if server.database_url else {}
        ws = make_workspace(root, server.url, extra)
        try:
            run_document(ws, blocks)
        except DocBlockFailed as exc:
            failure = (f"{exc}--- cognate serve stderr ({backend}, tail) ---\n"
                       f"{server.log_tail(3000)}")
    finally:
        dispose_server(server)
    if failure:
        pytest.fail(failure, pytrace=False)
    print(f"{doc} ({backend}): {len(runnable)} blocks ran, {skipped} skipped")


# --------------------------------------------------------------------------- the runner itself


def test_parser_finds_blocks_markers_and_lines():
    md = ("# T\n\n<!-- docs-test: skip -->\n```sh\ncargo install x\n```\n\n```json\n{}\n```\n"
          "```bash\necho hi\n```\n  ```python\n  print(1)\n  ```\n")
    blocks = parse_blocks(md, "t.md")
    assert [(b.line, b.lang, b.skip) for b in blocks] == [(4, "sh", True), (11, "sh", False),
                                                          (14, "python", False)]
    assert blocks[2].text == "print(1)\n"
    with pytest.raises(DocBlockFailed, match="t.md:1: unknown docs-test marker"):
        parse_blocks("<!-- docs-test: skip please -->\n```sh\ntrue\n```\n", "t.md")
    with pytest.raises(DocBlockFailed, match="just before a code fence"):
        parse_blocks("<!-- docs-test: skip -->\n\n```sh\ntrue\n```\n", "t.md")


def test_runner_carries_state_and_fails_on_a_broken_block(tmp_path):
    """State carries between blocks as in one terminal, and a failing block fails with its
    place, text and output (the runner must be able to fail)."""
    ws = make_workspace(tmp_path, DOC_URL)
    md = ("```sh\nexport SHARED=exported; LOCAL='not exported'; mkdir -p sub; cd sub\n```\n"
          "```sh\necho \"$SHARED $LOCAL $(basename \"$PWD\")\"\n```\n"
          "```python\nimport os; print(os.environ.get('SHARED'), os.environ.get('LOCAL'),"
          " os.path.basename(os.getcwd()))\n```\n"
          "```sh\necho before\ncognate definitely-not-a-command\necho after\n```\n")
    blocks = parse_blocks(md, "broken.md")
    assert run_block(ws, blocks[0]) == ""
    assert run_block(ws, blocks[1]).strip() == "exported not exported sub"
    assert run_block(ws, blocks[2]).strip() == "exported None sub"
    with pytest.raises(DocBlockFailed) as info:
        run_block(ws, blocks[3])
    msg = str(info.value)
    assert msg.startswith("broken.md:10: the ```sh block failed (exit code 2)"), msg
    assert "cognate definitely-not-a-command" in msg and "before" in msg
    assert "after" not in msg.split("--- output ---")[1], msg
    # an undefined variable fails too (set -u), and so does a timeout
    with pytest.raises(DocBlockFailed, match="exit code 1"):
        run_block(ws, parse_blocks("```sh\necho \"$NEVER_DEFINED\"\n```\n", "u.md")[0])
    with pytest.raises(DocBlockFailed, match="timeout after 1s"):
        run_block(ws, parse_blocks("```python\nimport time; time.sleep(30)\n```\n", "t.md")[0],
                  timeout=1)


def test_doc_addresses_are_rewritten():
    assert rewrite("curl http://127.0.0.1:9229/v1 --x 127.0.0.1:9229", "http://127.0.0.1:4242") \
        == "curl http://127.0.0.1:4242/v1 --x 127.0.0.1:4242"
