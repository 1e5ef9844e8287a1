"""Furniture rules on made-up pages: general rules, not strings of the bundled files."""

from __future__ import annotations

from pathlib import Path

from ragchips.cleaning import clean

PAGE = """Acceptez-vous les cookies ? Gérer mes préférences
Catégories : Énergie

Le barrage de la Rance fête ses soixante ans

Publié le 3 mars 2025 // 4 min de lecture // 812 mots //

La centrale marémotrice de la Rance produit de l'électricité depuis 1966 grâce aux marées.

▲ Le barrage vu du ciel. Crédit photo : EDF.

Elle reste l'une des plus puissantes du monde avec 240 mégawatts installés.

Suivez-nous sur Facebook et Twitter pour ne rien manquer !
Partager · Tweeter · Voir les commentaires

Jeanne Martin, exemple.fr

À lire aussi

Le solaire progresse en Bretagne

La région a installé deux fois plus de panneaux…

il y a 2 jours

Éolien en mer : un nouveau parc

Un parc au large de Saint-Nazaire…

5 days ago
"""


def body(text: str) -> str:
    c = clean(text)
    return "\n".join(text[a:b] for a, b in c.segments)


def test_headline_is_the_title_not_the_consent_banner() -> None:
    c = clean(PAGE)
    assert c.title == "Le barrage de la Rance fête ses soixante ans"
    assert c.title_span is not None
    assert PAGE[c.title_span[0] : c.title_span[1]] == c.title


def test_furniture_is_left_out_and_body_kept() -> None:
    kept = body(PAGE)
    for furniture in (
        "cookies",
        "Catégories",
        "Publié le",
        "Crédit photo",
        "Facebook",
        "Partager",
        "Jeanne Martin",
        "À lire aussi",
        "solaire",
        "Saint-Nazaire",
        "il y a 2 jours",
        "days ago",
    ):
        assert furniture not in kept, furniture
    assert "produit de l'électricité depuis 1966" in kept
    assert "240 mégawatts" in kept


def test_removed_lines_have_reasons() -> None:
    reasons = {r for _, _, r in clean(PAGE).removed}
    assert {
        "consent",
        "metadata",
        "image-credit",
        "social",
        "byline",
        "related-links",
        "date",
    } <= reasons


def test_segments_point_into_the_original_text() -> None:
    c = clean(PAGE)
    for a, b in c.segments:
        assert PAGE[a:b] == PAGE[a:b].strip()
        assert 0 <= a < b <= len(PAGE)


def test_long_paragraph_mentioning_cookies_is_body_text() -> None:
    para = "Les cookies " + "sont des petits fichiers que les sites déposent. " * 10
    text = f"Titre\n\n{para}\n"
    assert para.strip() in body(text)


def test_markdown_heading_title() -> None:
    c = clean("# Mon titre\n\nLe texte.")
    assert c.title == "Mon titre"


def test_no_short_first_line_falls_back() -> None:
    long_line = "mot " * 80
    assert clean(long_line, fallback_title="fichier").title == "fichier"


def test_bundled_seeds_lose_no_body_paragraph() -> None:
    seeds = sorted((Path(__file__).resolve().parent.parent / "seeds").glob("*.txt"))
    assert len(seeds) == 5
    for path in seeds:
        text = path.read_text(encoding="utf-8")
        c = clean(text)
        kept = body(text)
        # every long paragraph (body prose) survives cleaning
        for para in text.split("\n"):
            if len(para) > 320:
                assert para.strip() in kept, (path.name, para[:60])
        assert c.title and len(c.title) < 200
        assert "consent" not in c.title.lower()


def test_a_text_about_data_protection_is_body_text_but_a_banner_is_not() -> None:
    text = (
        "Mentions légales\n\n"
        "Conformément au RGPD, vous disposez d'un droit d'accès à vos données.\n"
        "Le site n'utilise aucun cookie de mesure d'audience.\n"
        "Consentement : accord libre et éclairé de la personne concernée.\n"
        "Vous pouvez accepter ou refuser les cookies dans les réglages du navigateur.\n"
        "Pour gérer vos consentements :\n"
        "Nous utilisons des cookies. En poursuivant votre navigation, vous les acceptez.\n"
    )
    kept = " ".join(text[a:b] for a, b in clean(text).segments)
    assert "droit d'accès" in kept and "aucun cookie" in kept and "accord libre" in kept
    assert "réglages du navigateur" in kept
    assert "gérer vos consentements" not in kept and "poursuivant" not in kept
    # On a web page, any short line about cookies is its banner or footer.
    page = "Article\n\nLe texte de l'article.\nVous pouvez retirer votre consentement.\n"
    assert "retirer" not in " ".join(page[a:b] for a, b in clean(page, web=True).segments)
    assert "retirer" in " ".join(page[a:b] for a, b in clean(page).segments)
