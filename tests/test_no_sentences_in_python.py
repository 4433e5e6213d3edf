"""No sentence a patient or staff member reads lives in Python: it belongs in ``templates/<locale>/``.

Every string literal (and the fixed text of every f-string) in ``messenger/`` is scanned. A literal
that reads like prose fails unless it sits where only developers or operators read it; those places
are listed below, each with its reason. Moving a sentence to a template is the fix, not widening
the list.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "messenger"

_WORD = re.compile(r"^[A-Za-z][a-z']*[,;]?$")
_SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|PRAGMA|CREATE|ALTER|DROP|WITH)\b")

# Calls whose text only developers and operators read.
_LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
_LOGGERS = {"log", "logger", "logging"}

# Modules whose every literal is for the person running the program, not for a patient or staff chat.
OPERATOR_MODULES = {
    # The command line: Typer help and console output for whoever installs and runs the bot.
    "cli.py": "command-line help and console output for the operator",
    "migrations/cli.py": "command-line help and console output for the operator",
    "cli_staff.py": "command-line help and console output for the operator",
    "cli_support.py": "configuration errors on the operator's terminal",
    # Why `messenger run` cannot start: one line on the operator's terminal or container log.
    "startup.py": "start-up failures for the operator, naming the setting to change",
    "cli_insights.py": "command-line help and console output for the operator (export, import)",
    # The demo prints a story-time narration on the operator's terminal around the patient messages.
    "demo.py": "the demo's narration on the operator's terminal",
    # Prometheus HELP lines are read by whoever runs the metrics stack.
    "observability/metrics.py": "metric descriptions for the monitoring stack",
    # `messenger templates check` reports template problems to the template author.
    "rendering/check.py": "template-check report for the template author",
}

# PENDING: why a send failed or a message was skipped is stored as English (``last_error``,
# ``status_reason``) and staff alerts quote it. Those reasons are getting stable codes with
# parameters, rendered from templates (issue 8, point 2, second half); drop these two once they do.
REASON_CALLS = {"Failed", "RetryLater"}
REASON_FIELDS = {"reason", "last_error", "status_reason", "WAITING_FOR_CONTACT"}

# Literals that look like prose but are data.
DATA = {
    # A default setting (the clinic's own name, from the article); clinics configure theirs.
    "Renew Ketamine Infusion",
    # Sample data for `templates check`, awkward on purpose to prove escaping.
    "Jane <b>O'Hara</b> & Co",
}


@dataclass(frozen=True, slots=True)
class Literal:
    module: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.text!r}"


def reads_like_a_sentence(text: str) -> bool:
    """Three or more plain words that start with a capital or end like a sentence, or four plain words."""
    stripped = text.strip()
    if _SQL.match(stripped):
        return False
    words = [token for token in stripped.split() if _WORD.match(token)]
    if len(words) < 3:
        return False
    return stripped[:1].isupper() or stripped[-1:] in ".!?…:" or len(words) >= 4


def _text_of(node: ast.JoinedStr) -> str:
    """An f-string's fixed text, each placeholder standing in as one word."""
    return "".join(str(part.value) if isinstance(part, ast.Constant) else " {} " for part in node.values)


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_log_call(node: ast.Call) -> bool:
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in _LOG_METHODS
        and isinstance(func.value, ast.Name)
        and func.value.id in _LOGGERS
    )


def _developer_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and (_is_log_call(node) or _callee(node) in REASON_CALLS)


def _names(targets: list[ast.expr]) -> set[str]:
    """The names an assignment writes: ``x``, ``row.x`` and each of ``a, row.x``."""
    names: set[str] = set()
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


def _exempt_nodes(tree: ast.AST) -> set[int]:
    """Ids of nodes under which literals are for developers: docstrings, logs, raised exceptions."""
    exempt: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                exempt.add(id(first.value))
        elif isinstance(node, ast.Raise) and node.exc is not None:
            # Exception texts are for developers (tracebacks, logs); people get ServiceError codes.
            exempt.add(id(node.exc))
        elif _developer_call(node) or (isinstance(node, ast.keyword) and node.arg in REASON_FIELDS):
            exempt.add(id(node))
        elif isinstance(node, ast.Assign) and REASON_FIELDS & _names(node.targets):
            exempt.add(id(node.value))
    return exempt


def _literals(path: Path, package: Path) -> Iterator[Literal]:
    module = path.relative_to(package).as_posix()
    if module in OPERATOR_MODULES:
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exempt = _exempt_nodes(tree)

    def visit(node: ast.AST) -> Iterator[Literal]:
        if id(node) in exempt:
            return
        if isinstance(node, ast.JoinedStr):
            yield Literal(module, node.lineno, _text_of(node))
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield Literal(module, node.lineno, node.value)
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(tree)


def sentences_in(package: Path) -> list[Literal]:
    return [
        literal
        for path in sorted(package.rglob("*.py"))
        for literal in _literals(path, package)
        if literal.text.strip() not in DATA and reads_like_a_sentence(literal.text)
    ]


def test_no_sentence_a_person_reads_is_written_in_python() -> None:
    found = sentences_in(PACKAGE)
    assert not found, "move these to templates/<locale>/ (bot.toml or a .j2 file):\n" + "\n".join(map(str, found))


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        pytest.param('MENU = [("stop", "Stop all messages")]', True, id="menu-label"),
        pytest.param('problem = f"the series has {n} infusions, {m} were given"', True, id="lowercase-fragment"),
        pytest.param('reasons = ["asked to be contacted"]', True, id="four-words"),
        pytest.param('text = "Thank you."', False, id="two-words"),
        pytest.param('zone = "America/Los_Angeles"', False, id="identifier"),
        pytest.param('log.warning("could not tell the user about the failure")', False, id="log-call"),
        pytest.param('raise ValueError("the offset must be whole days")', False, id="exception-text"),
        pytest.param('def f():\n    """Send the reminder for the next infusion."""', False, id="docstring"),
        pytest.param('sql = "SELECT pg_advisory_xact_lock(1) FROM dual"', False, id="sql"),
    ],
)
def test_the_scan_tells_sentences_from_code(tmp_path: Path, source: str, flagged: bool) -> None:
    (tmp_path / "module.py").write_text(source + "\n", encoding="utf-8")
    assert bool(sentences_in(tmp_path)) is flagged
