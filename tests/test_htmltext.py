from __future__ import annotations

from ragchips.htmltext import visible_text


def test_blocks_become_paragraphs_and_hidden_parts_vanish() -> None:
    text, title = visible_text(
        "<title>T</title><div>Un<br>deux</div><ul><li>trois</li><li>quatre</li></ul>"
        "<footer>© 2024</footer><template>caché</template>"
    )
    assert text == "Un\ndeux\n\ntrois\n\nquatre\n"
    assert title == "T"


def test_a_br_is_a_line_break_of_its_paragraph_and_two_a_paragraph_break() -> None:
    text, _ = visible_text(
        "<ul><li>Mairie de Lyon<br>  1 place de la Comédie</li><li>Ouverte le lundi</li></ul>"
        "<p>Premier<br><br>Second</p><table><tr><td>a<br>b</td><td>c</td></tr></table>"
    )
    assert text == (
        "Mairie de Lyon\n1 place de la Comédie\n\nOuverte le lundi\n\nPremier\n\nSecond"
        "\n\na b | c\n"
    )


def test_a_pre_keeps_its_lines_and_indentation() -> None:
    text, _ = visible_text(
        "<p>La fonction :</p><pre>\ndef carre(x):\n\treturn x * x   \n</pre><p>Fin  du\ntexte</p>"
    )
    assert text == "La fonction :\n\ndef carre(x):\n        return x * x\n\nFin du texte\n"


def test_entities_and_empty_page() -> None:
    assert visible_text("<p>L&#8217;&eacute;t&eacute; &laquo;&nbsp;chaud&nbsp;&raquo;</p>")[0] == (
        "L’été « chaud »\n"
    )
    assert visible_text("<script>x</script>") == ("", None)


def test_a_table_row_is_one_block_with_its_cells_in_order() -> None:
    text, _ = visible_text(
        "<table><tr><th>Fichier</th><th>Rôle</th></tr>"
        "<tr><td>/var/log/journal.log</td><td>les actions de l'outil</td></tr></table><p>Fin</p>"
    )
    assert text == "Fichier | Rôle\n\n/var/log/journal.log | les actions de l'outil\n\nFin\n"


MANUAL = """<html><head><title>Manuel</title></head><body>
<h1>Chapitre 1. Les outils</h1>
<p>Un principe de ce manuel rend sûr
le positionnement des droits par défaut, car chaque
utilisateur a son propre groupe.</p>
<pre>Linux hote 5.10.0 (2021-04-09) x86_64
Last login: Thu May 13 08:47:13 2021</pre>
<p>Le second paragraphe explique la commande de sauvegarde et ses options.</p>
</body></html>"""


def test_a_date_guessed_from_the_text_does_not_make_a_manual_a_dated_article() -> None:
    from ragchips.htmldates import declared_dates
    from ragchips.htmltext import extract_page

    assert declared_dates(MANUAL) == set()
    page = extract_page(MANUAL)
    assert page.metadata == {"extractor": "visible-text"}  # no invented date to filter on
    assert "rend sûr le positionnement des droits par défaut, car chaque utilisateur" in page.text


def test_a_declared_date_makes_an_article_and_wrapped_lines_stay_one_paragraph() -> None:
    from ragchips.htmldates import declared_dates
    from ragchips.htmltext import extract_page

    body = " ".join(
        f"<p>Paragraphe {i} de l'article sur la rénovation du port, écrit sur\n"
        f"<code>deux</code> lignes de source HTML, avec des détails sur les travaux\n"
        f'numéro <span class="n"><b>{i}</b></span>.</p>'
        for i in range(8)
    )
    html = (
        '<html><head><meta property="article:published_time" content="2024-05-02T08:00:00">'
        "<title>Le port rénové</title></head><body><article><h1>Le port rénové</h1>"
        f"{body}</article></body></html>"
    )
    assert declared_dates(html) == {"2024-05-02"}
    page = extract_page(html)
    assert page.metadata["extractor"] == "trafilatura" and page.metadata["date"] == "2024-05-02"
    assert "écrit sur deux lignes de source HTML" in page.text


def test_pretty_printed_tables_keep_each_row_in_one_block() -> None:
    html = """<table>
  <tr>
    <td>
      <p><code>mc</code></p>
    </td>
    <td>
      V:54, I:226
    </td>
  </tr>
  <tr><td><p>a</p><p>b</p></td><td>c</td></tr>
</table>
<p>Une phrase

   coupée par une ligne vide.</p>"""
    text, _ = visible_text(html)
    assert text == "mc | V:54, I:226\n\na b | c\n\nUne phrase coupée par une ligne vide.\n"


def test_unwrap_keeps_preformatted_lines_and_survives_unclosed_tags() -> None:
    from ragchips.htmltext import _unwrap

    html = "<p>une\nligne</p><PRE class=x>l1\nl2</PRE><p>a\r\nb</p><textarea>t1\nt2"
    assert _unwrap(html) == "<p>une ligne</p><PRE class=x>l1\nl2</PRE><p>a b</p><textarea>t1\nt2"
    assert _unwrap("<pre>x" * 3) == "<pre>x" * 3
