"""Message templates: Jinja2 in a sandbox, several variants, with size, time and memory caps.

A template file holds one or more variants separated by a line ``---``. Variants rotate, so
two consecutive messages of a campaign never come from the same variant (the suspension that
started this product was for near-identical messages). Each variant is a Jinja2 template
rendered by ``SandboxedEnvironment`` with the recipient's fields (``name``, ``first_name``,
``handle``, ``platform``, ``link``, ``ref``, ``tags``); an email variant may start with a line
``Subject: ...``.

A sandbox blocks attribute tricks (``__class__.__mro__``, ``|attr('format')``) but not
memory or time (reliability check 24; Jinja2's own docs say so), so rendering runs in a
worker process (``python -m exporters.campaigns.templates``) with an address-space limit, a
CPU limit, and a wall-clock timeout the parent enforces (``RENDER_SECONDS``) by killing it;
string repetition and powers are capped before they run, ``range`` is capped, and output
stops at ``MAX_OUTPUT`` characters.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any

from backup.errors import UsageError

# Reliability check 24: output <= 10 KB, render <= 1 s in a subprocess.
MAX_OUTPUT = 10_000
RENDER_SECONDS = 1.0
STARTUP_SECONDS = 5.0  # the worker's own start, on a busy machine
# The template file itself: a few variants of a short message.
MAX_TEMPLATE_CHARS = 20_000
MAX_VARIANTS = 20
# Jinja2's sandbox allows range(100000); a message needs no loop longer than this.
MAX_RANGE = 1_000
# The worker's address space and CPU time (a sandbox does not limit memory).
WORKER_MEMORY = 512 * 1024 * 1024
WORKER_CPU_SECONDS = 30
# A recipient's own fields (names, handles) are cut to this many characters.
MAX_FIELD = 64

_WORKER_ENV = frozenset({"PATH", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "LANG", "LC_ALL", "LC_CTYPE", "SYSTEMROOT", "TMPDIR"})

SEPARATOR = re.compile(r"^---[ \t]*\r?$", re.MULTILINE)
SUBJECT = re.compile(r"\ASubject:[ \t]*(.*?)[ \t]*(?:\r?\n|\Z)", re.IGNORECASE)

# Characters that change how text is shown or hide text: controls, bidi overrides and
# isolates (Trojan Source), zero-width characters, the BOM, lone surrogates.
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
_LINE_BREAKS = re.compile(r"[\r\n\t\u2028\u2029\x0b\x0c\x85]+")


class TemplateError(UsageError):
    """A template that does not parse, fails to render, or breaks a cap."""


def split_variants(source: str) -> list[str]:
    """The variants of a template file: split on lines ``---``, blank variants dropped."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"the template has {len(source):,} characters; the limit is {MAX_TEMPLATE_CHARS:,}")
    source = source.lstrip("\ufeff").replace("\r\n", "\n")
    variants = [part.strip("\n") for part in SEPARATOR.split(source)]
    variants = [v for v in variants if v.strip()]
    if not variants:
        raise TemplateError("the template is empty", hint="write the message; separate variants with a line ---")
    if len(variants) > MAX_VARIANTS:
        raise TemplateError(f"the template has {len(variants)} variants; the limit is {MAX_VARIANTS}")
    seen: dict[str, int] = {}
    for i, variant in enumerate(variants):
        key = " ".join(variant.split())
        if key in seen:
            raise TemplateError(f"variants {seen[key] + 1} and {i + 1} are the same", hint="each variant must say it differently")
        seen[key] = i
    return variants


def check_syntax(variants: Sequence[str]) -> None:
    """Parse every variant in the sandbox; a syntax error names the variant and line."""
    import jinja2

    env = _environment()
    for i, variant in enumerate(variants):
        try:
            env.parse(variant)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template variant {i + 1}, line {exc.lineno}: {exc.message}") from None


def clean_field(value: Any, *, social: bool = False, limit: int = MAX_FIELD) -> str:
    """A recipient's field made safe to put into a message.

    Hidden and control characters go, line breaks become spaces (no header or line
    injection), and the length is capped. On social channels ``@`` becomes a full-width ``＠``
    so that a display name like ``Bo @victim@evil.example`` cannot mention (and so message)
    someone else.
    """
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    text = _LINE_BREAKS.sub(" ", text)
    text = _HIDDEN.sub("", text)
    text = " ".join(text.split())
    if social:
        text = text.replace("@", "\uff20")
    return text[:limit].strip()


def clean_output(text: str) -> str:
    """A rendered message: hidden characters removed (line breaks kept), ends trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _HIDDEN.sub("", text.replace("\t", " "))
    return text.strip()


def split_subject(text: str) -> tuple[str | None, str]:
    """An email variant's first line ``Subject: ...`` and the body after it."""
    match = SUBJECT.match(text)
    if not match:
        return None, text
    return match.group(1)[:200], text[match.end():].lstrip("\n")


# ---------------------------------------------------------------------------------------------
# The sandbox (used inside the worker process, and for parsing in the parent)


def _environment():
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    class CappedSandbox(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+"})

        def call_binop(self, context, operator, left, right):
            if operator == "**":
                if isinstance(right, (int, float)) and abs(right) > 64:
                    raise jinja2.sandbox.SecurityError("exponent too large")
            elif operator == "*":
                for seq, times in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_OUTPUT:
                        raise jinja2.sandbox.SecurityError("repetition too large")
            elif (operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple))
                  and len(left) + len(right) > MAX_OUTPUT):
                raise jinja2.sandbox.SecurityError("string too large")
            return super().call_binop(context, operator, left, right)

    def capped_range(*args):
        r = range(*args)
        if len(r) > MAX_RANGE:
            raise jinja2.sandbox.SecurityError(f"range too long (more than {MAX_RANGE})")
        return r

    def finalize(value):
        if isinstance(value, jinja2.Undefined):
            return str(value)  # StrictUndefined raises UndefinedError here, naming the field
        if callable(value):  # `{{ name.format }}` would print a function's repr
            raise jinja2.sandbox.SecurityError("a template can print values, not functions")
        return value

    env = CappedSandbox(autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=False, finalize=finalize)
    env.globals["range"] = capped_range
    return env


def render_in_process(env, template, context: dict) -> str:
    """Render with the output cap (call only inside the worker: no time or memory limit here)."""
    out: list[str] = []
    size = 0
    for chunk in template.generate(**context):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise OverflowError(f"the message is longer than {MAX_OUTPUT:,} characters")
        out.append(chunk)
    return "".join(out)


def _worker_main() -> None:  # pragma: no cover - runs in the worker process
    import resource

    import jinja2

    for limit, value in ((resource.RLIMIT_AS, WORKER_MEMORY), (resource.RLIMIT_CPU, WORKER_CPU_SECONDS)):
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):
            pass
    env = _environment()
    first = sys.stdin.readline()
    if not first:
        return
    templates = []
    for source in json.loads(first):
        templates.append(env.from_string(source))
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            text = render_in_process(env, templates[request["variant"]], request["context"])
            answer = {"text": text}
        except jinja2.exceptions.SecurityError as exc:
            answer = {"error": f"not allowed in a template: {exc}"}
        except jinja2.UndefinedError as exc:
            answer = {"error": f"{exc} (fields: name, first_name, handle, platform, link, ref, tags)"}
        except jinja2.TemplateError as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        except MemoryError:
            answer = {"error": "the template needs too much memory"}
        except RecursionError:
            answer = {"error": "the template nests too deeply"}
        except Exception as exc:  # noqa: BLE001 - any failure of a user's template is reported, never a crash
            answer = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


class Renderer:
    """Renders variants in a worker process; one worker per campaign run, restarted after a kill.

    ``render(variant, context)`` returns the cleaned text or raises ``TemplateError``.
    """

    def __init__(self, variants: Sequence[str], *, timeout: float = RENDER_SECONDS):
        check_syntax(variants)
        self.variants = list(variants)
        self.timeout = timeout
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> Renderer:  # noqa: PYI034 - a final class
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> subprocess.Popen:
        # Only what Python needs to start: no tokens, passwords or fault points reach the worker.
        env = {k: v for k, v in os.environ.items() if k in _WORKER_ENV}
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporters.campaigns.templates"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, text=True, encoding="utf-8", bufsize=1,
        )
        proc.stdin.write(json.dumps(self.variants) + "\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], STARTUP_SECONDS)
        if not ready or not proc.stdout.readline():
            proc.kill()
            proc.wait()
            raise TemplateError("the template renderer did not start")
        return proc

    def render(self, variant: int, context: dict) -> str:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        proc = self._proc
        try:
            proc.stdin.write(json.dumps({"variant": variant, "context": context}) + "\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._kill()
            raise TemplateError("the template worker stopped (the template may need too much memory)") from None
        ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
        if not ready:
            self._kill()
            raise TemplateError(f"template variant {variant + 1} took longer than {self.timeout:g} s to render")
        line = proc.stdout.readline()
        if not line:
            self._kill()
            raise TemplateError(f"template variant {variant + 1} stopped the renderer (too much memory or time)")
        answer = json.loads(line)
        if "error" in answer:
            raise TemplateError(f"template variant {variant + 1}: {answer['error']}")
        return clean_output(answer["text"])

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        if self._proc is not None:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
            self._proc = None


if __name__ == "__main__":  # pragma: no cover
    _worker_main()
