from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ragchips import Passage
from ragchips.analysis import analyze
from ragchips.answer import Extracted, extract, extract_answer, is_keyword_query


def passage(rank: int, text: str, title: str = "t") -> Passage:
    return Passage(
        rank=rank,
        score=1.0 / rank,
        text=text,
        doc_id=f"d{rank}",
        source="s",
        title=title,
        start=0,
        end=len(text),
    )


def test_best_sentence_is_the_one_with_the_question_words() -> None:
    ps = [
        passage(1, "OpenAI veut des puces. Elles seront fabriquées par TSMC à Taïwan."),
        passage(2, "Le marché est dominé par Nvidia."),
    ]
    answer = extract_answer(analyze("Qui fabriquera les puces à Taïwan ?"), ps)
    assert answer.startswith("Elles seront fabriquées par TSMC à Taïwan. [1]")


def test_markers_name_existing_passages_only() -> None:
    ps = [
        passage(1, "Premier passage assez long pour compter."),
        passage(2, "Deuxième passage qui parle de puces électroniques."),
    ]
    answer = extract_answer(analyze("puces électroniques"), ps)
    import re

    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer)} <= {1, 2}
    assert "[2]" in answer


def test_no_passage_no_answer() -> None:
    assert extract_answer(analyze("rien"), []) == ""


def doc_passage(rank: int, doc: str, start: int, end: int) -> Passage:
    return Passage(
        rank=rank,
        score=1.0,
        text=doc[start:end],
        doc_id=f"doc{rank}",
        source="s",
        title="Brasserie du Port",
        start=start,
        end=end,
    )


DOC = (
    "# Brasserie du Port\n\n"
    "La brasserie a ouvert ses portes en 1987 sur le quai nord. "
    "Sa bière blonde est brassée par la société Houblons Réunis à Quimper. "
    "Les recettes sont conçues par Marie Kervella, la maître brasseuse."
)


def test_claims_carry_exact_spans_and_the_answer_phrase() -> None:
    p = doc_passage(1, DOC, 0, len(DOC))
    q = "Qui brasse la bière blonde ?"
    got = extract(analyze(q), [p], question=q)
    first = got.claims[0]
    assert DOC[first.start : first.end] == first.text
    assert first.text.startswith("Sa bière blonde est brassée par")
    assert first.phrase == "Houblons Réunis"
    assert DOC[first.phrase_start : first.phrase_end] == "Houblons Réunis"
    assert got.text.startswith("Sa bière blonde est brassée par la société Houblons Réunis")


def test_a_heading_is_never_an_answer() -> None:
    p = doc_passage(1, DOC, 0, len(DOC))
    got = extract(analyze("Brasserie du Port"), [p], question="Brasserie du Port")
    assert all(not c.text.startswith("#") and c.text != "Brasserie du Port" for c in got.claims)


def test_a_date_question_gets_the_date_sentence_only() -> None:
    p = doc_passage(1, DOC, 0, len(DOC))
    q = "En quelle année la brasserie a-t-elle ouvert ?"
    got = extract(analyze(q), [p], question=q)
    assert got.claims[0].phrase == "1987"
    assert len(got.claims) == 1


def test_a_two_part_question_gets_both_facts() -> None:
    p = doc_passage(1, DOC, 0, len(DOC))
    q = "Qui conçoit les recettes et qui brasse la bière ?"
    got = extract(analyze(q), [p], question=q)
    texts = " ".join(c.text for c in got.claims)
    assert "Marie Kervella" in texts and "Houblons Réunis" in texts


def test_keyword_queries() -> None:
    assert is_keyword_query("Tigris") and is_keyword_query("moteur diesel")
    assert not is_keyword_query("qui fabrique ?") and not is_keyword_query("who makes it")
    assert not is_keyword_query("un deux trois quatre")


def test_the_doer_of_the_asked_verb_is_the_marked_name() -> None:
    doc = (
        "La statue du parc rappelle la crue de 1910. "
        "Selon Ouest Info, la statue a été sculptée par Camille Roux en 1901, à Nantes."
    )
    p = doc_passage(1, doc, 0, len(doc))
    q = "Qui a sculpté la statue ?"
    got = extract(analyze(q), [p], question=q)
    assert got.claims[0].text.startswith("Selon Ouest Info")
    assert got.claims[0].phrase == "Camille Roux"


def test_a_sentence_cut_by_the_passage_start_loses_to_a_whole_one() -> None:
    # Passage 1 starts in the middle of a sentence (a chunk boundary): its first
    # "sentence" is a tail without subject; the whole sentence in passage 2 answers.
    doc1 = (
        "Le moulin de Kerlann, restauré par la commune, tournait déjà au XVIIe siècle "
        "et moulait la farine du village. Il se visite."
    )
    doc2 = "Le moulin de Kerlann moulait la farine de sarrasin du village jusqu'en 1950."
    cut = doc1.index("et moulait")
    p1 = Passage(1, 2.0, doc1[cut:], "d1", "s", "Moulins", cut, len(doc1))
    p2 = Passage(2, 1.0, doc2, "d2", "s", "Moulins", 0, len(doc2))
    q = "Quelle farine moulait le moulin du village ?"
    got = extract(analyze(q), [p1, p2], question=q)
    assert got.claims[0].text.startswith("Le moulin de Kerlann moulait")
    # The same tail opening its document is no fragment, and wins on rank.
    p1_whole = Passage(1, 2.0, doc1[cut:], "d1", "s", "Moulins", 0, len(doc1) - cut)
    got = extract(analyze(q), [p1_whole, p2], question=q)
    assert got.claims[0].text.startswith("et moulait")


def test_the_fourth_passage_is_read() -> None:
    ps = [
        passage(1, "Les puces du groupe sont conçues à Austin."),
        passage(2, "Le groupe emploie des ingénieurs à Austin."),
        passage(3, "Les ventes du groupe ont doublé."),
        passage(4, "La puce d'IA du groupe s'appelle « Orca 7 » depuis 2031."),
    ]
    q = "Comment s'appelle la puce d'IA du groupe ?"
    got = extract(analyze(q), ps, question=q)
    assert any("Orca 7" in c.text for c in got.claims)


def test_the_headline_question_opens_with_the_maker_at_k1_and_k5(seeds_index_path: Path) -> None:
    from ragchips import ask

    for k in (1, 5):
        a = ask("qui fabrique la puce ?", k=k, index=seeds_index_path)
        assert a.found and a.claims
        assert "TSMC" in a.claims[0].text, (k, a.claims[0].text)
        assert a.answer.startswith(" ".join(a.claims[0].text.split()))


def test_weak_evidence_shows_the_closest_sentence_of_two_passages() -> None:
    # When found is False no sentence is known to answer: the closest sentence of each of
    # the two closest passages is shown, not two sentences of the first passage.
    ps = [
        passage(1, "Le phare de Kerbrat mesure 40 mètres. Il fut allumé en 1902 par les gardiens."),
        passage(2, "Les gardiens du phare vivaient sur l'île de Kerbrat avec leurs familles."),
        passage(3, "Le port voisin accueille des voiliers."),
    ]
    q = "Où vivaient les gardiens du phare de Kerbrat ?"
    strong = extract(analyze(q), ps, question=q)
    weak = extract(analyze(q), ps, question=q, weak=True)
    assert [c.passage for c in strong.claims] == [2]
    assert [c.passage for c in weak.claims] == [2, 1]
    for c in weak.claims:  # each claim is its own exact span, cited
        p = ps[c.passage - 1]
        assert p.text[c.start - p.start : c.end - p.start] == c.text
        assert f"{' '.join(c.text.split())} [{c.passage}]" in weak.text
    assert weak.claims[0].text == strong.claims[0].text  # the first sentence is unchanged


def test_a_sentence_of_another_passage_that_matches_as_well_is_shown_too() -> None:
    # The first passage's sentence wins on its rank alone: another passage's sentence
    # matches the question as well, so both are shown, each cited.
    q = "Qu'expose le musée de Brest ?"
    ps = [
        passage(1, "Le musée de Brest expose des cartes marines anciennes."),
        passage(2, "Le musée de Brest expose aussi des maquettes de navires."),
    ]
    got = extract(analyze(q), ps, question=q)
    assert [c.passage for c in got.claims] == [1, 2]
    assert got.text.endswith("Le musée de Brest expose aussi des maquettes de navires. [2]")
    # A sentence of another passage that matches less is left out.
    ps[1] = passage(2, "Le port de Brest accueille des navires.")
    got = extract(analyze(q), ps, question=q)
    assert [c.passage for c in got.claims] == [1]


def test_the_two_closest_sentences_stay_within_the_answer_cap() -> None:
    # Weak evidence or not, a second sentence is shown only if the two fit in
    # MAX_ANSWER_CHARS: two long sentences are one.
    from ragchips.answer import MAX_ANSWER_CHARS

    long1 = "Le phare de Kerbrat, " + "haut et blanc, " * 16 + "fut allumé en 1902."
    long2 = "Les gardiens du phare de Kerbrat, " + "fidèles et discrets, " * 12 + "y vivaient."
    assert len(long1) + len(long2) > MAX_ANSWER_CHARS
    q = "Quand le phare de Kerbrat fut-il allumé ?"
    for weak in (True, False):
        got = extract(analyze(q), [passage(1, long1), passage(2, long2)], question=q, weak=weak)
        assert [c.passage for c in got.claims] == [1], weak
    short2 = "Les gardiens du phare de Kerbrat y vivaient."
    got = extract(analyze(q), [passage(1, long1), passage(2, short2)], question=q, weak=True)
    assert [c.passage for c in got.claims] == [1, 2]


def extract_whole(question: str, doc: str) -> Extracted:
    """The answer to ``question`` from one passage holding the whole of ``doc``."""
    return extract(analyze(question), [doc_passage(1, doc, 0, len(doc))], question=question)


def test_a_sentence_ending_in_a_colon_brings_the_command_below_it() -> None:
    doc = (
        "Les serveurs du laboratoire sont sauvegardés chaque nuit par un script maison.\n\n"
        "Pour vérifier les sommes de contrôle des archives, lancez la commande suivante :\n\n"
        "sha256sum -c archives.sha256\n\n"
        "Le script écrit ensuite son rapport dans le journal du serveur."
    )
    got = extract_whole("Quelle commande vérifie les sommes de contrôle des archives ?", doc)
    first = got.claims[0]
    assert first.text.endswith("sha256sum -c archives.sha256")
    assert first.text.startswith("Pour vérifier les sommes")
    assert doc[first.start : first.end] == first.text
    assert "sha256sum -c archives.sha256 [1]" in got.text  # one line in the answer


def test_a_colon_does_not_swallow_a_long_block() -> None:
    long_block = "Ceci est un long paragraphe " * 12
    doc = f"Voici ce que dit le rapport annuel sur les archives :\n\n{long_block.strip()}."
    got = extract_whole("Que dit le rapport annuel sur les archives ?", doc)
    assert got.claims[0].text == "Voici ce que dit le rapport annuel sur les archives :"


def test_a_colon_brings_the_list_below_it() -> None:
    doc = (
        "Le club propose trois disciplines aux adhérents du quartier nord :\n\n"
        "- la voile légère\n\n- le kayak de mer\n\n- le paddle\n\n"
        "Les inscriptions ouvrent en septembre."
    )
    got = extract_whole("Quelles disciplines propose le club ?", doc)
    assert got.claims[0].text.endswith("- le paddle")
    assert "septembre" not in got.claims[0].text


def test_a_question_of_the_text_is_no_answer() -> None:
    doc = (
        "Qui a envoyé le paquet de la coopérative ?\n\n"
        "Les adhérents reçoivent chaque mois un colis préparé par la coopérative."
    )
    got = extract_whole("Qui envoie le paquet de la coopérative ?", doc)
    assert got.claims and all(not c.text.endswith("?") for c in got.claims)


def test_a_colon_does_not_swallow_the_next_heading() -> None:
    doc = (
        "Le projet de rénovation du port se lance ainsi :\n\n# Chapitre 2\n\n"
        "Les travaux commencent au printemps."
    )
    got = extract_whole("Comment se lance le projet de rénovation du port ?", doc)
    assert got.claims[0].text == "Le projet de rénovation du port se lance ainsi :"


def test_a_colon_keeps_a_root_prompt_command() -> None:
    doc = "Vous pouvez arrêter le serveur de calcul depuis la console :\n\n# halt -p\n\nFin."
    got = extract_whole("Comment arrêter le serveur de calcul ?", doc)
    assert got.claims[0].text.endswith("# halt -p")


def test_similarity_reorders_the_best_three_sentences_only() -> None:
    ps = [
        passage(1, "Le musée ouvre à neuf heures. Le musée ferme à dix-huit heures."),
        passage(2, "Le musée expose des tableaux. Le musée a ouvert en 1901."),
    ]
    q = "Quand le musée a-t-il ouvert ?"
    plain = extract(analyze(q), ps, question=q)
    assert plain.claims[0].text == "Le musée a ouvert en 1901."
    seen: list[list[str]] = []

    def cosines(texts: list[str]) -> list[float]:
        seen.append(texts)
        return [0.5 if "neuf" in t else 1.0 if "tableaux" in t else 0.0 for t in texts]

    got = extract(analyze(q), ps, question=q, similarity=cosines)
    # Only the best three are embedded (~40 ms each): the fourth, however close, is not.
    assert len(seen) == 1 and len(seen[0]) == 3 and not any("tableaux" in t for t in seen[0])
    assert got.claims[0].text == "Le musée ouvre à neuf heures."
    # No cosines (an embedder that cannot embed sentences on the query path): unchanged.
    assert extract(analyze(q), ps, question=q, similarity=lambda texts: []).text == plain.text


def test_an_english_questions_second_sentence_is_as_close_by_meaning() -> None:
    ps = [
        passage(
            1,
            "La côte des Blancs est une cuesta de l'est du bassin parisien. La craie y "
            "affleure partout. Le vignoble couvre ses pentes.",
        )
    ]
    q = "Is there a lot of chalk on the Blanc coast?"

    def cosines(second: float) -> Callable[[list[str]], list[float]]:
        return lambda texts: [
            0.90 if "cuesta" in t else second if "craie" in t else 0.5 for t in texts
        ]

    near = extract(analyze(q), ps, question=q, similarity=cosines(0.89))
    assert [c.text for c in near.claims] == [
        "La côte des Blancs est une cuesta de l'est du bassin parisien.",
        "La craie y affleure partout.",
    ]
    far = extract(analyze(q), ps, question=q, similarity=cosines(0.80))
    assert len(far.claims) == 1
    # No cosines (the embedder cannot embed sentences on the query path): nothing added.
    assert len(extract(analyze(q), ps, question=q, similarity=lambda texts: []).claims) == 1


def test_an_english_question_gets_the_sentence_that_means_it(
    tmp_path: Path, native_embedder, monkeypatch
) -> None:
    """French text, English question: no word in common, so e5 reorders the best
    sentences; a French question does not pay for it."""
    from ragchips import Index, ask

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "boulangerie.txt").write_text(
        "La boulangerie Dupont\n\nLa boulangerie Dupont a ouvert en 1998 rue Victor Hugo, à "
        "côté de la mairie. Elle emploie douze personnes, dont quatre apprentis. Son pain au "
        "levain a remporté le prix départemental en 2021. Le magasin est fermé le lundi.\n",
        encoding="utf-8",
    )
    (tmp_path / "docs" / "marche.txt").write_text(
        "Le marché couvert\n\nLe marché couvert accueille quarante commerçants chaque samedi "
        "matin. Les producteurs locaux y vendent fruits, légumes et fromages.\n",
        encoding="utf-8",
    )
    index = Index.build([tmp_path / "docs"], embedder=native_embedder, out=tmp_path / "i")
    calls: list[int] = []
    embed = native_embedder.embed_sentences
    monkeypatch.setattr(
        native_embedder, "embed_sentences", lambda texts: calls.append(len(texts)) or embed(texts)
    )
    a = ask("What prize did the bakery's sourdough bread win?", k=3, index=index)
    assert calls and max(calls) <= 3
    assert "prix départemental" in a.claims[0].text, a.claims[0].text
    calls.clear()
    ask("Quel prix le pain au levain a-t-il remporté ?", k=3, index=index)
    assert calls == []
    monkeypatch.setenv("RAGCHIPS_SENTENCE_E5", "0")  # turned off for throughput
    ask("What prize did the bakery's sourdough bread win?", k=3, index=index)
    assert calls == []


def test_a_sentence_opening_on_a_pronoun_speaks_of_its_documents_subject() -> None:
    # "Il" is the lake of the title: the depth sentence answers, not the one naming it.
    text = (
        "Le lac Léman est partagé entre la Suisse et la France. "
        "Il atteint 310 mètres de profondeur près de Lutry. "
        "Les rives du lac Léman sont habitées depuis le Néolithique."
    )
    question = "Quelle est la profondeur du lac Léman ?"
    out = extract(analyze(question), [passage(1, text, "Lac Léman")], question=question)
    assert out.claims[0].text == "Il atteint 310 mètres de profondeur près de Lutry."


@pytest.mark.parametrize(
    ("name", "mention", "founding", "founder"),
    [
        # "Panasonic" stands before "Tesla", the question's name: it did not found Tesla.
        (
            "Tesla",
            "Les cellules Panasonic Tesla équipent la plupart des modèles vendus.",
            "Tesla a été fondée en 2003 par Martin Eberhard et Marc Tarpenning.",
            "Martin Eberhard",
        ),
        # A name in lower case ("eBay") is still the question's name, not its verb.
        (
            "eBay",
            "Les paiements PayPal eBay sont devenus la norme des enchères en ligne.",
            "eBay a été fondée en 1995 par Pierre Omidyar en Californie.",
            "Pierre Omidyar",
        ),
    ],
    ids=["Tesla", "eBay"],
)
def test_the_doer_is_of_the_questions_verb_not_of_the_name_it_asks_about(
    name: str, mention: str, founding: str, founder: str
) -> None:
    ps = [passage(1, mention), passage(2, founding)]
    question = f"Qui a fondé {name} ?"
    terms = analyze(question)
    weight = {t: (1.0 if t.startswith(name.lower()[:4]) else 0.2) for t in terms}
    out = extract(terms, ps, weight, question)
    assert out.claims[0].passage == 2
    assert out.claims[0].phrase == founder


def test_a_sentence_that_only_names_the_first_ones_subject_adds_nothing() -> None:
    # "Elle ..." speaks of Marie Curie (the title): the sentence that merely names her
    # brings no word of the question the answer lacks, so it is not shown after it.
    text = (
        "Marie Curie est née à Varsovie en 1867 et fut naturalisée française. "
        "Elle est morte en 1934 à Passy, en Haute-Savoie, d'une leucémie."
    )
    question = "Où est morte Marie Curie ?"
    out = extract(analyze(question), [passage(1, text, "Marie Curie")], question=question)
    assert [c.text for c in out.claims] == [
        "Elle est morte en 1934 à Passy, en Haute-Savoie, d'une leucémie."
    ], out.text


def test_a_pronoun_sentence_does_not_answer_on_its_title_alone() -> None:
    # "Il est partagé..." holds nothing the question asks but the lake's name, by its title.
    text = (
        "La profondeur maximale atteint 310 mètres près de Lutry. "
        "Il est partagé entre la Suisse et la France."
    )
    question = "Quelle est la profondeur du lac Léman ?"
    out = extract(analyze(question), [passage(1, text, "Lac Léman")], question=question)
    assert [c.text for c in out.claims] == [
        "La profondeur maximale atteint 310 mètres près de Lutry."
    ]


def test_a_first_line_taken_for_a_title_names_no_subject() -> None:
    # A text without a title is titled by its first line, here a sentence of its own; this
    # passage is the text's next chunk.
    first = "Marie Curie reçoit le prix Nobel de physique en 1903."
    text = (
        "Elle prend ensuite la direction du laboratoire de chimie de la Sorbonne en 1906. "
        "En 1911, elle obtient un second prix, de chimie cette fois."
    )
    question = "Quand Marie Curie a-t-elle obtenu le prix Nobel de chimie ?"
    out = extract(analyze(question), [passage(1, text, first)], question=question)
    assert out.claims[0].text.startswith("En 1911")


def test_a_first_line_taken_for_a_title_can_still_answer(tmp_path: Path, native_embedder) -> None:
    """A .txt file is titled by its first line; when that line states a fact it is a
    sentence of the text, not a headline, so it can answer (it was skipped as one, and
    another file's sentence answered with found=True)."""
    from ragchips import Index, ask

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "phare.txt").write_text(
        "Le phare de Kermorvan a été allumé le 3 mars 1849 par l'ingénieur Léonce Reynaud."
        "\n\nSa lanterne porte à 22 milles nautiques.\n",
        encoding="utf-8",
    )
    (tmp_path / "docs" / "moulin.txt").write_text(
        "Le moulin de Pen Enez broie le blé des fermes voisines depuis 1702.\n", encoding="utf-8"
    )
    index = Index.build([tmp_path / "docs"], embedder=native_embedder, out=tmp_path / "i")
    a = ask("Quand le phare de Kermorvan a-t-il été allumé ?", k=2, index=index)
    assert "3 mars 1849" in a.claims[0].text, a.answer
    b = ask("Depuis quand le moulin de Pen Enez broie-t-il le blé ?", k=2, index=index)
    assert b.claims[0].doc_id == "moulin" and "1702" in b.claims[0].text, b.answer
    # A headline (no final stop) that a sentence repeats still answers nothing.
    headline = "Le phare de Kermorvan"
    out = extract(analyze(headline), [passage(1, headline, headline)], question=headline)
    assert out.claims == []


BIKES = [
    passage(1, "Peu d'entreprises fabriquent des vélos électriques aujourd'hui."),
    passage(2, "Trois entreprises, Moustache, Gazelle et Riese, fabriquent des vélos chez elles."),
]


def test_a_plural_question_is_answered_by_the_sentence_that_lists_names() -> None:
    # "Quelles entreprises ... ?" asks for several: the sentence of passage 2 that lists
    # them follows the first one (it matches fewer words), with the list as its phrase.
    question = "Quelles entreprises fabriquent des vélos électriques en Europe ?"
    out = extract(analyze(question), BIKES, question=question)
    assert [c.passage for c in out.claims] == [1, 2]
    assert out.claims[1].phrase == "Moustache, Gazelle et Riese"


def test_a_singular_question_does_not_ask_for_a_list() -> None:
    question = "Quelle entreprise fabrique des vélos électriques en Europe ?"
    out = extract(analyze(question), BIKES, question=question)
    assert [c.passage for c in out.claims] == [1]


@pytest.mark.parametrize(
    ("sentence", "listed"),
    [
        (
            "Les vélos sont fabriqués par Moustache, Gazelle et Riese.",
            "Moustache, Gazelle et Riese",
        ),
        ("Ils citent J. Smith, A. Martin et P. Durand.", "J. Smith, A. Martin et P. Durand"),
        (
            "La U.S. Navy, la Royal Navy et la Marine recrutent.",
            "U.S. Navy, la Royal Navy et la Marine",
        ),
        ("Hier, Decathlon et Gazelle ont présenté des vélos.", None),  # "Hier" is no name
        ("En France, Decathlon et Gazelle vendent des vélos.", None),  # nor is a place
        ("Ils se vendent sur eBay, Amazon et Leboncoin.", None),  # not "Bay"
    ],
)
def test_a_list_is_three_names_the_sentence_does_not_open_on(
    sentence: str, listed: str | None
) -> None:
    from ragchips.answer import _listing

    span = _listing(sentence)
    assert (sentence[span[0] : span[1]] if span else None) == listed


def test_which_is_asks_for_one_thing() -> None:
    # "Which is ..." is no plural question: the sentence naming two more makers stays out.
    text = (
        "Moustache is the biggest maker of electric bikes. "
        "However, Gazelle, Riese and Cube make more."
    )
    question = "Which is the biggest maker of electric bikes?"
    out = extract(analyze(question), [passage(1, text)], question=question)
    assert [c.text for c in out.claims] == ["Moustache is the biggest maker of electric bikes."]


def test_a_list_is_taken_whole_up_to_its_cap_and_a_cut_one_says_it_goes_on() -> None:
    items = [
        "les bouteilles et flacons en plastique avec leur bouchon ;",
        "les emballages métalliques, boîtes de conserve et canettes ;",
        "les briques alimentaires de lait, de jus et de soupe ;",
        "les papiers, journaux, magazines et petits cartons.",
    ]
    doc = "Le bac jaune reçoit les emballages suivants :\n" + "".join(f"- {i}\n" for i in items)
    got = extract_whole("Que peut-on mettre dans le bac jaune ?", doc)
    assert got.claims[0].text.endswith(items[-1])  # past COLON_BLOCK_CHARS: a list goes on
    assert "…" not in got.text
    long = "Le bac jaune reçoit les emballages suivants :\n" + "".join(
        f"- {i}\n" for i in items * 3
    )
    got = extract_whole("Que peut-on mettre dans le bac jaune ?", long)
    first = got.claims[0]
    assert long[first.start : first.end] == first.text and first.text.endswith(";")
    assert "; … [1]" in got.text


def test_an_emphasised_label_brings_its_list() -> None:
    doc = "Tarte Tatin\n\n**Ingrédients :**\n- 6 pommes reinettes\n- 100 g de beurre\n"
    got = extract_whole("Quels sont les ingrédients de la tarte Tatin ?", doc)
    assert got.claims[0].text.startswith("**Ingrédients :**")
    assert got.claims[0].text.endswith("100 g de beurre")


def test_a_sentence_followed_by_a_numbered_line_is_no_cut_list() -> None:
    doc = (
        "You may convey a covered work under sections 3 and 4 of this License without\n"
        "being bound by section 3 of the GNU GPL.\n"
        "  4. Combined Works.\n"
    )
    got = extract_whole("Under which sections may you convey a covered work?", doc)
    assert "…" not in got.text


def test_a_colon_brings_the_command_of_a_code_fence() -> None:
    doc = (
        "Installation\n\nOuvrez un terminal et installez les paquets nécessaires :\n\n"
        "```bash\nsudo apt install tamarin\n```\n\nPuis lancez le service.\n"
    )
    got = extract_whole("Quels paquets installer dans le terminal ?", doc)
    first = got.claims[0]
    assert first.text.endswith("sudo apt install tamarin") and doc[first.start : first.end] == (
        first.text
    )
    assert got.text.startswith("Ouvrez un terminal et installez les paquets nécessaires : sudo")


def test_a_faq_question_in_bold_is_no_answer() -> None:
    doc = (
        "FAQ\n\n**Q : Comment changer le port d'écoute ?**\n"
        "R : Modifiez la clé port dans le fichier config.toml.\n"
    )
    got = extract_whole("Comment changer le port d'écoute ?", doc)
    assert got.claims[0].text.startswith("R : Modifiez")


def test_the_same_sentence_read_in_two_overlapping_passages_is_cited_once() -> None:
    doc = (
        "Le service Tamarin écoute sur le port 8080 par défaut et journalise tout. "
        "Le port se change dans le fichier config.toml du dossier etc."
    )
    cut = doc.index(" Le port")
    ps = [doc_passage(1, doc, 0, len(doc)), doc_passage(2, doc, 0, cut)]
    q = "Sur quel port écoute le service Tamarin et comment le changer ?"
    got = extract(analyze(q), ps, question=q)
    spans = [(c.start, c.end) for c in got.claims]
    assert all(a2 >= b1 or a1 >= b2 for i, (a1, b1) in enumerate(spans)
               for (a2, b2) in spans[i + 1 :])  # fmt: skip
