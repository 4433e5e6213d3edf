"""Every e-mail's HTML part is placed in the locale's layout template, not in Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from messenger.channels.email import EmailChannel
from messenger.rendering.compose import Composer
from messenger.rendering.environment import TemplateEnvironment


@pytest.fixture
def composer(tmp_path: Path) -> Composer:
    folder = tmp_path / "en"
    folder.mkdir()
    (folder / "note.text.j2").write_text("Hello {{ name }}", encoding="utf-8")
    (folder / "note.email-subject.j2").write_text("News for {{ name }}", encoding="utf-8")
    (folder / "note.email.html.j2").write_text("<p>Hello {{ name }}</p>", encoding="utf-8")
    (folder / "whole.text.j2").write_text("Hi", encoding="utf-8")
    (folder / "whole.email-subject.j2").write_text("Hi", encoding="utf-8")
    (folder / "whole.email.html.j2").write_text("<!DOCTYPE html><html><body>Hi</body></html>", encoding="utf-8")
    return Composer(TemplateEnvironment(override_dir=tmp_path))


def test_the_html_part_sits_in_the_shipped_layout(composer: Composer) -> None:
    content = composer.compose(
        template="note", capabilities=EmailChannel.capabilities, locale="en", context={"name": "A & B"}
    )
    assert content.html is not None
    assert content.html.startswith("<!doctype html>")
    assert '<html lang="en">' in content.html
    assert "<title>News for A &amp; B</title>" in content.html
    # The part was escaped by its own template; the layout must not escape it again.
    assert "<p>Hello A &amp; B</p>" in content.html


def test_a_template_that_is_a_whole_document_is_not_wrapped_again(composer: Composer) -> None:
    content = composer.compose(template="whole", capabilities=EmailChannel.capabilities, locale="en", context={})
    assert content.html == "<!DOCTYPE html><html><body>Hi</body></html>"


def test_a_clinic_can_override_the_layout(tmp_path: Path) -> None:
    folder = tmp_path / "en"
    (folder / "layout").mkdir(parents=True)
    (folder / "layout" / "document.email.html.j2").write_text("<html>{{ content }}</html>", encoding="utf-8")
    (folder / "note.text.j2").write_text("x", encoding="utf-8")
    (folder / "note.email-subject.j2").write_text("x", encoding="utf-8")
    (folder / "note.email.html.j2").write_text("<p>x</p>", encoding="utf-8")
    content = Composer(TemplateEnvironment(override_dir=tmp_path)).compose(
        template="note", capabilities=EmailChannel.capabilities, locale="en", context={}
    )
    assert content.html == "<html><p>x</p></html>"
