"""The dates a page declares in its markup (ragchips.htmldates)."""

from __future__ import annotations

import pytest

from ragchips.htmldates import declared_dates, parse_dates


@pytest.mark.parametrize(
    "html",
    [
        '<meta property="article:published_time" content="2024-03-13T08:00:00+01:00">',
        '<meta name="DC.date" content="13/03/2024">',
        '<meta name="pubdate" content="20240313">',
        '<time datetime="2024-03-13">hier</time>',
        "<time>13 mars 2024</time>",
        '<abbr class="published" title="2024-03-13T10:00">13/3</abbr>',
        '<span class="date"><b>13</b> mars 2024</span>',
        '<div class="entry-date">March 13, 2024</div>',
        '<script type="application/ld+json">{"datePublished": "2024-03-13T10:00"}</script>',
    ],
)
def test_every_usual_declaration_is_read(html: str) -> None:
    assert declared_dates(f"<html><head>{html}</head><body><p>Texte</p></body></html>") == {
        "2024-03-13"
    }


def test_dates_in_the_text_are_not_declared() -> None:
    html = (
        "<p>Linux hote 5.10.0 (2021-04-09) x86_64, mis à jour le 13 mars 2024.</p>"
        "<pre>Last login: Thu May 13 08:47:13 2021</pre>"
        '<script>var d = "2020-01-01";</script>'
        '<meta name="generator" content="DocBook 2023-02-04">'
    )
    assert declared_dates(html) == set()


def test_parse_dates_reads_both_orders_only_when_one_is_possible() -> None:
    assert parse_dates("03/13/2024") == {"2024-03-13"}  # month first: 13 is no month
    assert parse_dates("04/03/2024") == {"2024-03-04"}  # day first, as in French
    assert parse_dates("31/02/2024 et 2024-13-01") == set()  # no such days
    assert parse_dates("le 1er août 2023") == {"2023-08-01"}


def test_broken_markup_does_not_crash() -> None:
    assert declared_dates("<time datetime=") == set()
    assert declared_dates('<span class="date">13 mars 2024') == set()  # never closed
    assert declared_dates("") == set()


def test_a_class_that_only_contains_the_letters_is_no_date() -> None:
    html = '<ul class="timeline"><li>13 mars 2024</li></ul><div class="runtime">13/03/2024</div>'
    assert declared_dates(html) == set()
    assert declared_dates('<div class="post-date">13/03/2024</div>') == {"2024-03-13"}
