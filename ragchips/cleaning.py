"""Keep page furniture out of the index without touching the text.

Scraped articles carry cookie banners, "recent posts" lists, share buttons, image credits and
metadata lines, and Markdown pages a YAML front matter (:mod:`ragchips.frontmatter`).
Indexing them makes every article match "consentement" and pollutes answers, so they are
found by general rules (vocabulary and layout, never strings of particular files) and
*skipped*: the text itself is never edited, so every span the chunker produces still points
into the document exactly as it was read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Cleaned", "clean", "find_title"]

_SOCIAL_NETWORKS = (
    r"wechat|weibo|twitter|facebook|linkedin|instagram|tiktok|youtube|telegram|whatsapp|"
    r"mastodon|bluesky|threads|pinterest|snapchat|newsletter|compte public|r[ée]seaux sociaux|"
    r"flux rss|rss feed"
)
# On a web page, any short line about cookies or consent is its banner or footer ("Vous
# pouvez retirer votre consentement à tout moment.", "… - Nous contacter - Cookies").
_WEB_CONSENT = re.compile(
    r"consentement|\bcookies?\b|\bconsent\b|\btraceurs\b|\brgpd\b|\bgdpr\b|"
    r"tout accepter|accept all|politique de confidentialit[ée]|privacy policy|"
    r"param[ée]trer vos choix|g[ée]rer (vos|mes) (choix|pr[ée]f[ée]rences)",
    re.IGNORECASE,
)
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        # A consent banner asks the reader to act on cookies or consent ("Tout accepter",
        # "Pour gérer vos consentements :"); a text about them ("Conformément au RGPD, vous
        # disposez d'un droit d'accès…", "Le site n'utilise aucun cookie…", a glossary's
        # "Consentement : …") is body text, and was once dropped from legal notices.
        "consent",
        re.compile(
            r"tout accepter|tout refuser|accept all|reject all|param[ée]trer vos choix|"
            r"g[ée]rer (vos|mes) (choix|pr[ée]f[ée]rences|consentements?|cookies)|"
            r"en poursuivant (votre|la) navigation|\bj'accepte\b|accept cookies|"
            r"manage (your )?(cookie|consent|privacy) (settings|preferences|choices)",
            re.IGNORECASE,
        ),
    ),
    (
        "metadata",
        re.compile(
            r"^\s*(categor(y|ies)|cat[ée]gories?|tags?|mots[- ]cl[ée]s|published( on)?|"
            r"publi[ée] le|mis [àa] jour le|updated( on)?|posted( on| in)?|rubriques?)\s*:|"
            r"\b\d+\s*min(ute)?s?\s+(read|de lecture)\b|\b\d+\s+(words|mots)\s*//|"
            r"//\s*categor",
            re.IGNORECASE,
        ),
    ),
    (
        "social",
        re.compile(
            rf"^(?=.*\b(suivre|suivez|follow|abonnez|abonne[rz]|subscribe|rejoignez|join)\b)"
            rf"(?=.*({_SOCIAL_NETWORKS}))|"
            r"^(?=.*[|·•])(?=.*\b(partager|share|commentaires|comments|lien original|"
            r"original link|tweet(er)?|imprimer|print)\b)",
            re.IGNORECASE,
        ),
    ),
    (
        "image-credit",
        re.compile(
            r"source de l['’]image|cr[ée]dits?\s*(photo|image)s?|(image|photo) credits?|"
            r"^\s*[▲△▼▽↑]|^\s*(photo|illustration|image|cr[ée]dit)\s*:|©",
            re.IGNORECASE,
        ),
    ),
    (
        "date",
        re.compile(
            r"^\s*(il y a\s+\d+\s+(secondes?|minutes?|heures?|jours?|semaines?|mois|ans?)|"
            r"\d+\s+(seconds?|minutes?|hours?|days?|weeks?|months?|years?|secondes?|heures?|"
            r"jours?|semaines?|mois|ans?)\s+ago)\s*\.?\s*$",
            re.IGNORECASE,
        ),
    ),
    (
        "byline",
        re.compile(
            r"^\s*[A-ZÀ-Ý][\w'’.-]+(\s+[A-ZÀ-Ý][\w'’.-]+){0,3}\s*[,|–—-]\s*"
            r"[\w-]+(\.[\w-]+)*\.(com|fr|net|org|io|info|eu|be|ch|ca|uk|de|news)\s*$"
        ),
    ),
)
# A heading that introduces links to *other* articles: everything after it is furniture
# until a line that is clearly body text again.
_RELATED_HEADING = re.compile(
    r"^\s*#*\s*(recent posts|related( posts| articles)?|articles? (r[ée]cents?|similaires|"
    r"li[ée]s)|derniers articles|[àa] lire (aussi|[ée]galement)|lire aussi|sur le m[êe]me "
    r"sujet|dans la m[êe]me rubrique|les plus lus|vous aimerez aussi|you may also like|"
    r"more stories|read more|popular posts|[àa] d[ée]couvrir aussi)\s*:?\s*$",
    re.IGNORECASE,
)
# Furniture lines are short; a long line is body text whatever words it contains.
_MAX_FURNITURE_LINE = 300
_TEASER_END = ("…", "...")


@dataclass(frozen=True)
class Cleaned:
    """What to index in one document: spans of body text, and what was left out and why."""

    title: str
    title_span: tuple[int, int] | None
    segments: list[tuple[int, int]]
    removed: list[tuple[int, int, str]] = field(default_factory=list)


def _lines(text: str) -> list[tuple[int, int]]:
    """Line spans without their line break."""
    spans = []
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        spans.append((pos, pos + len(body)))
        pos += len(line)
    return spans


def _classify(line: str, web: bool = False) -> str | None:
    stripped = line.strip()
    if not stripped or len(stripped) > _MAX_FURNITURE_LINE:
        return None
    if web and _WEB_CONSENT.search(stripped):
        return "consent"
    for reason, pattern in _RULES:
        if pattern.search(stripped):
            return reason
    return None


def clean(text: str, fallback_title: str = "", web: bool = False) -> Cleaned:
    """Find the body text of one document and its headline. ``web``: the text of an HTML
    page, where any short line about cookies is furniture; in other documents only a
    banner's own words are (a legal notice's data-protection section is body text)."""
    from .frontmatter import front_matter_end

    spans = _lines(text)
    lines = [text[a:b] for a, b in spans]
    body = front_matter_end(text)
    reasons: list[str | None] = [
        "front-matter" if b <= body else _classify(line, web) for (_a, b), line in zip(spans, lines)
    ]

    # "Recent posts" blocks: from the heading on, while lines look like teasers.
    i = 0
    while i < len(lines):
        if _RELATED_HEADING.match(lines[i]):
            reasons[i] = "related-links"
            j = i + 1
            while j < len(lines):
                s = lines[j].strip()
                if s and len(s) > _MAX_FURNITURE_LINE and not s.endswith(_TEASER_END):
                    break
                if s:
                    reasons[j] = reasons[j] or "related-links"
                j += 1
            i = j
        else:
            i += 1
    # Teaser lists without a heading: "Title / Teaser… / 2 jours ago".
    for i, reason in enumerate(reasons):
        if reason != "date":
            continue
        back, j = 0, i - 1
        while j >= 0 and back < 2:
            s = lines[j].strip()
            if s:
                if len(s) > _MAX_FURNITURE_LINE or reasons[j] is not None:
                    break
                reasons[j] = "related-links"
                back += 1
            j -= 1

    removed = [(a, b, r) for (a, b), r in zip(spans, reasons) if r and b > a]
    segments: list[tuple[int, int]] = []
    start: int | None = None
    end = 0
    for (a, _b), reason, line in zip(spans, reasons, lines):
        if reason:
            if start is not None:
                segments.append((start, end))
                start = None
            continue
        if not line.strip():
            continue
        if start is None:
            start = a + (len(line) - len(line.lstrip()))
        end = a + len(line.rstrip())
    if start is not None:
        segments.append((start, end))

    title, title_span = find_title(text, segments, fallback_title)
    return Cleaned(title=title, title_span=title_span, segments=segments, removed=removed)


_MAX_TITLE = 200


def find_title(
    text: str, segments: list[tuple[int, int]], fallback: str = ""
) -> tuple[str, tuple[int, int] | None]:
    """The headline: the first line of body text, when it is short enough to be one."""
    if not segments:
        return fallback, None
    start, seg_end = segments[0]
    newline = text.find("\n", start, seg_end)
    end = seg_end if newline == -1 else newline
    line = text[start:end].rstrip()
    heading = re.match(r"#{1,6}\s+", line)
    if heading:
        start += heading.end()
        line = line[heading.end() :]
    if 0 < len(line) <= _MAX_TITLE:
        return line, (start, start + len(line))
    return fallback, None
