"""README.md and docs/*.md stay true: every relative link resolves (inside the repository), and
every command in a fenced code block (or an inline code span that starts like a command) that
runs a repository script names a script that exists, with only options its --help lists;
`make <target>` lines name targets of the Makefile.

Commands are `python x.py`, `.venv/bin/python x.py`, `$(PY) x.py`, `python -m cProfile ... x.py`,
`accelerate launch ... x.py` / `torchrun ... x.py` (the launcher's own options are not checked)
and `bash x.sh` (existence only); lines continued with '\\' are joined and comments dropped.
Links may carry an #anchor, which must name a heading of the linked markdown file.

The cheap checks (links, scripts exist, make targets) run in the fast suite; the option check
runs each named script's --help once (cached; through the tests' script server) and is marked slow."""
from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import REPO_ROOT, run_script

DOC_FILES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"`[^`]*`")
OPTION = re.compile(r"^\[?(--[A-Za-z0-9][\w-]*)")
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
INTERPRETER = re.compile(r"^(\$\(PY\)|\$\{PY\}|\$PY|(\S*/)?python(3(\.\d+)?)?)$")
LAUNCHERS = {"accelerate", "torchrun"}
PROFILERS = {"cProfile", "profile", "trace"}        # `python -m cProfile ... script.py` runs the script
SEPARATORS = {"&&", "||", ";", "|"}
# An inline code span is taken for a command when it starts like one.
INLINE_COMMAND = re.compile(r"^([A-Za-z_]\w*=\S+\s+)*(python3?|\S*/bin/python|\$\(PY\)|accelerate|torchrun|bash|make)\s")
PLACEHOLDER_SCRIPTS = {"path/to/script.py"}         # "run any script as .venv/bin/python path/to/script.py"


def rel(path: Path) -> str:
    """A repository path as written in messages (other paths, e.g. the self-test's, in full)."""
    return str(path.relative_to(REPO_ROOT)) if REPO_ROOT in path.parents else str(path)


# ----------------------------------------------------------------------------- reading the docs

@dataclass
class Doc:
    path: Path
    prose: list[tuple[int, str]] = field(default_factory=list)      # (line number, text)
    code: list[tuple[int, str]] = field(default_factory=list)       # logical lines of fenced blocks
    inline: list[tuple[int, str]] = field(default_factory=list)     # inline code spans that are commands


@functools.lru_cache(maxsize=None)
def read_doc(path: Path) -> Doc:
    doc = Doc(path)
    in_code = False
    pending: tuple[int, str] | None = None                          # a line continued with '\'
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if FENCE.match(line):
            in_code = not in_code
            pending = None
            continue
        if not in_code:
            doc.prose.append((number, line))
            continue
        if pending is not None:
            number, line = pending[0], pending[1] + " " + line.strip()
        if line.rstrip().endswith("\\"):
            pending = (number, line.rstrip()[:-1].rstrip())
            continue
        pending = None
        doc.code.append((number, line.strip()))
    paragraph: list[tuple[int, str]] = []                          # spans may wrap across lines
    for number, line in [*doc.prose, (0, "")]:
        if line.strip():
            paragraph.append((number, line))
            continue
        text = "\n".join(text for _, text in paragraph)
        for match in re.finditer(r"`([^`]+)`", text):
            span = " ".join(match.group(1).split())
            if INLINE_COMMAND.match(span + " "):
                doc.inline.append((paragraph[text[:match.start()].count("\n")][0], span))
        paragraph = []
    return doc


def strip_comment(line: str) -> str:
    """The line up to a shell comment: a '#' outside quotes, at the start or after whitespace."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def split_commands(line: str) -> list[list[str]]:
    """Simple commands of a shell line (split at &&, ||, ;, |; sub-shell parentheses dropped)."""
    tokens = shlex.split(strip_comment(line))
    commands, current = [], []
    for token in tokens:
        if token.startswith("(") and not token.startswith("$("):
            token = token[1:]
        if token.count(")") > token.count("("):
            token = token.rstrip(")")
        ends = token.endswith(";") and token not in SEPARATORS
        token = token.rstrip(";") if ends else token
        if token in SEPARATORS:
            commands.append(current)
            current = []
        elif token:
            current.append(token)
        if ends:
            commands.append(current)
            current = []
    commands.append(current)
    return [c for c in commands if c]


@dataclass(frozen=True)
class ScriptCall:
    doc: str            # e.g. docs/dlcr.md
    line: int
    script: str         # repo-relative path as written
    options: tuple[str, ...]
    kind: str           # "python" or "bash"

    def where(self) -> str:
        return f"{self.doc}:{self.line}"


@dataclass(frozen=True)
class MakeCall:
    doc: str
    line: int
    targets: tuple[str, ...]


def parse_command(doc: str, line: int, words: list[str]) -> ScriptCall | MakeCall | None:
    """What a simple command runs, if it is a repository script or a make target."""
    while words and ENV_ASSIGNMENT.match(words[0]):
        words = words[1:]
    if not words:
        return None
    head, rest = words[0], words[1:]
    if head == "make":
        return MakeCall(doc, line, tuple(w for w in rest if not w.startswith("-") and "=" not in w))
    if head == "bash" and rest and not rest[0].startswith("-"):
        return ScriptCall(doc, line, rest[0], (), "bash")
    if head in LAUNCHERS or INTERPRETER.match(head):
        rest = rest[1:] if head == "accelerate" and rest[:1] == ["launch"] else rest
        for i, word in enumerate(rest):
            if head not in LAUNCHERS and word in ("-m", "-c"):
                if word == "-c" or i + 1 >= len(rest) or rest[i + 1] not in PROFILERS:
                    return None                                 # python -m pip / -c '...': no repo script
            if word.endswith(".py"):
                options = tuple(m.group(1).split("=")[0] for w in rest[i + 1:] if (m := OPTION.match(w)))
                return ScriptCall(doc, line, word, options, "python")
        return None
    return None


def calls_in(path: Path) -> list[ScriptCall | MakeCall]:
    calls = []
    doc = read_doc(path)
    for line_number, line in [*doc.code, *doc.inline]:
        try:
            commands = split_commands(line)
        except ValueError as error:                             # unbalanced quotes
            if re.search(r"\.py\b|\.sh\b|^make\b", line):
                raise AssertionError(f"{rel(path)}:{line_number}: cannot parse the command ({error}): {line}")
            continue
        for words in commands:
            call = parse_command(rel(path), line_number, words)
            if call is not None:
                calls.append(call)
    return calls


def all_calls() -> list[ScriptCall | MakeCall]:
    return [call for path in DOC_FILES for call in calls_in(path)]


# ----------------------------------------------------------------------------- what exists

def makefile_targets() -> set[str]:
    targets = set()
    for line in (REPO_ROOT / "Makefile").read_text(encoding="utf-8").split("\n"):
        match = re.match(r"^([^\s#:=][^:=#]*?)\s*:(?!=)", line)
        if match and not match.group(1).startswith("."):
            targets.update(t for t in match.group(1).split() if "$" not in t and "%" not in t)
    return targets


def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a markdown file."""
    anchors, seen = set(), {}
    for _, line in read_doc(path).prose:
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


@functools.lru_cache(maxsize=None)
def script_help(script: str) -> subprocess.CompletedProcess:
    """``python <script> --help`` on a wide terminal (through the tests' script server)."""
    return run_script(script, "--help", check=False, timeout=300,
                      env={"COLUMNS": "1000", "HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1",
                           "YOLO_CONFIG_DIR": os.environ.get("YOLO_CONFIG_DIR",
                                                             str(REPO_ROOT / "output" / ".ultralytics"))})


# ----------------------------------------------------------------------------- the parser itself

def test_parser_finds_scripts_options_and_targets():
    line = ("OMP_NUM_THREADS=1 accelerate launch --num_processes 2 opengait/opengait/main.py --cfgs <yaml> "
            "--set \"a.b=[1, 2]\" --phase=train   # data parallel --not-an-option")
    [call] = [parse_command("x.md", 1, words) for words in split_commands(line)]
    assert call == ScriptCall("x.md", 1, "opengait/opengait/main.py", ("--cfgs", "--set", "--phase"), "python")
    assert parse_command("x.md", 1, ["python", "-m", "pip", "install", "-r", "requirements.txt"]) is None
    call = parse_command("x.md", 1, shlex.split("python -m cProfile -o p.prof tools/x.py --a 1 [--b <c>]"))
    assert call.script == "tools/x.py" and call.options == ("--a", "--b")
    assert parse_command("x.md", 1, ["$(PY)", "a/b.py", "--out=x"]).options == ("--out",)
    assert parse_command("x.md", 1, ["make", "demo", "DEMO_CFG=x.yaml"]) == MakeCall("x.md", 1, ("demo",))
    words = split_commands("(cd $RAW/videos && ls *-nm-01-090.avi) > list.txt; python a.py --x")
    assert [w[0] for w in words] == ["cd", "ls", "python"]
    assert read_doc(REPO_ROOT / "README.md").code, "README.md has no fenced code block"
    assert INLINE_COMMAND.match("OMP_NUM_THREADS=1 python x.py ") and not INLINE_COMMAND.match("pythonic ")
    assert {"demo", "test", "test-fast", "install"} <= makefile_targets()


# ----------------------------------------------------------------------------- the checks

def link_problems(paths: list[Path], root: Path = REPO_ROOT) -> list[str]:
    problems = []
    for path in paths:
        for number, line in read_doc(path).prose:
            for target in LINK.findall(INLINE_CODE.sub("", line)):
                if re.match(r"^(https?:|mailto:|#)", target):
                    continue
                file_part, _, anchor = target.partition("#")
                resolved = (path.parent / file_part).resolve()
                if root.resolve() not in (resolved, *resolved.parents):
                    problems.append(f"{rel(path)}:{number}: link {target!r} leaves the repository")
                elif not resolved.exists():
                    problems.append(f"{rel(path)}:{number}: link {target!r} -> {resolved} does not exist")
                elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved):
                    problems.append(f"{rel(path)}:{number}: link {target!r}: no heading with anchor "
                                    f"#{anchor} in {rel(resolved)}")
    return problems


def command_problems(paths: list[Path]) -> list[str]:
    """Scripts that do not exist, make targets the Makefile does not have."""
    targets = makefile_targets()
    problems = []
    for call in (call for path in paths for call in calls_in(path)):
        if isinstance(call, MakeCall):
            problems += [f"{call.doc}:{call.line}: `make {t}`: no target {t!r} in the Makefile"
                         for t in call.targets if t not in targets]
        elif call.script in PLACEHOLDER_SCRIPTS:
            continue
        elif re.search(r"[$<>*]", call.script) or os.path.isabs(call.script):
            problems.append(f"{call.where()}: {call.script!r} is not a repository path")
        elif not (REPO_ROOT / call.script).is_file():
            problems.append(f"{call.where()}: script {call.script} does not exist")
    return problems


def option_problems(paths: list[Path]) -> list[str]:
    """Options of python script commands that the script's --help does not list."""
    problems = []
    for call in (call for path in paths for call in calls_in(path)):
        if not isinstance(call, ScriptCall) or call.kind != "python" or not call.options:
            continue
        if call.script in PLACEHOLDER_SCRIPTS or not (REPO_ROOT / call.script).is_file():
            continue                                            # reported by command_problems
        result = script_help(call.script)
        if result.returncode != 0 or "usage" not in result.stdout.lower():
            problems.append(f"{call.where()}: `{call.script} --help` exited {result.returncode}: "
                            f"{(result.stderr or result.stdout).strip()[-500:]}")
            continue
        for option in dict.fromkeys(call.options):
            if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.stdout):
                problems.append(f"{call.where()}: {call.script} has no option {option} (not in its --help)")
    return problems


def write_wrong_doc(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = folder / "wrong.md"
    doc.write_text("# Wrong\n\n[gone](missing.md), [anchor](wrong.md#nowhere), [out](../../x.md)\n\n"
                   "```bash\npython datasets_preprocess/no_such_script.py --out x\nmake no-such-target\n"
                   "python datasets_preprocess/validate_pretreated.py \\\n    --root r --no-such-option 1\n```\n"
                   "Inline: `make demo` and `python datasets_preprocess/validate_pretreated.py --nor-this`.\n",
                   encoding="utf-8")
    return doc


def test_checks_report_the_file_line_and_what_is_wrong(tmp_path):
    doc = write_wrong_doc(tmp_path / "a" / "b")
    links = link_problems([doc], root=tmp_path / "a")
    assert [p.split(": link ")[1].split("'")[1] for p in links] == ["missing.md", "wrong.md#nowhere", "../../x.md"]
    assert all(p.startswith(f"{doc}:3: ") for p in links), links
    assert command_problems([doc]) == [
        f"{doc}:6: script datasets_preprocess/no_such_script.py does not exist",
        f"{doc}:7: `make no-such-target`: no target 'no-such-target' in the Makefile"]


# ----------------------------------------------------------------------------- the docs of this repository

def test_relative_links_point_to_existing_files():
    problems = link_problems(DOC_FILES)
    assert not problems, "broken links in the docs:\n" + "\n".join(problems)


def test_commands_name_existing_scripts_and_make_targets():
    assert sum(isinstance(c, ScriptCall) for c in all_calls()) >= 20, "the command parser found too few commands"
    problems = command_problems(DOC_FILES)
    assert not problems, "commands in the docs that cannot run:\n" + "\n".join(problems)


@pytest.mark.slow
def test_command_options_appear_in_the_scripts_help(tmp_path):
    doc = write_wrong_doc(tmp_path)                              # the check itself reports wrong options
    assert option_problems([doc]) == [
        f"{doc}:8: datasets_preprocess/validate_pretreated.py has no option --no-such-option (not in its --help)",
        f"{doc}:11: datasets_preprocess/validate_pretreated.py has no option --nor-this (not in its --help)"]
    problems = option_problems(DOC_FILES)
    assert not problems, "options in the docs that the scripts do not take:\n" + "\n".join(problems)
