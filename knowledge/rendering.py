"""Markdown of reflex sheets rendered to HTML that is safe to put in a page or a mail.

markdown-it-py parses with raw HTML disabled (`<script>` stays text), then nh3 (the Ammonia sanitizer)
keeps only a small set of tags and the http, https and mailto link schemes: a `javascript:` link or any
HTML that slipped through is removed, whatever the sheet's author typed.
"""
from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "h2", "h3", "h4", "blockquote", "code", "pre", "a",
                "hr", "table", "thead", "tbody", "tr", "th", "td"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"scope"}}
URL_SCHEMES = {"http", "https", "mailto"}

_parser = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> str:
    """Sanitized HTML of a Markdown text (headings start at h2: the page owns h1)."""
    html = _parser.render(text or "")
    html = html.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer")


def plain_text(text: str) -> str:
    """The sheet's Markdown as plain text for the text part of a mail (tags stripped)."""
    return nh3.clean(_parser.render(text or ""), tags=set()).strip()
