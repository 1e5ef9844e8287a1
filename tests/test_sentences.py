"""Sentence splitting on French and English texts written for these tests."""

from __future__ import annotations

import pytest

from ragchips.sentences import split_sentences


def texts(text: str) -> list[str]:
    out = split_sentences(text)
    for s in out:
        assert text[s.start : s.end] == s.text
    return [s.text for s in out]


def test_abbreviations_do_not_end_sentences() -> None:
    text = (
        "La Compagnie des Eaux Co., Ltd. (CDE), dont le siège est à Lyon, livre l'eau. "
        "M. Martin l'a dit. Mme Roux aussi. Le Dr Petit et St Pierre en parlent. "
        "Rome fut fondée en 753 av. J.-C. selon la légende. Acme Inc. is in Ohio."
    )
    assert texts(text) == [
        "La Compagnie des Eaux Co., Ltd. (CDE), dont le siège est à Lyon, livre l'eau.",
        "M. Martin l'a dit.",
        "Mme Roux aussi.",
        "Le Dr Petit et St Pierre en parlent.",
        "Rome fut fondée en 753 av. J.-C. selon la légende.",
        "Acme Inc. is in Ohio.",
    ]


def test_numbers_initials_and_p_ex() -> None:
    text = "La pente est de 3.5 % sur 10 000 mètres. J. R. R. Tolkien, p. ex. Bilbo, etc. Fin."
    assert texts(text) == [
        "La pente est de 3.5 % sur 10 000 mètres.",
        "J. R. R. Tolkien, p. ex. Bilbo, etc.",
        "Fin.",
    ]


def test_ellipses_and_guillemets() -> None:
    text = "Elle a dit : « Je pars. Je reviens demain. » Puis elle partit... et revint… Enfin !"
    assert texts(text) == [
        "Elle a dit : « Je pars. Je reviens demain. »",
        "Puis elle partit... et revint…",
        "Enfin !",
    ]


def test_headings_and_bullets_are_marked() -> None:
    text = "# Fête du village 2031\n\nLe thème est « les abeilles ».\n\n- tapez :q! pour sortir\n"
    out = split_sentences(text)
    assert [(s.text, s.heading, s.bullet) for s in out] == [
        ("Fête du village 2031", True, False),
        ("Le thème est « les abeilles ».", False, False),
        ("tapez :q! pour sortir", False, True),
    ]


def test_a_short_title_line_alone_is_a_heading_and_broken_lines_are_joined() -> None:
    text = "Horaires d'été\n\nLa piscine ouvre\nà neuf heures. Elle ferme tard."
    out = split_sentences(text)
    assert out[0].heading and out[0].text == "Horaires d'été"
    assert [s.text for s in out[1:]] == ["La piscine ouvre\nà neuf heures.", "Elle ferme tard."]


def test_bounds_and_empty_text() -> None:
    text = "Avant. Dedans un. Dedans deux. Après."
    a = text.index("Dedans")
    b = text.index(" Après")
    assert [s.text for s in split_sentences(text, a, b)] == ["Dedans un.", "Dedans deux."]
    assert split_sentences("") == [] and split_sentences("  \n ") == []


def test_a_title_line_inside_a_paragraph_block_is_a_heading() -> None:
    text = (
        "Le marché des vélos cargo\n"
        "Les ventes ont doublé en 2030. Les villes les encouragent.\n"
        "La livraison sera assurée par\n"
        "Colis Express dès lundi."
    )
    out = split_sentences(text)
    assert out[0].heading and out[0].text == "Le marché des vélos cargo"
    assert [s.text for s in out[1:]] == [
        "Les ventes ont doublé en 2030.",
        "Les villes les encouragent.",
        "La livraison sera assurée par\nColis Express dès lundi.",
    ]
    assert not any(s.heading for s in out[1:])


def test_a_unit_after_a_number_ends_its_sentence() -> None:
    # "m" is also the title "M." and "L" a lone initial; after a number they are units.
    text = (
        "Le phare mesure 52 m. Il fut allumé en 1902. La cuve contient 40 L. Elle fuit. "
        "Le bourg compte 900 hab. La mairie est neuve. La foire a lieu le 3 sept. 2031 au port."
    )
    assert texts(text) == [
        "Le phare mesure 52 m.",
        "Il fut allumé en 1902.",
        "La cuve contient 40 L.",
        "Elle fuit.",
        "Le bourg compte 900 hab.",
        "La mairie est neuve.",
        "La foire a lieu le 3 sept. 2031 au port.",
    ]


def test_a_company_form_or_j_c_can_end_a_sentence() -> None:
    text = (
        "Il travaille chez Vélos Dupuis Corp. Il y répare des freins. "
        "Le camp date de 1450 av. J.-C. Il fut fouillé en 1990. "
        "En 52 av. J.-C. César assiège la ville. Zeta Co. Ltd. fournit les roues. "
        "She joined Acme Co. The firm makes anvils. M. Le Gall approuve."
    )
    assert texts(text) == [
        "Il travaille chez Vélos Dupuis Corp.",
        "Il y répare des freins.",
        "Le camp date de 1450 av. J.-C.",
        "Il fut fouillé en 1990.",
        "En 52 av. J.-C. César assiège la ville.",
        "Zeta Co. Ltd. fournit les roues.",
        "She joined Acme Co.",
        "The firm makes anvils.",
        "M. Le Gall approuve.",
    ]


def test_table_of_contents_entries_are_headings() -> None:
    text = (
        "Table des matières\n"
        "1.1 Qu’est-ce que cette FAQ ? . . . . . . . . . . . . . . . . 1\n"
        "3.2 J’utilise Ubuntu et maintenant je veux utiliser Debian. Comment puis-je migrer ?"
        " . . . . . . . . . . . . . . . . 12\n"
        "Introduction ........................ 3\n"
        "Annexes …………… xii\n"
        "Il a vu 3 chats.... 4 chiens ensuite."
    )
    sentences = split_sentences(text)
    toc = [s for s in sentences if any(w in s.text for w in ("FAQ", "Debian", "Intro", "Annexes"))]
    assert len(toc) >= 4 and all(s.heading for s in toc)
    assert not any(s.heading for s in sentences if "chats" in s.text or "chiens" in s.text)


def test_a_hard_wrapped_line_before_a_capital_is_no_title() -> None:
    """Plain text wrapped at a fixed width: a line that ends where the block wraps, before
    a name ("le noyau" / "Linux via Internet"), continues its sentence."""
    text = (
        "1.2. Qu'est-ce que Debian GNU/Linux ?\n\n"
        "    La plupart des utilisateurs de Linux font appel à une\n"
        "    distribution spécifique de Linux, comme l'est Debian GNU/Linux.\n"
        "    Cependant, les utilisateurs peuvent en principe obtenir le noyau\n"
        "    Linux via Internet ou ailleurs et le compiler eux-mêmes.\n"
    )
    out = split_sentences(text)[-2:]
    assert [s.heading for s in out] == [False, False]
    assert out[1].text == (
        "Cependant, les utilisateurs peuvent en principe obtenir le noyau\n"
        "    Linux via Internet ou ailleurs et le compiler eux-mêmes."
    )
    # A short title above a wide block is still a title.
    titled = "Le marché des vélos cargo\n" + text.split("\n\n")[1]
    assert split_sentences(titled)[0].heading


def test_markdown_fences_and_table_rules_are_markup_not_sentences() -> None:
    text = (
        "Pour réserver :\n\n```bash\ncurl https://example.org/reserver\n```\n\n"
        "| A | B |\n|---|:--:|\n| 1 | 2 |"
    )
    out = {s.text: s.heading for s in split_sentences(text)}
    assert out["```bash"] and out["```"] and out["|---|:--:|"]
    assert out["curl https://example.org/reserver"] is False  # the command, without its fence


def test_a_long_title_stays_a_title_and_a_table_row_is_content() -> None:
    # A title of 40 characters or more, alone or glued to a one-line paragraph, is no
    # wrapped line: it is not measured against itself or across a blank line.
    alone = split_sentences(
        "Les horaires d'ouverture de la mairie en 2024\n\nLa mairie ouvre à 9 h le matin."
    )
    assert [s.heading for s in alone] == [True, False]
    glued = split_sentences(
        "Installation du noyau Linux sur une machine virtuelle\nIl faut d'abord télécharger."
    )
    assert [(s.heading, s.text[:12]) for s in glued] == [
        (True, "Installation"),
        (False, "Il faut d'ab"),
    ]
    # A table row read from HTML ("cell | cell"), alone between blank lines, is an answer.
    rows = split_sentences("Priorité | Effet\n\n1001 | installer même un retour en arrière\n\n")
    assert not any(s.heading for s in rows)


def test_windows_line_endings_split_as_unix_ones() -> None:
    # "\r\n\r\n" is a blank line too: the heading stays a heading, not glued to the
    # sentence below it, and spans still point into the text as given.
    text = (
        "Le marché de Noël\n\nLe marché de Strasbourg existe depuis 1570. Il attire deux "
        "millions de visiteurs.\n- un chalet\n- une crèche\n"
    )
    crlf = text.replace("\n", "\r\n")
    unix = [(s.text, s.heading, s.bullet) for s in split_sentences(text)]
    windows = split_sentences(crlf)
    assert [(s.text, s.heading, s.bullet) for s in windows] == unix
    assert unix[0] == ("Le marché de Noël", True, False)
    assert all(crlf[s.start : s.end] == s.text for s in windows)


def _shape(text: str) -> list[tuple[str, bool, bool]]:
    found = split_sentences(text)
    assert all(text[s.start : s.end] == s.text for s in found)
    return [(s.text, s.heading, s.bullet) for s in found]


def test_a_numbered_title_over_its_text_is_a_heading_not_a_list_item() -> None:
    text = "1. Effectifs\nL'école compte 196 élèves.\n2. Projets\nUne sortie est prévue.\n"
    assert _shape(text) == [
        ("Effectifs", True, False),
        ("L'école compte 196 élèves.", False, False),
        ("Projets", True, False),
        ("Une sortie est prévue.", False, False),
    ]
    # A list's items stay items, and the sentence after the list is not glued to the last.
    assert _shape("1. Pommes\n2. Poires\nLe tout est mélangé.\n") == [
        ("Pommes", False, True),
        ("Poires", False, True),
        ("Le tout est mélangé.", False, False),
    ]
    # An item wrapped onto an indented or lower-case line goes on.
    assert _shape("- Les emballages en plastique\n  et les canettes\n- Le verre\n")[0] == (
        "Les emballages en plastique\n  et les canettes",
        False,
        True,
    )


def test_a_markdown_heading_is_one_heading_even_with_a_number() -> None:
    assert _shape("### 1. Approbation du procès-verbal\n\nIl est approuvé.\n") == [
        ("1. Approbation du procès-verbal", True, False),
        ("Il est approuvé.", False, False),
    ]


def test_emphasis_does_not_hide_a_label_colon_nor_a_sentence_end() -> None:
    # "**Ingrédients :**" announces its list: no title.
    assert _shape("**Ingrédients :**\n\n- 6 pommes\n")[0] == ("**Ingrédients :**", False, False)
    assert [t for t, _, _ in _shape("**Note.** Le four chauffe vite.")] == [
        "**Note.**",
        "Le four chauffe vite.",
    ]


def test_thermostat_abbreviation() -> None:
    assert [t for t, _, _ in _shape("Préchauffez à 180 °C (th. 6). Enfournez 30 min.")] == [
        "Préchauffez à 180 °C (th. 6).",
        "Enfournez 30 min.",
    ]


def test_a_rule_of_stars_or_underscores_is_no_sentence() -> None:
    text = "Premier paragraphe du texte.\n\n*****\n\n* * *\n\n___\nSecond paragraphe du texte.\n"
    kept = [t for t, heading, _ in _shape(text) if not heading]
    assert kept == ["Premier paragraphe du texte.", "Second paragraphe du texte."]


def test_a_wrapped_list_item_goes_on_over_a_capitalised_word() -> None:
    text = (
        "Conditions of the licence for everyone who copies or distributes the work:\n"
        "4. You may charge a reasonable copying fee for any distribution of this\n"
        "Package.  You may charge any fee you choose for support of this Package.\n"
        "5. You may not charge a fee for this Package itself, but you may charge\n"
        "a fee for the media on which it is distributed to other people around.\n"
    )
    items = [t for t, heading, bullet in _shape(text) if bullet]
    assert items[0] == (
        "You may charge a reasonable copying fee for any distribution of this\nPackage."
    )


def test_markdown_table_rows_are_blocks_and_its_header_a_title() -> None:
    text = (
        "| Formule | Public | Prix annuel |\n|---|---|---|\n"
        "| Jeunesse | moins de 18 ans | gratuit |\n| Multimédia | adultes | 28 € |\n"
    )
    assert _shape(text) == [
        ("| Formule | Public | Prix annuel |", True, False),
        ("|---|---|---|", True, False),
        ("| Jeunesse | moins de 18 ans | gratuit |", False, False),
        ("| Multimédia | adultes | 28 € |", False, False),
    ]


def test_a_field_line_is_content_and_a_block_of_its_own() -> None:
    text = "Lieu : salle Condorcet, bâtiment B\nDate : mardi 4 mars à 14 h\n\nArticle 3 : Absences"
    assert _shape(text) == [
        ("Lieu : salle Condorcet, bâtiment B", False, False),
        ("Date : mardi 4 mars à 14 h", False, False),
        ("Article 3 : Absences", True, False),
    ]  # an "Article 3 :" or "Chapitre 2 :" line stays a title


def test_the_first_step_after_a_colon_stays_an_item() -> None:
    text = "Étapes :\n1. Ouvrir le capot\nVérifier ensuite le niveau d'huile.\n"
    assert _shape(text)[1] == ("Ouvrir le capot", False, True)


def test_titles_and_wrapped_lines_with_a_colon_keep_their_reading() -> None:
    assert _shape("TITRE II : DU CONTRAT DE LOCATION\n\nLe bail dure trois ans.\n")[0][1]
    assert _shape("Chapitre premier : Les obligations\n\nLe bailleur entretient.\n")[0][1]
    wrapped = "La lettre fut envoyée depuis Varsovie par\nMarie Curie : elle acceptait le poste.\n"
    assert [t for t, _, _ in _shape(wrapped)] == [wrapped.strip()]


def test_a_paragraph_after_a_long_list_item_is_not_glued_to_it() -> None:
    text = (
        "Pièces à fournir pour l'inscription de l'enfant à l'école maternelle :\n"
        "- le livret de famille ou un extrait d'acte de naissance de l'enfant\n"
        "- un justificatif de domicile de moins de trois mois des deux parents\n"
        "Les inscriptions se font en mairie du 1er au 31 mars, le matin uniquement.\n"
    )
    assert _shape(text)[-1] == (
        "Les inscriptions se font en mairie du 1er au 31 mars, le matin uniquement.",
        False,
        False,
    )


def test_a_table_without_outer_pipes_is_read_row_by_row() -> None:
    assert _shape("Produit | Prix\n--- | ---\nCafé | 2 €\nThé | 3 €\n") == [
        ("Produit | Prix", True, False),
        ("--- | ---", True, False),
        ("Café | 2 €", False, False),
        ("Thé | 3 €", False, False),
    ]


def _texts(text: str) -> list[str]:
    out = split_sentences(text)
    assert all(text[s.start : s.end] == s.text for s in out)
    return [s.text for s in out]


@pytest.mark.parametrize(
    "text",
    [
        "Wer einen Sondervertrag hat, z. B. den Tarif Öko, erhält ein Schreiben. Danach nichts.",
        "Die Stadt zahlt u. a. Zuschüsse für Vereine. Das ist neu.",
        "Rufen Sie die Hotline unter der Nr. 07623 9100 an. Sie ist kostenlos.",
        "Das Kundenzentrum in der Bahnhofstr. 14 ist geöffnet. Es ist neu.",
        "Das Kraftwerk erzeugt 45 Mio. Kilowattstunden im Jahr. Es liegt am Rhein.",
        "Die Preise sinken zum 1. Januar 2025 deutlich. Kunden müssen nichts tun.",
        "El edificio fue diseñado por la Sra. Carmen Ortega en 2009. La Dra. Elena lo abrió.",
        "El museo está en la calle Mayor, núm. 18. Consulte la pág. 4 de las bases.",
        "Il presidente, il Sig. Marco Bellini, ha parlato. Se ne occupa il dott. Bianchi.",
        "La coupure touchera tout le bâtiment B. L'entreprise Durand interviendra.",
        "The water will be cut throughout building B. The plumber will replace the pipe.",
        "Dr. Smith met Mr. Jones at 3 p.m. They discussed the market.",
    ],
)
def test_german_spanish_italian_abbreviations_and_a_lone_capital(text: str) -> None:
    """A multilingual collection quotes "z. B.", "Nr.", "la Sra.", "il dott." and German
    dates ("1. Januar"); a capital letter alone may end a sentence ("le bâtiment B.")."""
    assert len(_texts(text)) == 2, _texts(text)


@pytest.mark.parametrize(
    "text",
    [
        "The book by J. K. Rowling sold well. George W. Bush read it.",
        "Le livre de J. Le Goff parut en 1964. Il fut traduit.",
        "Il y en a. Le reste suivra.",
        "The meeting ended in 2019. August was hot.",
    ],
)
def test_initials_names_and_plain_ends_keep_their_reading(text: str) -> None:
    assert len(_texts(text)) == 2, _texts(text)


def test_a_labelled_measure_is_content_not_a_title() -> None:
    """A datasheet's "Capacité du bac : 0,6 litre" alone on its line answers "Quelle
    capacité ?"; a numbered part ("Article 3 : Loyer", "Partie 2 : 1914") stays a title."""
    text = (
        "Capacité du bac à poussière : 0,6 litre\n\nPuissance d'aspiration : 185 W\n\n"
        "Article 3 : Loyer\n\nPartie 2 : 1914\n\nFiche technique\n\nLe moteur tourne."
    )
    assert _shape(text) == [
        ("Capacité du bac à poussière : 0,6 litre", False, False),
        ("Puissance d'aspiration : 185 W", False, False),
        ("Article 3 : Loyer", True, False),
        ("Partie 2 : 1914", True, False),
        ("Fiche technique", True, False),
        ("Le moteur tourne.", False, False),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "La coupure touche le bâtiment D. Elle emploie dix personnes.",
        "The entrance is in building U. The plumber came.",
        "The vote was 12 to 3. November brought a recount.",
        "Il a terminé 2. Mai restera dans les mémoires.",
        "Das Fest beginnt am 3. August mit Musik. Es endet spät.",
    ],
)
def test_lone_letters_and_shared_month_names_after_the_german_rules(text: str) -> None:
    """ "d", "u", "z" are German abbreviations in lower case only; "April", "Mai", "November"
    start English and French sentences too, so they need a German word or a year."""
    assert len(_texts(text)) == 2, _texts(text)


def test_a_period_after_its_colon_keeps_a_title_a_title() -> None:
    text = "Première partie : 1914-1918, la guerre\n\nLa Grande Guerre : 1914-1918\n\nTexte."
    assert [h for _, h, _ in _shape(text)] == [True, True, False]
